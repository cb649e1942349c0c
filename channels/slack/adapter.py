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

from channels.base import Handler, Incoming, Pace, ReplyPace, SendError, Upload
from channels.refusals import RefusalLog
from channels.sender import Inflight, Post, Sender, answer_came
from channels.slack import inbound
from channels.slack.errors import TABLE, error_of
from channels.slack.home import (
    ACTION_ID,
    LINK_ID,
    on_button,
    on_home_opened,
    on_link_button,
    post_threaded,
)
from channels.slack.oauth import (
    Clients,
    OAuthConfig,
    listen_for_uninstalls,
    oauth_routes,
    oauth_settings,
    workspace_key,
)
from channels.slack.render import has_images, images_as_links, render_slack
from channels.slack.unfurl import on_link_shared
from digests.message import Message

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".md", ".markdown")
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
    """A :class:`~channels.base.Channel` for one Slack workspace app, or (``oauth``) for every
    workspace that installs it: then chat and user ids are ``TEAM:ID`` (``T123:C456``) and each
    send goes with its workspace's token (:mod:`channels.slack.oauth`)."""

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
        oauth: OAuthConfig | None = None,
    ) -> None:
        """Build the Bolt app; no I/O happens until :meth:`start` or the first request.

        ``pace`` waits for the turn of each part of a reply (its sender calls it).

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
            oauth: Install through OAuth in any workspace (no ``bot_token``): ``/slack/install``.
        """
        self._images = images
        self.done = asyncio.Event()  # never set: the gateway stops this channel
        self._app_token = app_token
        self.events_path = events_path
        self._response_type = slash_response_type
        self._drain_timeout = drain_timeout
        self._namespace = f"/{namespace}" if namespace else None
        self._threads = threads
        self._sender = Sender("slack", TABLE, pace)
        self.inflight = Inflight("slack")
        self._socket: Any = None
        self._locales: dict[str, str | None] = {}
        self._signing_secret = signing_secret
        self._refusals = RefusalLog("slack", inbound.log)
        # No retry handlers at all: a 429 must reach the outbox, which schedules retries, and
        # slack_sdk's default connection-error retry would post a message that may have gone
        # through once more inside each of the outbox's tries.
        self._client = AsyncWebClient(token=bot_token or None, base_url=api_url, retry_handlers=[])
        self._api_host = (urlsplit(api_url).hostname or "").lower()
        self._oauth = oauth
        self._clients = Clients(oauth.installations, api_url) if oauth is not None else None
        self._app = AsyncApp(
            name="digestbot",
            client=self._client,
            signing_secret=signing_secret,
            process_before_response=False,
            oauth_settings=oauth_settings(oauth) if oauth is not None else None,
        )
        names = "|".join(re.escape(c.lstrip("/")) for c in commands) or r"[^\s]+"
        self._app.command(re.compile(rf"^/(?:{names})$"))(self._on_slash)
        self._app.event("app_mention")(self._on_mention)
        self._app.event("message")(self._on_message)
        self._app.action(ACTION_ID)(partial(on_button, self))
        self._app.action(LINK_ID)(on_link_button)
        self._app.event("app_home_opened")(partial(on_home_opened, self))
        self._app.event("link_shared")(partial(on_link_shared, self))
        if oauth is not None:
            listen_for_uninstalls(self._app, oauth.installations, self.workspace)

    # --- life cycle -----------------------------------------------------------------------
    async def start(self, handler: Handler) -> None:
        """Check the token (``auth.test``) and, in Socket Mode, connect."""
        self.inflight.handler = handler
        if self._oauth is not None:
            log.info("slack: installs at %s, for any workspace", self._install_path())
            return
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
        if self.inflight.handler is None:
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
        await self.inflight.drain(self._drain_timeout)

    # --- HTTP mode ------------------------------------------------------------------------
    def web_routes(self) -> list[web.RouteDef]:
        """The Events API / slash command route for the gateway's aiohttp app (HTTP mode)."""
        if self._app_token:
            return []
        routes = [web.post(self.events_path, self._on_http)]
        flow = self._app.oauth_flow
        if flow is not None:
            routes += oauth_routes(flow)
        return routes

    def _install_path(self) -> str:
        flow = self._app.oauth_flow
        return flow.install_path if flow is not None else ""

    # --- workspaces (OAuth mode) ----------------------------------------------------------
    def workspace(self, context: dict[str, Any]) -> str | None:
        """The workspace an update came from, in OAuth mode (None for one workspace)."""
        if self._oauth is None:
            return None
        return (
            workspace_key(
                context.get("enterprise_id"),
                context.get("team_id"),
                context.get("is_enterprise_install"),
            )
            or None
        )

    def address(self, context: dict[str, Any], slack_id: str) -> str:
        """A chat or user id as the gateway knows it: ``T123:C456`` in OAuth mode."""
        where = self.workspace(context)
        return f"{where}:{slack_id}" if where and slack_id else slack_id

    async def is_installer(self, context: dict[str, Any], user: str) -> bool:
        """Whether ``user`` installed the app in the update's workspace (a bot admin there)."""
        where = self.workspace(context)
        if where is None or self._clients is None or not user:
            return False
        return await self._clients.installer(where) == user

    async def client_for(self, address: str) -> tuple[AsyncWebClient, str]:
        """The client to reach ``address`` with, and its id as Slack knows it.

        Raises:
            TransientSendError: in OAuth mode, the workspace has not installed the app.
        """
        if self._clients is None:
            return self._client, address
        where, _, slack_id = address.rpartition(":")
        return await self._clients.of(where), slack_id

    async def _on_http(self, request: web.Request) -> web.Response:
        if self.inflight.handler is None:
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
            user = str(body.get("user_id", ""))
            incoming = Incoming(
                platform="slack",
                chat_id=self.address(context, str(body.get("channel_id", ""))),
                user_id=self.address(context, user),
                text=typed,
                chat_kind="im" if body.get("channel_name") == "directmessage" else "channel",
                chat_title=str(body.get("channel_name", "")),
                is_chat_admin=_member_may_manage,
                delivery_id=delivery,
                language=await self._locale(self.address(context, user)),
                workspace_admin=await self.is_installer(context, user),
            )
            reply = await handler.on_command(incoming)
            if reply is not None:
                await self.respond(respond, reply, incoming.chat_id, incoming.chat_kind)

        await self.inflight.run(work)

    async def user_locale(self, user_id: str) -> str | None:
        """The user's Slack locale (``zh-CN``), or None; asked of Slack once per user."""
        return await self._locale(user_id)

    async def _locale(self, user_id: str) -> str | None:
        """The user's Slack locale (``zh-CN``), asked once per user; None when Slack won't say."""
        if not user_id:
            return None
        if user_id not in self._locales:
            try:
                client, slack_id = await self.client_for(user_id)
                response = await client.users_info(user=slack_id, include_locale=True)
                locale = (response.get("user") or {}).get("locale")
            except (
                SlackApiError,
                SlackClientError,
                SendError,
                aiohttp.ClientError,
                TimeoutError,
            ) as exc:
                log.info("slack: no locale for %s: %s", user_id, exc)
                locale = None
            self._locales[user_id] = str(locale) if locale else None
        return self._locales[user_id]

    async def respond(
        self,
        respond: Callable[..., Awaitable[Any]],
        reply: Message,
        chat_id: str,
        chat_kind: str,
        **extra: Any,
    ) -> None:
        """Answer in ``chat_id`` through a ``response_url`` (``extra``: ``replace_original`` and
        the like, on the first part)."""
        payloads = render_slack(reply, images=self._images)
        if len(payloads) > MAX_RESPONSE_URL_REPLIES:
            log.warning(
                "slack: reply has %d parts, response_url takes %d",
                len(payloads),
                MAX_RESPONSE_URL_REPLIES,
            )

        async def post(n: int, payload: dict[str, Any]) -> str:
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
            return ""

        await self._sender.reply(chat_id, chat_kind, payloads[:MAX_RESPONSE_URL_REPLIES], post)

    async def reply(
        self, chat_id: str, chat_kind: str, reply: Message, *, thread_ts: str | None = None
    ) -> list[str]:
        """Answer in ``chat_id`` (in a thread when ``thread_ts`` is given) with new messages."""
        payloads = render_slack(reply, images=self._images)
        return await self._sender.reply(
            chat_id, chat_kind, payloads, self._posting(chat_id, thread_ts)
        )

    async def ephemeral(self, chat_id: str, chat_kind: str, user_id: str, text: str) -> None:
        """A message in ``chat_id`` that only ``user_id`` sees."""

        async def post(n: int, text: str) -> str:
            client, channel = await self.client_for(chat_id)
            _, user = await self.client_for(user_id)
            await client.chat_postEphemeral(channel=channel, user=user, text=text)
            return ""

        await self._sender.reply(chat_id, chat_kind, [text], post)

    async def _on_mention(
        self, body: dict[str, Any], event: dict[str, Any], context: dict[str, Any]
    ) -> None:
        delivery = inbound.event_delivery_id(body)

        async def work(handler: Handler) -> None:
            await self._command_event(
                handler,
                event,
                context,
                "channel",
                event.get("thread_ts") or event.get("ts"),
                delivery,
            )

        await self.inflight.run(work)

    async def _on_message(
        self, body: dict[str, Any], event: dict[str, Any], context: dict[str, Any]
    ) -> None:
        subtype = event.get("subtype")
        is_dm = event.get("channel_type") == "im"
        if event.get("bot_id") or subtype not in (None, "file_share"):
            return
        if not is_dm and subtype != "file_share":
            return  # channel chatter; mentions arrive as app_mention
        delivery = inbound.event_delivery_id(body)

        async def work(handler: Handler) -> None:
            if subtype == "file_share":
                await self._file_share(handler, event, context, delivery)
            elif event.get("text"):
                await self._command_event(handler, event, context, "im", None, delivery)

        await self.inflight.run(work)

    async def _command_event(
        self,
        handler: Handler,
        event: dict[str, Any],
        context: dict[str, Any],
        kind: str,
        thread_ts: str | None,
        delivery: str | None,
    ) -> None:
        user = str(event.get("user", ""))
        incoming = Incoming(
            platform="slack",
            chat_id=self.address(context, str(event.get("channel", ""))),
            user_id=self.address(context, user),
            text=command_text(str(event.get("text", ""))),
            chat_kind=kind,
            is_chat_admin=_member_may_manage,
            delivery_id=delivery,
            workspace_admin=await self.is_installer(context, user),
            language=await self._locale(self.address(context, user)),
        )
        reply = await handler.on_command(incoming)
        if reply is not None:
            await self.reply(incoming.chat_id, kind, reply, thread_ts=thread_ts)

    async def _file_share(
        self,
        handler: Handler,
        event: dict[str, Any],
        context: dict[str, Any],
        delivery: str | None,
    ) -> None:
        channel = self.address(context, str(event.get("channel", "")))
        user = str(event.get("user", ""))
        admin = await self.is_installer(context, user)
        for file in event.get("files") or []:
            name = str(file.get("name") or "")
            if not name.lower().endswith(UPLOAD_SUFFIXES):
                continue
            upload = Upload(
                platform="slack",
                chat_id=channel,
                user_id=self.address(context, user),
                filename=name,
                size=file.get("size"),
                fetch=self._fetcher(str(file.get("url_private_download") or ""), channel),
                delivery_id=f"{delivery}:{file.get('id', name)}" if delivery else None,
                workspace_admin=admin,
            )
            reply = await handler.on_upload(upload)
            if reply is None:
                continue
            thread_ts = None if event.get("channel_type") == "im" else event.get("ts")
            await self.reply(
                channel, str(event.get("channel_type", "")), reply, thread_ts=thread_ts
            )

    def _fetcher(self, url: str, chat_id: str) -> Callable[[], Awaitable[bytes]]:
        async def fetch() -> bytes:
            host = (urlsplit(url).hostname or "").lower()
            if not _slack_host(host) and host != self._api_host:
                # The download carries the bot token: only to Slack (or the configured API host).
                raise PermissionError(f"slack: a shared file must come from slack.com, not {host}")
            client, _ = await self.client_for(chat_id)  # the token of the chat's workspace
            headers = {"Authorization": f"Bearer {client.token}"}
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
            return await post_threaded(self, chat_id, message, skip=skip, pace=pace)
        return await self.post(chat_id, message, skip=skip, pace=pace)

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
        payloads = render_slack(message, images=self._images)
        return await self._sender.send(
            payloads, self._posting(chat_id, thread_ts), skip=skip, pace=pace
        )

    @property
    def handler(self) -> Handler | None:
        return self.inflight.handler

    @property
    def images(self) -> bool:
        """Whether figures go as image blocks (``DIGESTBOT_IMAGES``)."""
        return self._images

    def _posting(self, chat_id: str, thread_ts: str | None) -> Post[dict[str, Any]]:
        """How one part is posted to ``chat_id``."""
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}

        async def post(n: int, payload: dict[str, Any]) -> str:
            client, channel = await self.client_for(chat_id)
            try:
                response = await client.chat_postMessage(channel=channel, **payload, **extra)
            except SlackApiError as exc:
                # Slack fetches every image itself and refuses the whole message when one fails:
                # send the figures as links instead, once
                if not has_images(payload) or error_of(exc) != "invalid_blocks":
                    raise
                log.info("slack: an image was refused (%s); sending it as a link", exc)
                response = await client.chat_postMessage(
                    channel=channel, **images_as_links(payload), **extra
                )
            answer_came(True)  # ok: posted, whatever else the answer holds
            ts = response.get("ts")
            return str(ts) if ts is not None else ""

        return post


def _slack_host(host: str) -> bool:
    return host == "slack.com" or host.endswith(".slack.com")
