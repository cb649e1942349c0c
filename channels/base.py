"""The channel protocol: what every chat platform adapter offers the gateway.

An adapter translates. It turns platform updates into :class:`Incoming` commands and
:class:`Upload` files for the gateway's :class:`Handler`, and turns a neutral
:class:`~digests.message.Message` into platform messages in :meth:`Channel.send`.

Errors while sending are converted once, here, into :class:`SendError` subclasses::

    SendError
    ├── RetryLater(retry_after)     the platform asked us to slow down (429)
    ├── ChatMoved(new_chat_id)      a Telegram group became a supergroup
    ├── ChatGone                    blocked, kicked, archived, deleted: stop sending there
    └── TransientSendError          5xx, timeouts, connection errors: retry with backoff
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from digests.message import Message


class SendError(Exception):
    """A message could not be delivered.

    ``sent_ids`` holds the ids of the parts that were delivered before the failure, when a
    multi-part message failed part-way (empty otherwise).
    """

    sent_ids: tuple[str, ...] = ()


class RetryLater(SendError):
    def __init__(self, retry_after: float, message: str = "") -> None:
        self.retry_after = retry_after
        super().__init__(message or f"rate limited, retry after {retry_after}s")


class ChatMoved(SendError):
    def __init__(self, new_chat_id: str) -> None:
        self.new_chat_id = new_chat_id
        super().__init__(f"chat moved to {new_chat_id}")


class ChatGone(SendError):
    """The chat no longer takes our messages (blocked, kicked, archived, not found)."""


class TransientSendError(SendError):
    """A failure that may pass: server errors, timeouts, lost connections."""


async def _never_admin() -> bool:
    return False


@dataclass(frozen=True)
class Incoming:
    """A command someone sent: ``text`` is what they typed, e.g. ``/model GLM-4.7``.

    ``chat_kind`` is ``private``, ``group``, ``supergroup``, ``channel`` (Telegram),
    ``channel``/``im`` (Slack), ``private``/``group`` (Lark, Discord), ``console``.
    ``is_chat_admin`` asks the platform whether the sender may manage this chat (Telegram chat
    administrators; Slack channel members; the Lark group's owner; Discord channel managers).
    """

    platform: str
    chat_id: str
    user_id: str
    text: str
    chat_kind: str = "private"
    chat_title: str = ""
    is_chat_admin: Callable[[], Awaitable[bool]] = _never_admin


@dataclass(frozen=True)
class Upload:
    """A file someone sent to the bot. ``fetch`` downloads it; call it only after checks pass."""

    platform: str
    chat_id: str
    user_id: str
    filename: str
    size: int | None
    fetch: Callable[[], Awaitable[bytes]]


class Handler(Protocol):
    """The gateway side: answers commands and uploads with neutral messages."""

    async def on_command(self, incoming: Incoming) -> Message | None: ...

    async def on_upload(self, upload: Upload) -> Message: ...


class Channel(Protocol):
    """One chat platform. Adapters implement these four and nothing else."""

    name: str

    async def start(self, handler: Handler) -> None:
        """Connect and begin passing commands and uploads to ``handler``."""

    async def stop(self) -> None:
        """Finish in-flight replies and disconnect."""

    async def send(self, chat_id: str, message: Message, *, skip: int = 0) -> list[str]:
        """Send ``message`` (split as the platform needs) and return each part's message id.

        ``skip`` leaves out the first parts, already delivered by an earlier, interrupted send.
        """
        ...


REPLY_MAX_WAIT = 30.0


async def retrying_reply(send: Callable[[], Awaitable[object]], attempts: int = 3) -> None:
    """Send an interactive reply, waiting out short rate limits (429) instead of dropping it.

    A retry happens only when nothing of the reply went out, so a reply is never doubled.
    """
    for attempt in range(attempts):
        try:
            await send()
            return
        except RetryLater as exc:
            if exc.sent_ids or exc.retry_after > REPLY_MAX_WAIT or attempt == attempts - 1:
                raise
            await asyncio.sleep(exc.retry_after)
