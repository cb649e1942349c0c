"""Slack's interactive surfaces: button presses (``block_actions``), the Home tab, and digests
posted as threads.

A press is acknowledged at once (Slack wants it within 3 s), then its command runs through the
gateway's dispatcher. A ``notice`` answer (a refusal, a stale button, a thank-you) is ephemeral,
for the presser alone; an ``edit`` answer replaces the message that held the button (through its
``response_url``); any other answer is a new message in the same conversation and thread. A press
in the Home tab is answered in the presser's direct chat with the app.

On ``app_home_opened`` the Home tab is published (``views.publish``) from the dispatcher's home
page: the workspace's subscriptions, the newest report's headline items, Preview buttons.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Action, Handler, Incoming, Pace, SendError
from channels.sender import Inflight
from channels.slack.inbound import DELIVERY_KEY
from channels.slack.render import render_blocks, render_slack
from channels.slack.rich import ACTION_PREFIX, LINK_PREFIX
from digests.message import Message

log = logging.getLogger(__name__)

ACTION_ID = re.compile(rf"^{re.escape(ACTION_PREFIX)}\d+$")
LINK_ID = re.compile(rf"^{re.escape(LINK_PREFIX)}\d+$")
#: A Home tab view holds at most 100 blocks.
HOME_BLOCKS = 100


class Surfaces(Protocol):
    """What the interactive surfaces need of the channel (:class:`~channels.slack.adapter.SlackChannel`)."""

    inflight: Inflight

    def address(self, context: dict[str, Any], slack_id: str) -> str: ...

    async def client_for(self, address: str) -> tuple[AsyncWebClient, str]: ...

    @property
    def images(self) -> bool: ...

    @property
    def handler(self) -> Handler | None: ...

    async def user_locale(self, user_id: str) -> str | None: ...

    async def respond(
        self,
        respond: Callable[..., Awaitable[Any]],
        reply: Message,
        chat_id: str,
        chat_kind: str,
        **extra: Any,
    ) -> None: ...

    async def reply(
        self, chat_id: str, chat_kind: str, reply: Message, *, thread_ts: str | None = None
    ) -> list[str]: ...

    async def ephemeral(self, chat_id: str, chat_kind: str, user_id: str, text: str) -> None: ...

    async def post(
        self,
        chat_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        skip: int = 0,
        pace: Pace | None = None,
    ) -> list[str]: ...


async def _member_may_manage() -> bool:
    return True  # whoever can post in a Slack conversation may manage its subscriptions


async def on_button(
    channel: Surfaces,
    ack: Callable[[], Awaitable[Any]],
    body: dict[str, Any],
    respond: Callable[..., Awaitable[Any]],
    context: dict[str, Any],
) -> None:
    """A ``block_actions`` payload: acknowledge, run the button's command, answer.

    Each press is its own signed request: the same one again (a replay) is answered once.
    """
    await ack()
    container = body.get("container") or {}
    slack_user = _id(body.get("user"))
    in_view = container.get("type") == "view"
    conversation = _id(body.get("channel")) or str(container.get("channel_id") or "")
    chat = slack_user if in_view or not conversation else conversation
    kind = "im" if in_view or chat.startswith(("D", "U")) else "channel"
    # In OAuth mode ``T123:C456``: the workspace's token answers, its votes stay its own.
    chat, user = channel.address(context, chat), channel.address(context, slack_user)
    pressed = (body.get("actions") or [{}])[0]
    thread_ts = (body.get("message") or {}).get("thread_ts") or container.get("thread_ts")
    has_url = bool(body.get("response_url")) and not in_view

    async def work(handler: Handler) -> None:
        action = Action(
            platform="slack",
            chat_id=chat,
            user_id=user,
            command=str(pressed.get("value") or "") or None,
            chat_kind=kind,
            is_chat_admin=_member_may_manage,
            delivery_id=context.get(DELIVERY_KEY),
        )
        reply = await handler.on_action(action)
        if reply is None:
            return
        if reply.notice:
            await _notice(channel, respond if has_url else None, chat, kind, user, reply)
        elif reply.edit and has_url:
            await channel.respond(respond, reply, chat, kind, replace_original=True)
        else:
            await channel.reply(chat, kind, reply, thread_ts=thread_ts)

    await channel.inflight.run(work)


async def on_link_button(ack: Callable[[], Awaitable[Any]]) -> None:
    """A link button ("Open on the web"): Slack opened the page; the press is only acknowledged."""
    await ack()


def _id(value: Any) -> str:
    """A user's or channel's id: Slack sends an object with ``id``, a checked body may a string."""
    return str(value.get("id") or "") if isinstance(value, dict) else str(value or "")


async def _notice(
    channel: Surfaces,
    respond: Callable[..., Awaitable[Any]] | None,
    chat: str,
    kind: str,
    user: str,
    reply: Message,
) -> None:
    """An answer for the presser alone: ephemeral in the conversation (a DM message from the
    Home tab, which has no conversation)."""
    if respond is not None:
        await channel.respond(
            respond, reply, chat, kind, response_type="ephemeral", replace_original=False
        )
    elif chat == user:
        await channel.reply(chat, kind, reply)
    else:
        await channel.ephemeral(chat, kind, user, reply.plain().strip())


#: Pages of users.conversations read at most for one Home tab (200 conversations a page).
MAX_CONVERSATION_PAGES = 10


async def conversations_of(client: AsyncWebClient, user: str) -> set[str]:
    """The conversations ``user`` is in that the bot can see (users.conversations), and the
    user's own id (a direct chat's subscriptions may be kept under it). When Slack does not
    say, none: the Home tab then shows no subscription rather than someone else's."""
    found = {user}
    cursor: str | None = None
    try:
        for _ in range(MAX_CONVERSATION_PAGES):
            answer = await client.users_conversations(
                user=user,
                types="public_channel,private_channel,mpim,im",
                exclude_archived=True,
                limit=200,
                cursor=cursor,
            )
            found.update(str(c.get("id")) for c in answer.get("channels") or [])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
    except Exception as exc:
        log.warning("slack: users.conversations failed for the Home tab: %s", type(exc).__name__)
        return {user}
    return found


async def on_home_opened(channel: Surfaces, event: dict[str, Any], context: dict[str, Any]) -> None:
    """Publish the Home tab for the user who opened it (their workspace's subscriptions of the
    conversations they are in)."""
    if event.get("tab", "home") != "home":
        return
    user = channel.address(context, str(event.get("user", "")))

    async def work(handler: Handler) -> None:
        client, slack_user = await channel.client_for(user)
        seen = await conversations_of(client, slack_user)
        chats = {channel.address(context, chat) for chat in seen}
        page = await handler.on_home("slack", user, await channel.user_locale(user), chats)
        blocks = render_blocks(page.shown_blocks, images=channel.images)[:HOME_BLOCKS]
        await client.views_publish(user_id=slack_user, view={"type": "home", "blocks": blocks})

    await channel.inflight.run(work)


async def post_threaded(
    channel: Surfaces,
    chat_id: str,
    message: Message,
    *,
    skip: int = 0,
    pace: Pace | None = None,
) -> list[str]:
    """A digest as one parent message, then each entry's card as a reply in its thread.

    The cards are the answers to the digest's ``thread`` commands, asked of the gateway as if
    typed in the channel. Parts count as the parent's parts, then each card's, so a send that
    failed part-way resumes where it stopped (``skip``); the parent's ``ts`` is not known to such
    a retry, so the cards it posts go to the channel itself.
    """
    ids = await channel.post(chat_id, message, skip=skip, pace=pace)
    parent = ids[0] if ids and not skip else None
    handler = channel.handler
    if handler is None:
        return ids
    rest = max(0, skip - len(render_slack(message, images=channel.images)))
    for command in message.thread:
        card = await handler.on_command(
            Incoming(
                platform="slack", chat_id=chat_id, user_id="", text=command, chat_kind="channel"
            )
        )
        if card is None:
            continue
        parts = len(render_slack(card, images=channel.images))
        if rest >= parts:
            rest -= parts
            continue
        try:
            if ids and pace is not None:
                await pace()  # a card's first message waits for its turn too
            ids += await channel.post(chat_id, card, thread_ts=parent, skip=rest, pace=pace)
        except SendError as exc:
            exc.sent_ids = (*ids, *exc.sent_ids)
            raise
        rest = 0
    return ids
