"""The Slack adapter, on slack-bolt (async) and slack_sdk.

Socket Mode when an app-level token is given (``connect_async``/``close_async`` inside the
gateway's loop), else HTTP mode: :meth:`SlackChannel.web_routes` returns the ``POST
/slack/events`` route that the gateway mounts on its aiohttp server. Every request is checked
by :mod:`channels.slack.inbound` before anything parses it (size, signature and timestamp, then
the body's shape: 413, 401 or 400 and a rate-limited log line), then Bolt routes it.

Slash commands (``/model GLM-4.7``), mentions (``@digestbot model GLM-4.7``) and direct
messages become :class:`~channels.base.Incoming`; ``.md`` file shares become
:class:`~channels.base.Upload`. Slack retries events it thinks were missed: they are
deduplicated on ``event_id`` (or, without one, on the event's envelope) through the gateway's
``first_seen``; a replayed slash command is, on the signed request's own id.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import (
    ChatGone,
    Handler,
    Incoming,
    MaybeDelivered,
    Pace,
    ReplyPace,
    RetryLater,
    SendError,
    TransientSendError,
    Upload,
    reply_pace,
    replying,
    retrying_reply,
)
from channels.refusals import RefusalLog
from channels.slack import inbound
from digests.message import Message

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".md", ".markdown")
GONE_ERRORS = frozenset(
    {"channel_not_found", "is_archived", "not_in_channel", "account_inactive", "user_disabled"}
)
TRANSIENT_ERRORS = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
MAX_RESPONSE_URL_REPLIES = 5
_LEADING_MENTIONS = re.compile(r"^(?:\s*<@[A-Z0-9]+(?:\|[^>]*)?>)+\s*")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|[^>]*)?>")


async def _member_may_manage() -> bool:
    # Whoever can post in a Slack conversation may manage its subscriptions.
    return True


def command_text(text: str) -> str:
    """A mention or DM as a command: ``<@U1> model <https://x|x> &amp; y`` -> ``/model https://x & y``."""
    text = _LEADING_MENTIONS.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()
    if not text:
        return "/help"
    return "/" + text.lstrip("/／")  # ／: the full-width slash of Chinese input methods


class SlackChannel:
    """A :class:`~channels.base.Channel` for one Slack workspace app."""

    name = "slack"

    def __init__(
        self,
        bot_token: str,
        *,
        signing_secret: str = "",
        app_token: str | None = None,
        api_url: str = "https://slack.com/api/",
        commands: Sequence[str] = (),
        events_path: str = "/slack/events",
        slash_response_type: str = "in_channel",
        drain_timeout: float = 10.0,
        images: bool = True,
        namespace: str | None = None,
        threads: bool = False,
        pace: ReplyPace | None = None,
    ) -> None:
        """Build the Bolt app; no I/O happens until :meth:`start` or the first request.

        ``pace`` waits for the turn of each part of a reply after the first.

        Args:
            bot_token: The ``xoxb-`` bot token.
            signing_secret: Verifies HTTP-mode requests (required in HTTP mode).
            app_token: An ``xapp-`` token selects Socket Mode.
            api_url: Web API base URL (tests, proxies); ends with ``/``.
            commands: Slash command names (``model`` or ``/model``); empty means any.
            events_path: Where :meth:`web_routes` listens in HTTP mode.
            slash_response_type: ``in_channel`` (everyone sees answers) or ``ephemeral``.
            drain_timeout: How long :meth:`stop` waits for replies in flight.
            images: Figures as image blocks (``DIGESTBOT_IMAGES``); else as links.
            namespace: The slash command whose text is the command (``/digestbot model X``).
            threads: Post a digest as one parent message and each entry's card in its thread.
        """
        self._images = images
        self.done = asyncio.Event()  # never set: the gateway stops this channel
        self._token = bot_token
        self._app_token = app_token
        self.events_path = events_path
        self._response_type = slash_response_type
        self._drain_timeout = drain_timeout
        self._namespace = f"/{namespace}" if namespace else None
        self._threads = threads
        self._pace = pace
        self._handler: Handler | None = None
        self._inflight: set[asyncio.Task[Any]] = set()
        self._socket: Any = None
        self._locales: dict[str, str | None] = {}
        self._signing_secret = signing_secret
        self._refusals = RefusalLog("slack", inbound.log)
        # No AsyncRateLimitErrorRetryHandler: a 429 must reach the outbox, which schedules retries.
        self._client = AsyncWebClient(token=bot_token, base_url=api_url)
        self._api_host = (urlsplit(api_url).hostname or "").lower()
        self._app = AsyncApp(
            name="digestbot",
            client=self._client,
            signing_secret=signing_secret,
            process_before_response=False,
        )
        names = "|".join(re.escape(c.lstrip("/")) for c in commands) or r"[^\s]+"
        self._app.command(re.compile(rf"^/(?:{names})$"))(self._on_slash)
        self._app.event("app_mention")(self._on_mention)
        self._app.event("message")(self._on_message)
        from channels.slack.home import ACTION_ID, on_button, on_home_opened

        self._app.action(ACTION_ID)(partial(on_button, self))
        self._app.event("app_home_opened")(partial(on_home_opened, self))

    # --- life cycle -----------------------------------------------------------------------
    async def start(self, handler: Handler) -> None:
        """Check the token (``auth.test``) and, in Socket Mode, connect."""
        self._handler = handler
        auth = await self._client.auth_test()
        log.info("slack: started as %s in %s", auth.get("user"), auth.get("team"))
        if self._app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            # The socket client retries a refused app token forever, every 10 s: ask for the
            # first URL here so that a wrong token fails start() as a wrong bot token does.
            opened = await self._client.apps_connections_open(app_token=self._app_token)
            self._socket = AsyncSocketModeHandler(self._app, self._app_token)
            self._socket.client.wss_uri = opened["url"]
            await self._socket.connect_async()

    def connected(self) -> bool:
        """Started, and (in Socket Mode) holding an open websocket (not reconnecting)."""
        if self._handler is None:
            return False
        if not self._app_token:
            return True
        session = getattr(getattr(self._socket, "client", None), "current_session", None)
        return session is not None and not session.closed

    async def stop(self) -> None:
        """Disconnect and wait (up to ``drain_timeout``) for replies in flight."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=self._drain_timeout)
        self._handler = None

    # --- HTTP mode ------------------------------------------------------------------------
    def web_routes(self) -> list[web.RouteDef]:
        """The Events API / slash command route for the gateway's aiohttp app (HTTP mode)."""
        if self._app_token:
            return []
        return [web.post(self.events_path, self._on_http)]

    async def _on_http(self, request: web.Request) -> web.Response:
        if self._handler is None:
            return web.Response(status=503, text="not started")
        raw = await inbound.read_body(request)
        if isinstance(raw, inbound.Refusal):
            return self._refuse(raw)
        refusal = inbound.check_signature(self._signing_secret, request.headers, raw)
        if refusal is not None:
            return self._refuse(refusal)
        body = inbound.parse_body(raw, request.headers.get("Content-Type"))
        if isinstance(body, inbound.Refusal):
            return self._refuse(body)
        # Bolt is handed the object checked above. Its HTTP mode would take only the text, parse
        # it again and verify it again, and it takes any form whose text says "payload" for an
        # interactive payload (so "/digestbot paper payload" went unanswered): "socket_mode"
        # is Bolt's name for a request that arrives parsed and needs no signature check.
        bolt_request = AsyncBoltRequest(
            body=body,
            query=request.query_string,
            headers=dict(request.headers),
            context={inbound.DELIVERY_KEY: inbound.request_delivery_id(request.headers, raw)},
            mode="socket_mode",
        )
        return await to_aiohttp_response(await self._app.async_dispatch(bolt_request))

    def _refuse(self, refusal: inbound.Refusal) -> web.Response:
        self._refusals.refused(refusal)
        return web.Response(status=refusal.status, text=f"refused: {refusal.kind}")

    # --- listeners ------------------------------------------------------------------------
    @property
    def client(self) -> AsyncWebClient:
        """The Web API client (the interactive handlers in :mod:`channels.slack.home` use it)."""
        return self._client

    async def track(self, work: Callable[[Handler], Awaitable[None]]) -> None:
        """Run listener work as in flight (see :meth:`_track`), for :mod:`channels.slack.home`."""
        await self._track(work)

    async def _track(self, work: Callable[[Handler], Awaitable[None]]) -> None:
        """Run one piece of listener work, counted as in flight for :meth:`stop`."""
        handler = self._handler
        task = asyncio.current_task()
        if handler is None or task is None:
            return
        self._inflight.add(task)
        try:
            with replying():  # a reply's parts keep their chat's turn (see channels.base)
                await work(handler)
        except SendError as exc:
            log.warning("slack: could not reply: %s", exc)
        except Exception:
            # The boundary of a background task: log it, keep serving other requests.
            log.exception("slack: failed handling a request")
        finally:
            self._inflight.discard(task)

    async def _on_slash(
        self,
        ack: Callable[[], Awaitable[Any]],
        body: dict[str, Any],
        respond: Callable[..., Awaitable[Any]],
        context: dict[str, Any],
    ) -> None:
        await ack()  # within 3 s; the answer goes to response_url
        # Slack never retries a slash command: the same signed request again is a replay.
        delivery = context.get(inbound.DELIVERY_KEY)

        name, text = str(body.get("command", "")), str(body.get("text", ""))
        # /digestbot model GLM-4.7: the text is the command (/digestbot alone is /help).
        typed = command_text(text) if name == self._namespace else command_text(f"{name} {text}")

        async def work(handler: Handler) -> None:
            incoming = Incoming(
                platform="slack",
                chat_id=str(body.get("channel_id", "")),
                user_id=str(body.get("user_id", "")),
                text=typed,
                chat_kind="im" if body.get("channel_name") == "directmessage" else "channel",
                chat_title=str(body.get("channel_name", "")),
                is_chat_admin=_member_may_manage,
                delivery_id=delivery,
                language=await self._locale(str(body.get("user_id", ""))),
            )
            reply = await handler.on_command(incoming)
            if reply is not None:
                pace = self.pace_for(incoming.chat_id, incoming.chat_kind)
                await self._respond(respond, reply, pace=pace)

        await self._track(work)

    async def user_locale(self, user_id: str) -> str | None:
        """The user's Slack locale (``zh-CN``), or None; asked of Slack once per user."""
        return await self._locale(user_id)

    def pace_for(self, chat_id: str, kind: str) -> Pace | None:
        """The pace of a reply's parts to ``chat_id``."""
        return reply_pace(self._pace, "slack", chat_id, kind)

    async def _locale(self, user_id: str) -> str | None:
        """The user's Slack locale (``zh-CN``), asked once per user; None when Slack won't say."""
        if not user_id:
            return None
        if user_id not in self._locales:
            try:
                response = await self._client.users_info(user=user_id, include_locale=True)
                locale = (response.get("user") or {}).get("locale")
            except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("slack: no locale for %s: %s", user_id, exc)
                locale = None
            self._locales[user_id] = str(locale) if locale else None
        return self._locales[user_id]

    async def respond(
        self,
        respond: Callable[..., Awaitable[Any]],
        reply: Message,
        *,
        pace: Pace | None = None,
        **extra: Any,
    ) -> None:
        """Answer through a ``response_url`` (``extra``: ``replace_original`` and the like)."""
        await self._respond(respond, reply, pace=pace, **extra)

    async def _respond(
        self,
        respond: Callable[..., Awaitable[Any]],
        reply: Message,
        *,
        pace: Pace | None = None,
        **extra: Any,
    ) -> None:
        from channels.slack.render import has_images, images_as_links, render_slack

        payloads = render_slack(reply, images=self._images)
        if len(payloads) > MAX_RESPONSE_URL_REPLIES:
            log.warning(
                "slack: reply has %d parts, response_url takes %d",
                len(payloads),
                MAX_RESPONSE_URL_REPLIES,
            )
        for n, payload in enumerate(payloads[:MAX_RESPONSE_URL_REPLIES]):
            if n and pace is not None:
                await pace()  # each part waits for its own turn
            options = {"response_type": self._response_type} | (extra if n == 0 else {})
            result = await respond(dict(payload, **options))
            if getattr(result, "status_code", 200) != 200 and has_images(payload):
                # an image Slack could not fetch refuses the reply: again, figures as links
                result = await respond(dict(images_as_links(payload), **options))
            if getattr(result, "status_code", 200) != 200:
                log.warning(
                    "slack: response_url answered %s: %s",
                    result.status_code,
                    getattr(result, "body", ""),
                )

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        delivery = inbound.event_delivery_id(body)

        async def work(handler: Handler) -> None:
            await self._command_event(
                handler, event, "channel", event.get("thread_ts") or event.get("ts"), delivery
            )

        await self._track(work)

    async def _on_message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        subtype = event.get("subtype")
        is_dm = event.get("channel_type") == "im"
        if event.get("bot_id") or subtype not in (None, "file_share"):
            return
        if not is_dm and subtype != "file_share":
            return  # channel chatter; mentions arrive as app_mention
        delivery = inbound.event_delivery_id(body)

        async def work(handler: Handler) -> None:
            if subtype == "file_share":
                await self._file_share(handler, event, delivery)
            elif event.get("text"):
                await self._command_event(handler, event, "im", None, delivery)

        await self._track(work)

    async def _command_event(
        self,
        handler: Handler,
        event: dict[str, Any],
        kind: str,
        thread_ts: str | None,
        delivery: str | None,
    ) -> None:
        incoming = Incoming(
            platform="slack",
            chat_id=str(event.get("channel", "")),
            user_id=str(event.get("user", "")),
            text=command_text(str(event.get("text", ""))),
            chat_kind=kind,
            is_chat_admin=_member_may_manage,
            delivery_id=delivery,
            language=await self._locale(str(event.get("user", ""))),
        )
        reply = await handler.on_command(incoming)
        if reply is not None:
            pace = reply_pace(self._pace, "slack", incoming.chat_id, kind)
            await retrying_reply(
                lambda: self._post(incoming.chat_id, reply, thread_ts=thread_ts, pace=pace),
                pace=pace,
            )

    async def _file_share(
        self, handler: Handler, event: dict[str, Any], delivery: str | None
    ) -> None:
        channel = str(event.get("channel", ""))
        for file in event.get("files") or []:
            name = str(file.get("name") or "")
            if not name.lower().endswith(UPLOAD_SUFFIXES):
                continue
            upload = Upload(
                platform="slack",
                chat_id=channel,
                user_id=str(event.get("user", "")),
                filename=name,
                size=file.get("size"),
                fetch=self._fetcher(str(file.get("url_private_download") or "")),
                delivery_id=f"{delivery}:{file.get('id', name)}" if delivery else None,
            )
            reply = await handler.on_upload(upload)
            if reply is None:
                continue
            thread_ts = None if event.get("channel_type") == "im" else event.get("ts")
            pace = reply_pace(self._pace, "slack", channel, str(event.get("channel_type", "")))
            await retrying_reply(
                partial(self._post, channel, reply, thread_ts=thread_ts, pace=pace), pace=pace
            )

    def _fetcher(self, url: str) -> Callable[[], Awaitable[bytes]]:
        async def fetch() -> bytes:
            host = (urlsplit(url).hostname or "").lower()
            if not _slack_host(host) and host != self._api_host:
                # The download carries the bot token: only to Slack (or the configured API host).
                raise PermissionError(f"slack: a shared file must come from slack.com, not {host}")
            headers = {"Authorization": f"Bearer {self._token}"}
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, headers=headers) as resp,
            ):
                resp.raise_for_status()
                if resp.content_type == "text/html":
                    # Slack answers a login page, not an error status, when not authorized.
                    raise PermissionError(f"slack: not authorized to download {url}")
                return await resp.read()

        return fetch

    # --- outgoing -------------------------------------------------------------------------
    async def send(
        self, chat_id: str, message: Message, *, skip: int = 0, pace: Pace | None = None
    ) -> list[str]:
        """Post ``message`` (one ``chat.postMessage`` per part, but the first ``skip``) and return
        each part's ``ts``.

        Raises:
            SendError: a subclass per failure kind, with ``sent_ids`` of the parts posted.
        """
        if self._threads and message.thread:
            from channels.slack.home import post_threaded

            return await post_threaded(self, chat_id, message, skip=skip, pace=pace)
        return await self._post(chat_id, message, skip=skip, pace=pace)

    async def post(
        self,
        chat_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        skip: int = 0,
        pace: Pace | None = None,
    ) -> list[str]:
        """``chat.postMessage`` for each part (in a thread when ``thread_ts`` is given)."""
        return await self._post(chat_id, message, thread_ts=thread_ts, skip=skip, pace=pace)

    @property
    def handler(self) -> Handler | None:
        return self._handler

    @property
    def images(self) -> bool:
        """Whether figures go as image blocks (``DIGESTBOT_IMAGES``)."""
        return self._images

    async def _post(
        self,
        chat_id: str,
        message: Message,
        *,
        thread_ts: str | None = None,
        skip: int = 0,
        pace: Pace | None = None,
    ) -> list[str]:
        from channels.slack.render import has_images, images_as_links, render_slack

        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        ids: list[str] = []
        for payload in render_slack(message, images=self._images)[skip:]:
            if ids and pace is not None:
                await pace()  # each part waits for its own turn
            try:
                try:
                    response = await self._client.chat_postMessage(
                        channel=chat_id, **payload, **extra
                    )
                except SlackApiError as exc:
                    # Slack fetches every image itself and refuses the whole message when one
                    # fails: send the figures as links instead, once
                    if not has_images(payload) or _error_of(exc) != "invalid_blocks":
                        raise
                    log.info("slack: an image was refused (%s); sending it as a link", exc)
                    response = await self._client.chat_postMessage(
                        channel=chat_id, **images_as_links(payload), **extra
                    )
            except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                error = convert_error(exc)
                error.sent_ids = tuple(ids)
                raise error from exc
            ids.append(str(response.get("ts")))
        return ids


def _error_of(exc: SlackApiError) -> str | None:
    data = getattr(exc.response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    return str(error) if error else None


def convert_error(exc: Exception) -> SendError:
    """Map a slack_sdk / aiohttp error to the channel error tree (see :mod:`channels.base`)."""
    if not isinstance(exc, SlackApiError):
        if isinstance(exc, _MAYBE_SENT) and not isinstance(exc, aiohttp.ConnectionTimeoutError):
            return MaybeDelivered(f"slack: {exc!r}")
        return TransientSendError(f"slack: {exc!r}")
    response = exc.response
    status = int(getattr(response, "status_code", getattr(response, "status", 0)) or 0)
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if status == 200 and not error:
        # A 200 whose body is not Slack's JSON: the post may well have gone through.
        return MaybeDelivered("slack: unreadable answer to a post (HTTP 200)")
    if status == 429 or error == "ratelimited":
        return RetryLater(
            _retry_after(getattr(response, "headers", None)), f"slack: {error or status}"
        )
    if error in GONE_ERRORS:
        return ChatGone(f"slack: {error}")
    if status >= 500 or error in TRANSIENT_ERRORS:
        return TransientSendError(f"slack: {error or status}")
    return SendError(f"slack: {error or status}")


#: Failures after the request left: a timeout waiting for the answer, a dropped connection.
_MAYBE_SENT = (
    TimeoutError,
    aiohttp.ServerTimeoutError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
)


def _retry_after(headers: Any) -> float:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


def _slack_host(host: str) -> bool:
    return host == "slack.com" or host.endswith(".slack.com")
