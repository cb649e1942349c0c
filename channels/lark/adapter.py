"""The Feishu/Lark adapter, on the official ``lark-oapi`` SDK.

Events come over the long connection (:mod:`channels.lark.socket`, no public URL) or, with a
verification token, over HTTP: :meth:`LarkChannel.web_routes` returns the event callback route
that the gateway mounts on its HTTP server (:mod:`channels.lark.callbacks`). There, with an
encrypt key, every event must be signed with a timestamp at most ``max_event_age`` seconds off
(replays), checked before its body is parsed; the one unsigned request answered is the encrypted
URL-verification challenge. The SDK's ``EventDispatcherHandler`` then decrypts, checks the
verification token and calls our handlers. Feishu retries events it thinks were missed:
each carries its ``event_id`` as the ``delivery_id``, which the gateway answers once.

Card buttons (``card.action.trigger`` callbacks, over either path) go through the same
dispatcher as typed commands: :mod:`channels.lark.presses`.

Text messages become :class:`~channels.base.Incoming`: ``/model GLM-4.7`` anywhere,
``@bot model GLM-4.7`` in groups, ``model GLM-4.7`` in a direct (p2p) chat. ``.md`` file messages
become :class:`~channels.base.Upload`, fetched through the message resource API. Replies and
digests are interactive cards (:mod:`channels.lark.render`).

Open API calls use the SDK's synchronous client in a worker thread: its async client builds a new
``httpx.AsyncClient`` (and with it a TLS context, about 20 ms of CPU) for every request, on the
loop, and fetches the tenant token with blocking ``requests`` calls there too. In a thread neither
holds up the other channels (``python -m tests.bench.channels`` measures the loop's lag both ways).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    GetChatRequest,
    GetMessageResourceRequest,
    P2ImChatMemberBotDeletedV1,
    P2ImMessageReceiveV1,
    PatchMessageRequest,
    PatchMessageRequestBody,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
)
from lark_oapi.core.exception import ObtainAccessTokenException
from lark_oapi.core.token import TokenManager

from channels.base import Handler, Incoming, Pace, ReplyPace, Upload
from channels.buttons import ButtonData, action_fields
from channels.lark.callbacks import CallbackRoute
from channels.lark.errors import (
    CALL_ERRORS,
    TABLE,
    TOKEN_CODES,
    convert_error,
    idempotency_key,
    receive_id_type,
)
from channels.lark.presses import CardPresses
from channels.lark.render import Card, card_content, render_lark
from channels.lark.sdk import lark
from channels.lark.settings import FEISHU_API_URL, LarkSettings
from channels.sender import Inflight, Post, Sender
from digests.message import Message

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".md", ".markdown")
_MENTION_KEY = re.compile(r"@_user_\d+")
#: A command longer than this (UTF-8 bytes) travels in a button's value as a stored token.
VALUE_BYTES = 256
#: Chats whose kind (direct or group) is remembered, from their messages and chat lookups.
KINDS_KEPT = 10_000


def command_text(
    text: str, mentions: list[tuple[str, str, str]], bot_open_id: str, p2p: bool
) -> str | None:
    """The command in a text message, or None when it is not addressed to us.

    ``mentions`` are ``(key, open_id, name)``: Feishu writes ``@_user_1`` in the text for each.
    Mentions of the bot are removed (and address the message to us); others become ``@name``.
    """
    addressed = p2p
    names: dict[str, str] = {}
    for key, open_id, name in mentions:
        if open_id and open_id == bot_open_id:
            addressed = True
            names[key] = " "
        else:
            names[key] = f"@{name}"
    # One pass over the keys, so @_user_1 never matches inside @_user_10.
    text = _MENTION_KEY.sub(lambda m: names.get(m.group(), " "), text)
    text = " ".join(text.split())
    if text.startswith("/"):
        return text
    if not addressed:
        return None
    return "/" + text if text else "/help"


class LarkChannel:
    """A :class:`~channels.base.Channel` for one Feishu/Lark custom app."""

    name = "lark"

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        *,
        verification_token: str | None = None,
        encrypt_key: str | None = None,
        api_url: str = FEISHU_API_URL,
        events_path: str = "/lark/events",
        max_event_age: float = 300.0,
        request_timeout: float = 10.0,
        drain_timeout: float = 10.0,
        pace: ReplyPace | None = None,
        keep_command: Callable[[str], Awaitable[str]] | None = None,
        answer_within: float = 2.0,
    ) -> None:
        """Build the SDK client and event dispatcher; no I/O until :meth:`start`.

        Args:
            app_id: The app's ``cli_…`` id.
            app_secret: The app secret.
            verification_token: Selects HTTP mode; checked on every event.
            encrypt_key: Events are encrypted and signed with it (HTTP mode).
            api_url: ``https://open.feishu.cn`` (Feishu) or ``https://open.larksuite.com`` (Lark).
            events_path: Where :meth:`web_routes` listens in HTTP mode.
            max_event_age: Seconds a signed HTTP event may be old before it is refused.
            request_timeout: Timeout of every Open API call.
            drain_timeout: How long :meth:`stop` waits for replies in flight.
            pace: Waits for the turn of each part of a reply (its sender calls it).
            keep_command: Stores a button command longer than :data:`VALUE_BYTES` and returns
                its token (such buttons are left out without it).
            answer_within: How long a card callback waits for its press's answer (Feishu
                allows 3 s); a slower press answers by itself.
        """
        self._sender = Sender("lark", TABLE, pace)
        self._buttons = ButtonData(keep_command, VALUE_BYTES)
        self.answer_within = answer_within
        self._kinds: dict[str, str] = {}
        self._presses = CardPresses(self)
        self._inflight = Inflight("lark")
        self._app_id = app_id
        self._secret = app_secret
        self._http_mode = verification_token is not None
        self._encrypt_key = encrypt_key or ""
        self._api_url = api_url
        self.events_path = events_path
        self.done = asyncio.Event()  # never set: the gateway stops this channel
        self._drain_timeout = drain_timeout
        self._socket: Any = None
        self.bot_open_id = ""
        self._client = (
            lark.Client.builder()
            .app_id(app_id)
            .app_secret(app_secret)
            .domain(api_url)
            .timeout(request_timeout)
            .log_level(lark.LogLevel.WARNING)
            .build()
        )
        self._dispatcher = (
            lark.EventDispatcherHandler.builder(self._encrypt_key, verification_token or "")
            .register_p2_im_message_receive_v1(self._on_message_event)
            .register_p2_im_chat_member_bot_deleted_v1(self._on_bot_removed)
            .register_p2_card_action_trigger(self._presses.on_trigger)
            .build()
        )
        self._callbacks = CallbackRoute(
            self._dispatcher,
            presses=self._presses,
            encrypt_key=self._encrypt_key,
            verification_token=verification_token or "",
            max_age=max_event_age,
        )

    @classmethod
    def from_settings(
        cls,
        settings: LarkSettings,
        pace: ReplyPace | None = None,
        keep_command: Callable[[str], Awaitable[str]] | None = None,
    ) -> LarkChannel:
        def secret(value: Any) -> str | None:
            return value.get_secret_value() if value is not None else None

        return cls(
            settings.lark_app_id or "",
            secret(settings.lark_app_secret) or "",
            verification_token=secret(settings.lark_verification_token),
            encrypt_key=secret(settings.lark_encrypt_key),
            api_url=settings.lark_api_url,
            events_path=settings.lark_events_path,
            max_event_age=settings.lark_max_event_age,
            pace=pace,
            keep_command=keep_command,
        )

    # --- life cycle -----------------------------------------------------------------------
    async def start(self, handler: Handler) -> None:
        """Check the app credentials (tenant token, bot info), then, unless in HTTP mode,
        open the long connection.

        Raises:
            RuntimeError: the app id/secret were refused or the bot ability is off.
        """
        await self._token()
        info = await self._bot_info()
        self.bot_open_id = str(info.get("open_id") or "")
        self._inflight.handler = handler
        if not self._http_mode:
            from channels.lark.socket import LarkSocket

            self._socket = LarkSocket(
                self._app_id,
                self._secret,
                self._dispatcher,
                domain=self._api_url,
                presses=self._presses,
            )
            await self._socket.start()
        log.info(
            "lark: started as %s (%s mode)",
            info.get("app_name") or self.bot_open_id,
            "HTTP" if self._http_mode else "long connection",
        )

    def connected(self) -> bool:
        """Started, and (long connection) holding an open websocket."""
        if self._inflight.handler is None:
            return False
        return self._socket is None or bool(self._socket.connected())

    async def stop(self) -> None:
        """Close the long connection and wait (up to ``drain_timeout``) for replies in flight."""
        if self._socket is not None:
            await self._socket.stop()
            self._socket = None
        await self._inflight.drain(self._drain_timeout)

    async def _token(self) -> None:
        """Fetch the tenant token into the SDK's cache (off the loop): a refused app fails here."""
        config = self._client.config
        try:
            await asyncio.to_thread(TokenManager.get_self_tenant_token, config)
        except ObtainAccessTokenException as exc:
            raise RuntimeError(
                f"lark: the app id/secret were refused ({exc}); check DIGESTBOT_LARK_APP_ID "
                "and DIGESTBOT_LARK_APP_SECRET"
            ) from None

    def _forget_token(self) -> None:
        TokenManager.cache.set(f"self_tenant_token:{self._app_id}", "", 0)

    async def _bot_info(self) -> dict[str, Any]:
        request = (
            lark.BaseRequest.builder()
            .http_method(lark.HttpMethod.GET)
            .uri("/open-apis/bot/v3/info")
            .token_types({lark.AccessTokenType.TENANT})
            .build()
        )
        response = await asyncio.to_thread(self._client.request, request)
        raw = response.raw
        body = json.loads(raw.content) if raw is not None and raw.content else {}
        if not response.success():
            raise RuntimeError(
                f"lark: bot info failed ({response.code}: {response.msg}); "
                "is the bot ability enabled and the app version published?"
            )
        bot = body.get("bot")
        return bot if isinstance(bot, dict) else {}

    # --- HTTP mode ------------------------------------------------------------------------
    def web_routes(self) -> list[web.RouteDef]:
        """The event callback route for the gateway's aiohttp app (HTTP mode only)."""
        if not self._http_mode:
            return []
        return [web.post(self.events_path, self._on_http)]

    async def _on_http(self, request: web.Request) -> web.Response:
        if self._inflight.handler is None:
            return web.json_response({"msg": "not started"}, status=503)
        return await self._callbacks.answer(request)

    # --- incoming -------------------------------------------------------------------------
    def _on_message_event(self, data: P2ImMessageReceiveV1) -> None:
        # Called synchronously by the SDK, on the loop: schedule and return at once.
        self._inflight.spawn(lambda handler: self._handle_message(handler, data))

    def _on_bot_removed(self, data: P2ImChatMemberBotDeletedV1) -> None:
        chat = getattr(data.event, "chat_id", None)
        # Nothing to send there any more; the next digest meets ChatGone and deactivates it.
        log.info("lark: the bot was removed from chat %s", chat)

    async def _handle_message(self, handler: Handler, data: P2ImMessageReceiveV1) -> None:
        event = data.event
        header = data.header
        if event is None or event.message is None or event.sender is None:
            return
        event_id = getattr(header, "event_id", None)
        delivery = f"lark:{event_id}" if event_id else None
        if event.sender.sender_type != "user":
            return  # our own and other apps' messages
        msg = event.message
        sender = event.sender.sender_id.open_id if event.sender.sender_id else ""
        try:
            content = json.loads(msg.content or "{}")
        except ValueError:
            return
        p2p = msg.chat_type == "p2p"
        chat_id = str(msg.chat_id or "")
        self._know_kind(chat_id, "private" if p2p else "group")
        if msg.message_type == "file":
            await self._on_file(
                handler, msg.message_id or "", chat_id, sender or "", content, p2p, delivery
            )
            return
        if msg.message_type != "text":
            return
        mentions = [
            (m.key or "", (m.id.open_id if m.id else "") or "", m.name or "")
            for m in msg.mentions or []
        ]
        text = command_text(str(content.get("text", "")), mentions, self.bot_open_id, p2p)
        if text is None:
            return
        incoming = Incoming(
            platform="lark",
            chat_id=chat_id,
            user_id=sender or "",
            text=text,
            chat_kind="private" if p2p else "group",
            is_chat_admin=lambda: self.is_chat_admin(chat_id, sender or "", p2p),
            delivery_id=delivery,
        )
        reply = await handler.on_command(incoming)
        if reply is not None:
            await self._reply(chat_id, msg.message_id or "", reply, p2p)

    async def _on_file(
        self,
        handler: Handler,
        message_id: str,
        chat_id: str,
        sender: str,
        content: dict[str, Any],
        p2p: bool,
        delivery: str | None,
    ) -> None:
        name = str(content.get("file_name") or "")
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            return
        upload = Upload(
            platform="lark",
            chat_id=chat_id,
            user_id=sender,
            filename=name,
            size=None,  # file messages do not carry a size; the handler checks the bytes
            fetch=self._fetcher(message_id, str(content.get("file_key") or "")),
            delivery_id=delivery,
        )
        reply = await handler.on_upload(upload)
        if reply is not None:
            await self._reply(chat_id, message_id, reply, p2p)

    def _fetcher(self, message_id: str, file_key: str) -> Callable[[], Awaitable[bytes]]:
        async def fetch() -> bytes:
            request = (
                GetMessageResourceRequest.builder()
                .message_id(message_id)
                .file_key(file_key)
                .type("file")
                .build()
            )
            response = await asyncio.to_thread(self._client.im.v1.message_resource.get, request)
            if not response.success() or response.file is None:
                raise RuntimeError(f"lark: download failed ({response.code}: {response.msg})")
            return bytes(response.file.read())

        return fetch

    async def is_chat_admin(self, chat_id: str, open_id: str, p2p: bool) -> bool:
        """Direct chats: yes. Groups: the group's owner (bot admins are checked by the core)."""
        if p2p:
            return True
        request = GetChatRequest.builder().chat_id(chat_id).user_id_type("open_id").build()
        try:
            response = await asyncio.to_thread(self._client.im.v1.chat.get, request)
        except CALL_ERRORS as exc:
            log.warning("lark: chat lookup failed in %s: %s", chat_id, exc)
            return False
        if not response.success() or response.data is None:
            log.warning("lark: chat lookup failed in %s: %s", chat_id, response.msg)
            return False
        return bool(open_id) and response.data.owner_id == open_id

    async def _reply(self, chat_id: str, message_id: str, reply: Message, p2p: bool) -> None:
        # In a group the first card answers the command as a reply, so it is clear whose it is.
        reply_to = None if p2p else message_id
        kind = "private" if p2p else "group"
        await self.reply_cards(chat_id, kind, render_lark(reply), reply_to)

    # --- buttons --------------------------------------------------------------------------
    def spawn_press(self, work: Callable[[Handler], Awaitable[None]]) -> None:
        """Run a press's work as an update in flight."""
        self._inflight.spawn(work)

    def _know_kind(self, chat_id: str, kind: str) -> None:
        if len(self._kinds) > KINDS_KEPT:
            self._kinds.clear()
        self._kinds[chat_id] = kind

    async def chat_kind(self, chat_id: str) -> str:
        """``private`` or ``group``: as the chat's messages said, else as Feishu's chat lookup
        says (``chat_mode`` ``p2p``); a chat that cannot be looked up counts as a group, whose
        rules are the stricter."""
        known = self._kinds.get(chat_id)
        if known is not None:
            return known
        request = GetChatRequest.builder().chat_id(chat_id).user_id_type("open_id").build()
        try:
            response = await asyncio.to_thread(self._client.im.v1.chat.get, request)
        except CALL_ERRORS as exc:
            log.warning("lark: chat lookup failed in %s: %s", chat_id, exc)
            return "group"
        if not response.success() or response.data is None:
            log.warning("lark: chat lookup failed in %s: %s", chat_id, response.msg)
            return "group"
        kind = "private" if response.data.chat_mode == "p2p" else "group"
        self._know_kind(chat_id, kind)
        return kind

    async def cards(self, reply: Message) -> list[Card]:
        """``reply`` as cards, their long commands swapped for tokens."""
        return [await self._with_tokens(card) for card in render_lark(reply)]

    async def _with_tokens(self, card: Card) -> Card:
        """``card`` with every button's command that is too long to carry kept under a token
        (a button whose command cannot be kept is left out)."""
        for element in card.get("elements", []):
            if element.get("tag") != "action":
                continue
            kept = []
            for button in element["actions"]:
                command = button.get("value", {}).get("command")
                if isinstance(command, str):
                    data = await self._buttons.data(command)
                    if data is None:
                        log.warning("lark: a button left out: its command is too long")
                        continue
                    button["value"] = action_fields(data)
                kept.append(button)
            element["actions"] = kept
        card["elements"] = [
            e for e in card.get("elements", []) if e.get("tag") != "action" or e["actions"]
        ]
        return card

    async def reply_cards(
        self, chat_id: str, kind: str, cards: list[Card], reply_to: str | None
    ) -> None:
        """Send a reply's cards to ``chat_id``, the first answering ``reply_to`` when given."""
        await self._sender.reply(chat_id, kind, cards, self._posting(chat_id, reply_to))

    async def patch(self, message_id: str, card: Card) -> None:
        """Replace the card of ``message_id`` (a shared card: for everyone in the chat).

        Raises:
            SendError: a subclass per failure kind.
        """

        async def post(index: int, card: Card) -> str:
            card = await self._with_tokens(card)
            response = await asyncio.to_thread(
                self._client.im.v1.message.patch,
                PatchMessageRequest.builder()
                .message_id(message_id)
                .request_body(PatchMessageRequestBody.builder().content(card_content(card)).build())
                .build(),
            )
            if not response.success():
                if response.code in TOKEN_CODES:
                    self._forget_token()
                raise convert_error(response)
            return message_id

        await self._sender.send([card], post)

    # --- outgoing -------------------------------------------------------------------------
    async def send(
        self, chat_id: str, message: Message, *, skip: int = 0, pace: Pace | None = None
    ) -> list[str]:
        """Send ``message`` as cards (but the first ``skip``) and return each one's message id.

        ``chat_id`` is a chat (``oc_…``) or a user's open_id (``ou_…``, admin notices). Each card
        carries a ``uuid`` derived from the chat, the part and its content, so Feishu drops a
        repeat of the same card within the hour: a send retried after an unclear failure
        cannot post it twice.

        Raises:
            SendError: a subclass per failure kind, with ``sent_ids`` of the cards posted.
        """
        posting = self._posting(chat_id, None, idempotent=True)
        return await self._sender.send(render_lark(message), posting, skip=skip, pace=pace)

    def _posting(
        self, chat_id: str, reply_to: str | None, *, idempotent: bool = False
    ) -> Post[Card]:
        """How one card is posted: the first as the answer to ``reply_to`` when given."""

        async def post(index: int, card: Card) -> str:
            content = card_content(await self._with_tokens(card))
            if reply_to and index == 0:  # only the first card answers the command
                response = await asyncio.to_thread(
                    self._client.im.v1.message.reply,
                    ReplyMessageRequest.builder()
                    .message_id(reply_to)
                    .request_body(
                        ReplyMessageRequestBody.builder()
                        .msg_type("interactive")
                        .content(content)
                        .build()
                    )
                    .build(),
                )
            else:
                body = (
                    CreateMessageRequestBody.builder()
                    .receive_id(chat_id)
                    .msg_type("interactive")
                    .content(content)
                )
                if idempotent:
                    body = body.uuid(idempotency_key(chat_id, index, content))
                response = await asyncio.to_thread(
                    self._client.im.v1.message.create,
                    CreateMessageRequest.builder()
                    .receive_id_type(receive_id_type(chat_id))
                    .request_body(body.build())
                    .build(),
                )
            if not response.success():
                if response.code in TOKEN_CODES:
                    self._forget_token()
                raise convert_error(response)
            return str(response.data.message_id)

        return post


__all__ = ["LarkChannel", "command_text", "convert_error", "receive_id_type"]
