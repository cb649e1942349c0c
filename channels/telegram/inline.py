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
from typing import TYPE_CHECKING

from telegram import (
    CallbackQuery,
    InlineQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LinkPreviewOptions,
)
from telegram import Message as TgMessage
from telegram.error import BadRequest, TelegramError

from channels.base import Handler, retrying_reply
from channels.base import InlineQuery as NeutralQuery
from channels.telegram.render import render_telegram_parts
from digests.message import Message

if TYPE_CHECKING:
    from channels.telegram.adapter import TelegramChannel

log = logging.getLogger(__name__)

#: answerCallbackQuery's text holds at most 200 characters.
ANSWER_CHARS = 200
INLINE_CACHE_SECONDS = 60


async def on_callback_query(
    channel: TelegramChannel, query: CallbackQuery, handler: Handler, delivery: str | None
) -> None:
    """Run the pressed button's command, answer the query, then deliver the reply."""
    from channels.telegram.adapter import message_address

    held = query.message if isinstance(query.message, TgMessage) else None
    if held is None or not query.data:
        # A press on a message sent through inline mode (no chat), or one too old to see.
        await query.answer("This button no longer works here; send the command instead.")
        return
    user_id = query.from_user.id
    action = channel.action_of(
        query.data,
        chat_id=message_address(held),
        user_id=str(user_id),
        chat_kind=held.chat.type,
        is_chat_admin=lambda: channel._is_chat_admin(held, user_id),
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
            pace = channel.pace_for(held)
            await retrying_reply(
                lambda: channel._send(message_address(held), reply, pace=pace), pace=pace
            )
            return
        if len(text) > ANSWER_CHARS:
            text = text[: ANSWER_CHARS - 1] + "…"
        await query.answer(text, show_alert=len(text) > 60)
        return
    if not answered:
        await query.answer()
    if reply.edit and await _edit(channel, held, reply):
        return
    pace = channel.pace_for(held)
    await retrying_reply(lambda: channel._send(message_address(held), reply, pace=pace), pace=pace)


async def _edit(channel: TelegramChannel, held: TgMessage, reply: Message) -> bool:
    """Replace ``held`` with the reply's first part (the rest follow as new messages).

    False when Telegram refuses the edit (a message too old, or not ours): send anew then.
    """
    from channels.telegram.adapter import message_address

    parts = render_telegram_parts(reply)
    if not parts:
        return True
    first = parts[0]
    try:
        await channel._app.bot.edit_message_text(
            first.text,
            chat_id=held.chat.id,
            message_id=held.message_id,
            parse_mode="HTML",
            link_preview_options=LinkPreviewOptions(is_disabled=not reply.link_preview),
            reply_markup=await channel.keyboard(first.rows),
        )
    except BadRequest as exc:
        if "message is not modified" not in exc.message.lower():
            log.info("telegram: could not edit message %s: %s", held.message_id, exc.message)
            return False
    if len(parts) > 1:
        pace = channel.pace_for(held)
        if pace is not None:
            await pace()  # the edit took the first part's turn
        await channel._send(message_address(held), reply, skip=1, pace=pace)
    return True


async def on_inline_query(channel: TelegramChannel, query: InlineQuery, handler: Handler) -> None:
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
