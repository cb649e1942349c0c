"""The Telegram adapter, on python-telegram-bot 22.

Long polling by default (``updater.start_polling`` inside the gateway's loop, never
``run_polling``); webhook mode when a webhook URL is given, in which case :meth:`web_routes`
returns the route the gateway mounts on its aiohttp server. Commands (``/model GLM-4.7``,
``/model@our_bot …``) in private chats, groups, supergroups and channels become
:class:`~channels.base.Incoming`; ``.md`` documents become :class:`~channels.base.Upload`.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
    Update,
)
from telegram import (
    Message as TgMessage,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from channels.base import Action, Handler, Incoming, Pace, ReplyPace, Upload
from channels.refusals import Refusal, RefusalLog
from channels.sender import Inflight, Post, Sender
from channels.telegram.address import address, message_address, split_address
from channels.telegram.errors import TABLE, AnswerRequest, convert_error, retry_after_seconds
from channels.telegram.inline import on_callback_query, on_inline_query
from channels.telegram.webhook import update_object
from digests.message import Button, Message

if TYPE_CHECKING:
    from channels.telegram.render import TelegramPart

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
UPLOAD_SUFFIXES = (".md", ".markdown")
_ALLOWED_UPDATES = ["message", "channel_post", "callback_query", "inline_query"]
_ADMIN_STATUSES = ("creator", "administrator")
_COMMAND = re.compile(r"(/[^\s@]+)(?:@(\S+))?(.*)", re.DOTALL)
#: Telegram's ``callback_data`` holds at most this many bytes.
CALLBACK_BYTES = 64
#: Marks ``callback_data`` that is a token of a stored command, not the command itself.
TOKEN_MARK = "~"
#: How long a stored command's token is reused before it is stored (and its expiry renewed) again.
TOKEN_MEMORY_SECONDS = 3600.0


class TelegramChannel:
    """A :class:`~channels.base.Channel` for one Telegram bot."""

    name = "telegram"

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://api.telegram.org/bot",
        base_file_url: str = "https://api.telegram.org/file/bot",
        commands: Sequence[tuple[str, str]] = (),
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        poll_timeout: float = 10.0,
        request_timeout: float = 10.0,
        images: bool = True,
        localized_commands: Mapping[str, Sequence[tuple[str, str]]] | None = None,
        keep_command: Callable[[str], Awaitable[str]] | None = None,
        answer_within: float = 5.0,
        pace: ReplyPace | None = None,
        paid_broadcast: bool = False,
    ) -> None:
        """Build the PTB application; no I/O happens until :meth:`start`.

        Args:
            token: The bot token.
            base_url: Bot API base (token appended), for self-hosted servers and tests.
            base_file_url: File download base (token appended).
            commands: ``(command, description)`` pairs registered as the command menu.
            webhook_url: Public HTTPS URL; when set, webhook mode instead of long polling.
            webhook_secret: Expected ``X-Telegram-Bot-Api-Secret-Token`` in webhook mode.
            poll_timeout: Long-poll timeout of ``getUpdates`` in seconds.
            request_timeout: Read/write/connect timeout of every other Bot API call.
            images: Show a message's figure as its link preview (``DIGESTBOT_IMAGES``).
            localized_commands: The menu per language code, shown to users of that language.
            keep_command: Stores a button command longer than ``callback_data`` holds and
                returns its token (such buttons are left out without it).
            answer_within: A button press is answered (``answerCallbackQuery``) after at most
                this many seconds, even when its command is still running.
            pace: Waits for the turn of each part of a reply (its sender calls it).
            paid_broadcast: Send outbox messages (:meth:`send`) with ``allow_paid_broadcast``
                (Telegram charges Stars for them past the free rate); replies never.
        """
        self._sender = Sender("telegram", TABLE, pace)
        self._inflight = Inflight("telegram")
        self._images = images
        #: Whether :meth:`send` (the outbox's path) pays for Telegram's paid broadcast rate.
        self.paid_broadcast = paid_broadcast
        self.done = asyncio.Event()  # never set: the gateway stops this channel
        self._commands = list(commands)
        self._localized = dict(localized_commands or {})
        self._webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        #: Refused webhook requests: one log line a minute per kind, never a traceback.
        self.refusals = RefusalLog("telegram", log)
        self._poll_timeout = poll_timeout
        self._bot_key = token.split(":", 1)[0]
        self._keep_command = keep_command
        self.answer_within = answer_within
        self._tokens: dict[str, tuple[str, float]] = {}
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(base_url)
            .base_file_url(base_file_url)
            .concurrent_updates(True)
            # Every call but getUpdates: the sender learns from it what the Bot API answered.
            .request(
                AnswerRequest(
                    read_timeout=request_timeout,
                    write_timeout=request_timeout,
                    connect_timeout=request_timeout,
                )
            )
            # Room for the final getUpdates that marks updates read while a long poll is cancelled.
            .get_updates_request(
                HTTPXRequest(connection_pool_size=2, read_timeout=poll_timeout + request_timeout)
            )
        )
        if webhook_url:
            builder = builder.updater(None)
        self._app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self._app.add_handler(TypeHandler(Update, self._on_update))

    @property
    def webhook_path(self) -> str:
        """The path of the webhook URL, where :meth:`web_routes` listens."""
        return urlsplit(self._webhook_url or "").path or "/telegram"

    # --- life cycle -----------------------------------------------------------------------
    async def start(self, handler: Handler) -> None:
        """Initialize the bot (``getMe``), register commands, then poll or set the webhook."""
        self._inflight.handler = handler
        await self._app.initialize()
        await self._register_commands()
        await self._app.start()
        if self._webhook_url:
            await self._app.bot.set_webhook(
                self._webhook_url,
                secret_token=self._webhook_secret,
                allowed_updates=_ALLOWED_UPDATES,
            )
        elif self._app.updater is not None:
            await self._app.updater.start_polling(
                timeout=dtm.timedelta(seconds=self._poll_timeout),
                allowed_updates=_ALLOWED_UPDATES,
            )
        log.info("telegram: started as @%s", self._app.bot.username)

    async def _register_commands(self) -> None:
        if not self._commands:
            return
        # The default menu last: it is the one every user sees when their language has none.
        menus: list[tuple[str | None, Sequence[tuple[str, str]]]] = list(self._localized.items())
        menus.append((None, self._commands))
        for language, commands in menus:
            menu = [BotCommand(c.lstrip("/"), d) for c, d in commands]
            try:
                await self._app.bot.set_my_commands(menu, language_code=language)
            except TelegramError as exc:
                log.warning("telegram: could not register the command menu: %s", exc)
                return

    def connected(self) -> bool:
        """Started, and (in polling mode) polling."""
        if not self._app.running:
            return False
        updater = self._app.updater
        return updater is None or updater.running

    async def stop(self) -> None:
        """Stop polling, finish the updates being handled, and close the HTTP clients."""
        updater = self._app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self._app.running:
            await self._app.stop()  # waits for in-flight update tasks
        await self._app.shutdown()
        await self._inflight.drain(0)

    # --- webhook --------------------------------------------------------------------------
    def web_routes(self) -> list[web.RouteDef]:
        """The webhook route for the gateway's aiohttp app (empty in polling mode)."""
        if not self._webhook_url:
            return []
        return [web.post(self.webhook_path, self._on_webhook)]

    async def _on_webhook(self, request: web.Request) -> web.Response:
        if self._webhook_secret is not None:
            given = request.headers.get(SECRET_HEADER, "")
            # surrogateescape: aiohttp keeps a header's non-UTF-8 bytes as surrogates.
            given_bytes = given.encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given_bytes, self._webhook_secret.encode()):
                kind = "a wrong secret token" if given else "no secret token"
                return self._refuse(Refusal(403, kind))
        if not self._app.running:
            return web.Response(status=503, text="not started")
        # read() refuses a body over the app's client_max_size (aiohttp's 1 MiB) with a 413.
        body = await request.read()
        try:
            data = update_object(body)
        except ValueError as exc:
            return self._refuse(Refusal(400, f"a body that is {exc}"))
        try:
            update = Update.de_json(data, self._app.bot)
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as exc:
            # ArithmeticError: PTB's OverflowError for a date past what a timestamp holds.
            return self._refuse(
                Refusal(400, f"an object that is not an update ({type(exc).__name__})")
            )
        # Queue it and answer at once: Telegram retries slow deliveries (each update carries a
        # delivery id, so the gateway answers a retried one once).
        await self._app.update_queue.put(update)
        return web.Response(text="ok")

    def _refuse(self, refusal: Refusal) -> web.Response:
        """A short 4xx naming the kind of refusal; logged once a minute per kind."""
        self.refusals.refused(refusal)
        return web.Response(status=refusal.status, text=f"refused: {refusal.kind}")

    # --- incoming -------------------------------------------------------------------------
    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._inflight.run(lambda handler: self._answer_update(update, handler))

    async def _answer_update(self, update: Update, handler: Handler) -> None:
        delivery = self._delivery_id(update)
        if update.callback_query is not None:
            await on_callback_query(self, update.callback_query, handler, delivery)
            return
        if update.inline_query is not None:
            await on_inline_query(update.inline_query, handler)
            return
        msg = update.message or update.channel_post
        if msg is None:
            return
        if msg.document is not None:
            await self._on_document(msg, handler, delivery)
        elif msg.text and msg.text.lstrip().startswith(("/", "／")):  # ／: Chinese IMEs
            await self._on_command(msg, handler, delivery)

    def _delivery_id(self, update: Update) -> str | None:
        """Webhook updates may be delivered again (Telegram retries); long polling never does."""
        if not self._webhook_url:
            return None
        return f"telegram:{self._bot_key}:{update.update_id}"

    def own_command(self, text: str) -> str | None:
        """``text`` with ``@our_bot`` removed, or None when it is addressed to another bot."""
        m = _COMMAND.match(text)
        if m is None:
            return None
        command, addressee, rest = m.groups()
        if addressee and addressee.lower() != self._app.bot.username.lower():
            return None
        return command + rest

    async def _on_command(self, msg: TgMessage, handler: Handler, delivery: str | None) -> None:
        text = self.own_command((msg.text or "").lstrip().replace("／", "/", 1))
        if text is None:
            return
        incoming = Incoming(
            platform="telegram",
            chat_id=message_address(msg),
            user_id=_sender_id(msg),
            text=text,
            chat_kind=msg.chat.type,
            chat_title=msg.chat.title or "",
            is_chat_admin=lambda: self.is_chat_admin(msg),
            delivery_id=delivery,
            language=msg.from_user.language_code if msg.from_user is not None else None,
        )
        reply = await handler.on_command(incoming)
        if reply is not None:
            await self._reply(msg, reply)

    async def _on_document(self, msg: TgMessage, handler: Handler, delivery: str | None) -> None:
        doc = msg.document
        if doc is None or not (doc.file_name or "").lower().endswith(UPLOAD_SUFFIXES):
            return
        file_id = doc.file_id

        async def fetch() -> bytes:
            file = await self._app.bot.get_file(file_id)
            return bytes(await file.download_as_bytearray())

        upload = Upload(
            platform="telegram",
            chat_id=str(msg.chat.id),
            user_id=_sender_id(msg),
            filename=doc.file_name or "",
            size=doc.file_size,
            fetch=fetch,
            delivery_id=delivery,
        )
        reply = await handler.on_upload(upload)
        if reply is not None:
            await self._reply(msg, reply)

    async def is_chat_admin(self, msg: TgMessage, user_id: int | None = None) -> bool:
        """Private chats and channel posts: yes. Groups: ask for the sender's membership (or
        ``user_id``'s: who pressed a button under ``msg``)."""
        chat = msg.chat
        if chat.type in ("private", "channel"):
            return True
        if user_id is None and msg.sender_chat is not None:
            # An anonymous group admin posts as the group itself.
            return msg.sender_chat.id == chat.id
        if user_id is None:
            if msg.from_user is None:
                return False
            user_id = msg.from_user.id
        try:
            member = await self._app.bot.get_chat_member(chat.id, user_id)
        except TelegramError as exc:
            log.warning("telegram: getChatMember failed in %s: %s", chat.id, exc)
            return False
        return member.status in _ADMIN_STATUSES

    async def _reply(self, msg: TgMessage, reply: Message) -> None:
        in_group = msg.chat.type in ("group", "supergroup")
        await self.reply_in(msg, reply, reply_to=msg.message_id if in_group else None)

    async def reply_in(
        self, held: TgMessage, reply: Message, *, reply_to: int | None = None, edit: bool = False
    ) -> list[str]:
        """Reply in ``held``'s chat (its topic): answering message ``reply_to``, or, with
        ``edit``, replacing ``held`` with the first part (sent anew when Telegram refuses)."""
        chat = message_address(held)
        parts, post = self._outgoing(chat, reply, reply_to=reply_to, edit=held if edit else None)
        return await self._sender.reply(chat, held.chat.type, parts, post)

    # --- outgoing -------------------------------------------------------------------------
    async def send(
        self, chat_id: str, message: Message, *, skip: int = 0, pace: Pace | None = None
    ) -> list[str]:
        """Send ``message`` in as many parts as it needs (but the first ``skip``); return their ids.

        Raises:
            SendError: a subclass per failure kind, with ``sent_ids`` of the parts delivered.
        """
        parts, post = self._outgoing(chat_id, message, paid=self.paid_broadcast)
        return await self._sender.send(parts, post, skip=skip, pace=pace)

    def _outgoing(
        self,
        chat_id: str,
        message: Message,
        *,
        reply_to: int | None = None,
        edit: TgMessage | None = None,
        paid: bool = False,
    ) -> tuple[list[TelegramPart], Post[TelegramPart]]:
        """The parts of ``message`` to a chat or a forum topic in it (``chat/topic``), and how
        one is posted (buttons included; ``paid``: with ``allow_paid_broadcast``)."""
        from channels.telegram.render import render_telegram_parts, telegram_send_kwargs

        options = telegram_send_kwargs(message, images=self._images)
        preview = LinkPreviewOptions(
            is_disabled=bool(options.get("disable_web_page_preview", True))
        )
        if options.get("preview_url"):
            # the figure, large and above the text, on the first part; the others show none
            preview = LinkPreviewOptions(
                is_disabled=False,
                url=options["preview_url"],
                show_above_text=True,
                prefer_large_media=True,
            )
        target, thread_id = split_address(chat_id)
        bot = self._app.bot

        async def post(n: int, part: TelegramPart) -> str:
            shown = preview
            if n > 0 and options.get("preview_url"):
                shown = LinkPreviewOptions(is_disabled=True)
            markup = await self.keyboard(part.rows)
            if n == 0 and edit is not None and await self._edit(edit, part.text, markup, message):
                return str(edit.message_id)
            answering = reply_to if n == 0 else None  # only the first part answers the command
            sent = await bot.send_message(
                target,
                part.text,
                parse_mode=options.get("parse_mode", "HTML"),
                link_preview_options=shown,
                reply_parameters=(
                    ReplyParameters(answering, allow_sending_without_reply=True)
                    if answering
                    else None
                ),
                message_thread_id=thread_id,
                reply_markup=markup,
                allow_paid_broadcast=True if paid else None,
            )
            return str(sent.message_id)

        return render_telegram_parts(message), post

    async def _edit(
        self, held: TgMessage, text: str, markup: InlineKeyboardMarkup | None, reply: Message
    ) -> bool:
        """Replace ``held`` with ``text``; False when Telegram refuses (a message too old, or
        not ours): it is sent anew then."""
        try:
            await self._app.bot.edit_message_text(
                text,
                chat_id=held.chat.id,
                message_id=held.message_id,
                parse_mode="HTML",
                link_preview_options=LinkPreviewOptions(is_disabled=not reply.link_preview),
                reply_markup=markup,
            )
        except BadRequest as exc:
            if "message is not modified" not in exc.message.lower():
                log.info("telegram: could not edit message %s: %s", held.message_id, exc.message)
                return False
        return True

    # --- buttons --------------------------------------------------------------------------
    async def callback_data(self, command: str) -> str | None:
        """The command itself when it fits in ``callback_data``, else a token of it."""
        if len(command.encode()) <= CALLBACK_BYTES and not command.startswith(TOKEN_MARK):
            return command
        if self._keep_command is None:
            return None
        # Remembered for a while: a digest sent to many chats stores its long commands once.
        now = time.monotonic()
        known = self._tokens.get(command)
        if known is None or now - known[1] > TOKEN_MEMORY_SECONDS:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            known = self._tokens[command] = (await self._keep_command(command), now)
        return TOKEN_MARK + known[0]

    async def keyboard(self, rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
        """An inline keyboard of ``rows``; a button whose command cannot be kept is left out."""
        out = []
        for row in rows:
            buttons = []
            for button in row:
                if button.url:
                    buttons.append(InlineKeyboardButton(button.label, url=button.url))
                    continue
                data = await self.callback_data(button.command)
                if data is None:
                    log.warning(
                        "telegram: button %r left out: its command is too long", button.label
                    )
                    continue
                buttons.append(InlineKeyboardButton(button.label, callback_data=data))
            if buttons:
                out.append(buttons)
        return InlineKeyboardMarkup(out) if out else None

    def action_of(self, data: str, **fields: Any) -> Action:
        """The :class:`~channels.base.Action` a press with ``data`` asks for."""
        if data.startswith(TOKEN_MARK):
            return Action(platform="telegram", token=data[len(TOKEN_MARK) :], **fields)
        return Action(platform="telegram", command=data, **fields)


def _sender_id(msg: TgMessage) -> str:
    if msg.from_user is not None and msg.sender_chat is None:
        return str(msg.from_user.id)
    return str((msg.sender_chat or msg.chat).id)


__all__ = [
    "TelegramChannel",
    "address",
    "convert_error",
    "message_address",
    "retry_after_seconds",
    "split_address",
]
