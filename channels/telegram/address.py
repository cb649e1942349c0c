"""Where Telegram messages come from and go to: a chat, or a forum topic in it (``-1001234/56``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telegram import Message


def address(chat_id: int | str, thread_id: int | None = None) -> str:
    """A chat, or a forum topic in it (``-1001234/56``): where commands come from and go to."""
    return f"{chat_id}/{thread_id}" if thread_id else str(chat_id)


def split_address(chat: str) -> tuple[int | str, int | None]:
    """``-1001234/56`` -> (-1001234, 56); ``@channel`` and plain ids have no topic."""
    base, _, thread = chat.partition("/")
    target: int | str = int(base) if base.lstrip("-").isdigit() else base
    return target, int(thread) if thread.isdigit() else None


def message_address(msg: Message) -> str:
    """Where ``msg`` came from: its chat, and its forum topic when it is in one."""
    thread = msg.message_thread_id if msg.is_topic_message else None
    return address(msg.chat.id, thread)
