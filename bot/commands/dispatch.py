"""The one way in: every channel, the console and ``digestbot ask`` go through :class:`Dispatcher`.

A delivery (a command, an upload) is parsed once into a :class:`~bot.commands.core.Request`, then
passed down an explicit list of middleware, outermost first, to the command itself::

    deduplicate   a delivery the platform sent twice is answered once
    speak         the chat's language is chosen and put on the request (bot/commands/language)
    hints         the commands a reply shows, written as the chat's platform runs them
    reply_errors  an unexpected failure is logged and answered with a short apology
    count         commands, errors and uploads counted for /metrics
    permit        admin-only commands, chat-managing commands in groups, uploads
    (run)         argument checks, then the command function in a worker thread

Each middleware is ``async (request, call_next) -> Message | None``; a list of them is a plain
argument of the dispatcher, so tests and other entry points choose theirs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

from bot.commands import (
    buttons,
    feeds,
    language,
    lookups,
    monthly,
    status,
    subscriptions,
    taste,
    watches,
)
from bot.commands import help as help_commands
from bot.commands.buttons import STALE
from bot.commands.core import MAX_ARG, CommandSet, Request, direct_kinds, echo
from bot.commands.home import home_page, inline_results, link_cards
from bot.commands.language import speak
from bot.commands.services import Services
from bot.commands.uploads import UPLOAD_REFUSAL, ingest_upload
from bot.i18n import N_, Translator, negotiate, translator
from bot.metrics import Metrics
from bot.platforms import in_chat_words, typed, workspace_of
from bot.store.actions import command_of
from bot.store.languages import chat_language, resolve
from channels.base import Action, Incoming, InlineQuery, InlineResult, Upload
from digests.message import Message

log = logging.getLogger(__name__)

Next = Callable[[Request], Awaitable[Message | None]]
Middleware = Callable[[Request, Next], Awaitable[Message | None]]

#: How long the same inline query is answered from memory (Telegram caches it too).
INLINE_CACHE_SECONDS = 60.0

SORRY = N_(
    "Something went wrong on my side; the admins can see it in the log. "
    "Please try again in a minute."
)

NOT_ANSWERING = N_(
    "The database is not answering; nothing was changed. Please try again in a minute."
)


def default_commands() -> CommandSet:
    """Every command the bot answers, from the modules that define them."""
    return CommandSet.collect(
        lookups,
        monthly,
        subscriptions,
        feeds,
        watches,
        taste,
        status,
        language,
        help_commands,
        buttons,
    )


FirstSeen = Callable[[str], Awaitable[bool]]


def deduplicate(first_seen: FirstSeen) -> Middleware:
    """Answer each ``delivery_id`` once (several gateways share ``first_seen`` in the database)."""

    async def middleware(request: Request, call_next: Next) -> Message | None:
        key = request.delivery_id
        if key is not None and not await first_seen(key):
            log.info("delivery %s seen before: not answered again", key)
            return None
        return await call_next(request)

    return middleware


async def hints(request: Request, call_next: Next) -> Message | None:
    """Write the commands a reply shows as the chat's platform runs them (``/digestbot search``
    on Slack, ``/search text:`` on Discord, ``@digestbot search`` in a Lark group)."""
    reply = await call_next(request)
    if reply is None:
        return None
    return in_chat_words(reply, request.platform, request.chat_kind, request.commands.menu_names())


async def answer_in_time(request: Request, call_next: Next) -> Message | None:
    """The outermost layer: a command that gets no answer from the database (a connection gone
    silent) within ``command_timeout`` is answered so, not never (issue 30). Uploads take the
    time a report of megabytes needs."""
    if request.upload is not None:
        return await call_next(request)
    try:
        return await asyncio.wait_for(call_next(request), request.services.command_timeout)
    except TimeoutError:
        log.warning(
            "%s got no answer in %g s (the database is not answering?): platform=%s chat=%s",
            f"/{request.name}" if request.name else "a press",
            request.services.command_timeout,
            request.platform,
            request.chat_id,
        )
        return Message.text(request._(NOT_ANSWERING), notice=request.pressed)


async def reply_errors(request: Request, call_next: Next) -> Message | None:
    """The boundary: log a failure whole, tell the user something useful, keep serving."""
    try:
        return await call_next(request)
    except Exception:
        log.exception(
            "%s failed: platform=%s chat=%s%s",
            "upload" if request.upload else f"/{request.name}",
            request.platform,
            request.chat_id,
            " (a button press)" if request.pressed else "",
        )
        # A press gets the apology as a notice: the presser alone sees it.
        return Message.text(request._(SORRY), notice=request.pressed)


def count(metrics: Metrics) -> Middleware:
    """Commands by name (``other`` for anything else) and failures, per platform."""

    async def middleware(request: Request, call_next: Next) -> Message | None:
        label = "upload" if request.upload else (request.spec.name if request.spec else "other")
        try:
            reply = await call_next(request)
        except Exception:
            metrics.commands.labels(request.platform, "error").inc()
            raise
        if reply is not None:
            metrics.commands.labels(request.platform, label).inc()
        return reply

    return middleware


async def permit(request: Request, call_next: Next) -> Message | None:
    """Refuse what the sender may not do, before the command runs."""
    spec = request.spec
    if request.upload is not None:
        if not request.is_bot_admin:
            return Message.text(request._(UPLOAD_REFUSAL))
    elif spec is not None:
        if spec.admin_only and not request.is_bot_admin:
            return Message.text(
                request._("{command} is for bot admins only.").format(
                    command=request.typed(f"/{spec.name}")
                ),
                notice=True,
            )
        shared = request.chat_kind not in direct_kinds()
        if spec.manages_chat and shared and not request.is_bot_admin:
            # The platform says who may manage a shared chat (Telegram: its administrators).
            incoming = request.incoming
            if incoming is None or not await _safely(incoming.is_chat_admin):
                return Message.text(
                    request._(
                        "Only this chat's administrators and bot admins may change its settings."
                    ),
                    notice=True,
                )
    return await call_next(request)


async def _safely(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except Exception:
        log.warning("chat admin check failed", exc_info=True)
        return False


class Dispatcher:
    """Answers commands and uploads for every channel (the channel protocol's ``Handler``).

    Args:
        services: what commands need (the store, settings they read, the clock).
        commands: the command set; :func:`default_commands` when not given.
        middleware: outermost first; :meth:`standard_middleware` when not given.
        metrics: counted by the default middleware, and ingests by uploads.
    """

    def __init__(
        self,
        services: Services,
        commands: CommandSet | None = None,
        middleware: Sequence[Middleware] | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.services = services
        self.commands = commands if commands is not None else default_commands()
        self._inline_cache: dict[str, tuple[float, list[InlineResult]]] = {}
        self.metrics = metrics
        if middleware is None:
            middleware = self.standard_middleware(metrics=metrics)
        self.middleware = tuple(middleware)
        chain: Next = self._run
        for layer in reversed(self.middleware):
            chain = _bind(layer, chain)
        self._chain = chain

    @staticmethod
    def standard_middleware(
        *,
        first_seen: FirstSeen | None = None,
        metrics: Metrics | None = None,
    ) -> list[Middleware]:
        """The gateway's list; parts whose collaborator is not given are left out."""
        layers: list[Middleware] = [answer_in_time]
        if first_seen is not None:
            layers.append(deduplicate(first_seen))
        layers.append(speak)
        layers.append(hints)
        layers.append(reply_errors)
        if metrics is not None:
            layers.append(count(metrics))
        layers.append(permit)
        return layers

    async def on_command(self, incoming: Incoming) -> Message | None:
        """The reply to ``incoming``, or None when it is not addressed to us (or seen before)."""
        request = self.commands.parse(incoming, self.services)
        if request is None:
            return None
        return await self._chain(request)

    async def on_upload(self, upload: Upload) -> Message | None:
        """The reply to an uploaded file, or None when the platform delivered it before."""
        request = Request(
            name="",
            arg="",
            platform=upload.platform,
            chat_id=upload.chat_id,
            user_id=upload.user_id,
            chat_kind="",
            is_bot_admin=upload.workspace_admin
            or self.services.is_admin(upload.platform, upload.user_id),
            services=self.services,
            commands=self.commands,
            upload=upload,
        )
        return await self._chain(request)

    async def _run(self, request: Request) -> Message | None:
        if request.upload is not None:
            return await ingest_upload(request, on_stored=self._count_ingest)
        spec = request.spec
        if spec is None:
            if not request.name:
                return Message.text(
                    request._("Send {help} to see what I can do, e.g. {example}").format(
                        help=request.typed("/help"), example=request.typed("/model GLM-4.7")
                    )
                )
            return Message.text(
                request._("I don't know /{command}. Send {help} for the commands.").format(
                    command=echo(request.name, 30), help=request.typed("/help")
                )
            )
        raw = request.raw_arg
        if len(raw) > MAX_ARG * 4 or len(request.arg) > MAX_ARG:
            return Message.text(
                request.ngettext(
                    "That is {n} character; {command} takes at most {limit}. For example: {example}",
                    "That is {n} characters; {command} takes at most {limit}. For example: {example}",
                    len(raw),
                ).format(
                    n=request.words.number(len(raw)),
                    command=request.typed(f"/{spec.name}"),
                    limit=MAX_ARG,
                    example=request.typed(spec.example),
                )
            )
        if spec.needs_arg and not request.arg:
            return Message.text(
                request._("Usage: {usage} — for example: {example}").format(
                    usage=request.typed(request._(spec.usage)),
                    example=request.typed(spec.example),
                )
            )
        return await asyncio.to_thread(spec.fn, request)

    async def on_action(self, action: Action) -> Message | None:
        """The answer to a pressed button: its command, run as if typed (same middleware).

        A token that is unknown or expired, or a button that holds no command, gets a notice.
        """
        command = action.command
        if command is None and action.token:
            command = await asyncio.to_thread(self._command_of, action.token)
        incoming = Incoming(
            platform=action.platform,
            chat_id=action.chat_id,
            user_id=action.user_id,
            text=command or "",
            chat_kind=action.chat_kind,
            is_chat_admin=action.is_chat_admin,
            delivery_id=action.delivery_id,
        )
        request = self.commands.parse(incoming, self.services) if command else None
        if request is None or request.spec is None:
            log.info("button on %s: stale or unknown (%r)", action.platform, action.token)
            words = await asyncio.to_thread(self._words, action.platform, action.chat_id, None)
            again = typed(action.platform, "/help", action.chat_kind)
            return Message.text(words.gettext(STALE).format(help=again), notice=True)
        return await self._chain(dataclasses.replace(request, pressed=True))

    def _command_of(self, token: str) -> str | None:
        with self.services.store.engine.connect() as conn:
            return command_of(conn, token, self.services.clock())

    async def on_inline(self, query: InlineQuery) -> list[InlineResult]:
        """Up to ten cards matching the query text; the same text is answered from a cache for
        :data:`INLINE_CACHE_SECONDS`; they are in the sender's language (inline mode has no chat)."""
        key = " ".join(query.text.lower().split())
        if not key:
            return []
        words = translator(negotiate(query.language) or self.services.language)
        now = time.monotonic()
        cache_key = f"{words.language}:{key}"
        cached = self._inline_cache.get(cache_key)
        if cached is not None and now - cached[0] < INLINE_CACHE_SECONDS:
            return cached[1]
        results = await asyncio.to_thread(inline_results, self.services, key, words)
        if len(self._inline_cache) > 500:
            self._inline_cache.clear()
        self._inline_cache[cache_key] = (now, results)
        return results

    async def on_home(
        self,
        platform: str,
        user_id: str,
        language: str | None = None,
        chats: Collection[str] | None = None,
    ) -> Message:
        """The app's home page: the subscriptions of the conversations ``chats`` the user is in
        and the newest report's items, in the language of the user's direct chat (else
        ``language``, the user's own)."""
        words = await asyncio.to_thread(self._words, platform, user_id, language)
        return await asyncio.to_thread(
            home_page, self.services, platform, words, workspace_of(platform, user_id), chats
        )

    async def on_links(
        self, platform: str, chat_id: str, urls: Sequence[str], chat_kind: str = "channel"
    ) -> dict[str, Message]:
        """The short card of the item each link leads to, in the chat's language, its commands
        as the platform runs them (links to nothing are left out)."""
        words = await asyncio.to_thread(self._words, platform, chat_id, None)
        found = await asyncio.to_thread(link_cards, self.services, urls, words)
        menu = self.commands.menu_names()
        return {url: in_chat_words(card, platform, chat_kind, menu) for url, card in found.items()}

    def _words(self, platform: str, chat_id: str, language: str | None) -> Translator:
        """The chat's language as ``speak`` picks it, for answers that bypass the middleware."""
        try:
            with self.services.store.engine.connect() as conn:
                setting = chat_language(conn, platform, chat_id)
        except Exception:
            # As in ``speak``: an unreadable setting must not cost the answer.
            log.warning("chat language unavailable for %s:%s", platform, chat_id)
            setting = None
        return translator(resolve(setting, negotiate(language), self.services.language))

    def _count_ingest(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.ingests.labels(status).inc()


def _bind(layer: Middleware, call_next: Next) -> Next:
    async def step(request: Request) -> Message | None:
        return await layer(request, call_next)

    return step
