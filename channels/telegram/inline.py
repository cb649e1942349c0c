"""Telegram's interactive updates: button presses (callback queries) and inline mode.

A press is answered with ``answerCallbackQuery`` within the channel's ``answer_within`` seconds,
whatever the command does: a ``notice`` reply (a refusal, a stale button, a thank-you) becomes the
answer's text; any other reply is sent to the chat (the topic) the button was in, or replaces
the message that held the button when the reply asks to ``edit`` it.

Inline mode (``@bot glm`` in any chat, after BotFather's ``/setinline``): ``answerInlineQuery``
with up to ten articles, each sending the item's card in HTML; Telegram caches the answer for
:data:`INLINE_CACHE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from telegram import (
    CallbackQuery,
    InlineQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
)
from telegram import Message as TgMessage
from telegram.error import TelegramError

from channels.base import Action, Handler
from channels.base import InlineQuery as NeutralQuery
from channels.telegram.address import message_address
from channels.telegram.render import render_telegram_parts
from digests.message import Message

log = logging.getLogger(__name__)

#: answerCallbackQuery's text holds at most 200 characters.
ANSWER_CHARS = 200
INLINE_CACHE_SECONDS = 60


class Presses(Protocol):
    """What answering a press needs of the channel (:class:`~channels.telegram.adapter.TelegramChannel`)."""

    answer_within: float

    def action_of(self, data: str, **fields: Any) -> Action: ...

    def is_chat_admin(self, msg: TgMessage, user_id: int | None = None) -> Awaitable[bool]: ...

    def reply_in(
        self, held: TgMessage, reply: Message, *, reply_to: int | None = None, edit: bool = False
    ) -> Awaitable[list[str]]: ...


async def on_callback_query(
    channel: Presses, query: CallbackQuery, handler: Handler, delivery: str | None
) -> None:
    """Run the pressed button's command, answer the query, then deliver the reply."""
    held = query.message if isinstance(query.message, TgMessage) else None
    if held is None or not query.data:
        # A press on a message sent through inline mode (no chat), or one too old to see.
        await query.answer("This button no longer works here; send the command instead.")
        return
    user_id = query.from_user.id

    async def admin() -> bool:
        return await channel.is_chat_admin(held, user_id)

    action = channel.action_of(
        query.data,
        chat_id=message_address(held),
        user_id=str(user_id),
        chat_kind=held.chat.type,
        is_chat_admin=admin,
        delivery_id=delivery,
    )
    task = asyncio.ensure_future(handler.on_action(action))
    done, _ = await asyncio.wait({task}, timeout=channel.answer_within)
    if not done:
        await query.answer()  # the reply follows when the command is done
        reply = await task
        answered = True
    else:
        reply = task.result()
        answered = False
    if reply is None:
        if not answered:
            await query.answer()
        return
    if reply.notice:
        text = reply.plain().strip()
        if answered:  # too late for a toast: say it in the chat
            await channel.reply_in(held, reply)
            return
        if len(text) > ANSWER_CHARS:
            text = text[: ANSWER_CHARS - 1] + "…"
        await query.answer(text, show_alert=len(text) > 60)
        return
    if not answered:
        await query.answer()
    await channel.reply_in(held, reply, edit=reply.edit)


async def on_inline_query(query: InlineQuery, handler: Handler) -> None:
    """Offer the cards of the items matching the query text."""
    results = await handler.on_inline(
        NeutralQuery(
            platform="telegram",
            user_id=str(query.from_user.id),
            text=query.query,
            language=query.from_user.language_code,
        )
    )
    articles = []
    for result in results[:50]:
        parts = render_telegram_parts(result.message)
        if not parts:
            continue
        articles.append(
            InlineQueryResultArticle(
                id=result.id[:64],
                title=result.title,
                description=result.description,
                input_message_content=InputTextMessageContent(
                    parts[0].text,
                    parse_mode="HTML",
                    link_preview_options=LinkPreviewOptions(
                        is_disabled=not result.message.link_preview
                    ),
                ),
            )
        )
    try:
        await query.answer(articles, cache_time=INLINE_CACHE_SECONDS, is_personal=False)
    except TelegramError as exc:
        log.warning("telegram: answerInlineQuery failed: %s", exc)
