"""A fake Slack Web API server for slack_sdk / slack-bolt to talk to.

Point the client at it with ``AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)``.
Tests build signed requests for the bot's HTTP endpoint with :func:`signed_headers` and the
body builders :func:`slash_command_body` / :func:`event_body` (from :mod:`.slack_payloads`,
re-exported here), read what the bot posted in
:attr:`FakeSlack.sent` and :attr:`FakeSlack.responses` (``response_url`` replies), and inject
failures with :meth:`FakeSlack.fail_next`. OAuth distribution: :meth:`FakeSlack.add_workspace`
registers workspaces; the browser's visit to ``/oauth/v2/authorize`` installs into
:attr:`FakeSlack.browser_team` and redirects with a code that ``oauth.v2.access`` exchanges for
a bot token of that workspace; :meth:`FakeSlack.uninstall` revokes its tokens. Socket Mode (``apps.connections.open`` with
:data:`APP_TOKEN` and the websocket, :meth:`FakeSlack.socket_send`) is in :mod:`.slack_socket`.

As a subprocess: ``python -m tests.fakes.slack --port 0 --rate 1`` prints ``{"port": N}``;
``GET /_stats`` returns counters.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes import (
    JSON,
    FakeServer,
    Fault,
    Faults,
    Stats,
    TokenBucket,
    answer_taken,
    read_params,
    serve_until_signalled,
)
from tests.fakes.slack_payloads import (
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    app_uninstalled_event,
    block_actions_body,
    check_blocks,
    dm_event,
    event_body,
    home_opened_event,
    link_shared_event,
    mention_event,
    signed_headers,
    slash_command_body,
    tokens_revoked_event,
)
from tests.fakes.slack_socket import APP_TOKEN, SocketModeFake

__all__ = [
    "APP_TOKEN",
    "BOT_TOKEN",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "FakeSlack",
    "Posted",
    "Reply",
    "app_uninstalled_event",
    "block_actions_body",
    "dm_event",
    "event_body",
    "home_opened_event",
    "link_shared_event",
    "mention_event",
    "signed_headers",
    "slash_command_body",
    "tokens_revoked_event",
]

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret"

_ERROR_PAGE = "<html><body><h1>Service Unavailable</h1></body></html>"


@dataclass(frozen=True)
class Posted:
    """One accepted chat.postMessage / chat.postEphemeral call."""

    channel: str
    text: str
    blocks: list[JSON]
    ts: str
    options: JSON
    #: The workspace whose bot token posted it, and that token.
    team: str = TEAM_ID
    token: str = BOT_TOKEN


@dataclass
class Workspace:
    """A workspace the app may be installed in (OAuth distribution)."""

    team_id: str
    name: str
    installer: str
    bot_user_id: str
    tokens: list[str] = field(default_factory=list)  # every token issued, newest last


@dataclass(frozen=True)
class Reply:
    """One POST to a ``response_url``."""

    url_id: str
    payload: JSON


class FakeSlack(SocketModeFake, FakeServer):
    """The Web API at ``{url}/api/{method}``, file downloads, ``response_url`` endpoints and
    Socket Mode."""

    def __init__(
        self,
        bot_token: str = BOT_TOKEN,
        *,
        app_token: str = APP_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float | None = None,
        per_channel_rate: float | None = None,
        max_blocks_chars: int | None = None,
        dedup_key: Callable[[Posted], str] = lambda p: p.text,
    ) -> None:
        super().__init__(host, port)
        self.bot_token = bot_token
        self.app_token = app_token
        self.max_blocks_chars = max_blocks_chars
        #: image urls Slack "cannot download": a message with one of them is refused whole
        self.unreachable_images: set[str] = set()
        self.dedup_key = dedup_key
        self.faults = Faults()
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        #: Where the app's configuration sends installers back (``/slack/oauth_redirect``).
        self.redirect_url = ""
        #: The workspace the browser is signed in to: an authorize visit installs there.
        self.browser_team: str | None = None
        self.workspaces: dict[str, Workspace] = {}
        self._rate = TokenBucket(rate) if rate else None
        self._per_channel_rate = per_channel_rate
        self._ts = itertools.count(1)
        self.socket_init()
        self.reset()

    def reset(self) -> None:
        """Forget everything posted, registered and injected."""
        self.sent: list[Posted] = []
        self.ephemeral: list[Posted] = []
        self.responses: list[Reply] = []
        self.views: list[JSON] = []  # views.publish calls
        self.unfurls: list[JSON] = []  # chat.unfurl calls that passed
        self.calls: list[tuple[str, JSON]] = []
        self.downloads: list[str] = []
        self.stats = Stats()
        self.gone: dict[str, str] = {}
        self.users: dict[str, JSON] = {}
        #: Who is in which conversation (users.conversations answers from it).
        self.members: dict[str, set[str]] = {}
        self.files: dict[str, tuple[JSON, bytes]] = {}
        self.faults.clear()
        self._buckets: dict[str, TokenBucket] = {}
        self._response_urls: dict[str, int] = {}
        self.tokens: dict[str, str] = {}  # live bot token -> its workspace
        self.revoked: dict[str, str] = {}  # revoked bot token -> its workspace
        self.dead_token_calls: list[tuple[str, str]] = []  # (method, team) with a revoked token
        self.codes: dict[str, str] = {}  # unused code -> workspace
        self.authorize_visits: list[JSON] = []
        self.socket_reset()

    @property
    def api_url(self) -> str:
        """For ``AsyncWebClient(base_url=...)``: ends with a slash, as slack_sdk expects."""
        return f"{self.url}/api/"

    # --- test helpers ---------------------------------------------------------------------
    def response_url(self) -> str:
        """A fresh ``response_url``; like Slack's, it takes at most five replies."""
        url_id = str(len(self._response_urls) + 1)
        self._response_urls[url_id] = 0
        return f"{self.url}/_response/{url_id}"

    def add_workspace(self, team_id: str, name: str = "", installer: str = "UINSTALLER") -> None:
        """A workspace the app can be installed in; ``installer`` is who installs it."""
        self.workspaces[team_id] = Workspace(
            team_id, name or f"Team {team_id}", installer, f"UBOT{team_id}"
        )

    def uninstall(self, team_id: str) -> None:
        """The workspace removed the app: every token Slack issued there stops working."""
        for token, team in list(self.tokens.items()):
            if team == team_id:
                self.revoked[token] = self.tokens.pop(token)

    def posted_in(self, team_id: str) -> list[Posted]:
        """What was posted with the tokens of ``team_id``."""
        return [p for p in self.sent if p.team == team_id]

    def archive(self, channel: str) -> None:
        self.gone[channel] = "is_archived"

    def delete_channel(self, channel: str) -> None:
        self.gone[channel] = "channel_not_found"

    def add_user(self, user_id: str, *, is_admin: bool = False, deleted: bool = False) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": user_id.lower(),
            "is_admin": is_admin,
            "is_bot": False,
            "deleted": deleted,
        }

    def add_file(
        self, name: str, content: bytes, *, user: str = "U0USER", filetype: str = "markdown"
    ) -> JSON:
        """Register a file (for files.info and download); returns its file object."""
        file_id = f"F{len(self.files) + 1:04d}"
        info = {
            "id": file_id,
            "name": name,
            "title": name,
            "user": user,
            "size": len(content),
            "filetype": filetype,
            "mimetype": "text/markdown" if filetype == "markdown" else "text/plain",
            "url_private": f"{self.url}/files-pri/{TEAM_ID}-{file_id}/{name}",
            "url_private_download": f"{self.url}/files-pri/{TEAM_ID}-{file_id}/download/{name}",
        }
        self.files[file_id] = (info, content)
        return info

    def file_share_event(
        self,
        name: str,
        content: bytes,
        *,
        channel: str = "D0DM",
        user: str = "U0USER",
        channel_type: str = "im",
        text: str = "",
    ) -> JSON:
        """A ``message`` event with subtype ``file_share`` carrying a registered file."""
        info = self.add_file(name, content, user=user)
        return dm_event(
            text,
            channel=channel,
            user=user,
            channel_type=channel_type,
            subtype="file_share",
            files=[info],
        )

    def deliver_then_answer(self, method: str, answer: JSON, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` take effect, then answer 200 with ``answer``
        (an ``ok`` answer whose other fields a client may not read)."""
        self.faults.add(method, Fault(200, answer=answer, times=times, deliver=True))

    def deliver_then_garble(self, method: str, times: int = 1, delay: float = 0.0) -> None:
        """The next ``times`` calls of ``method`` take effect, then answer 200 with HTML."""
        self.faults.add(
            method, Fault(200, "<html>ok</html>", delay=delay, times=times, deliver=True)
        )

    def fail_next(
        self,
        method: str,
        error: str | None = None,
        *,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with a failure.

        ``fail_next("chat.postMessage", "ratelimited", status=429, retry_after=3)``;
        ``fail_next(m, status=503)`` (an HTML error page); ``fail_next(m, "is_archived")``
        (``ok: false``). With neither ``error`` nor a non-200 status it only delays.
        """
        if status == 429 and retry_after is None:
            retry_after = 1  # Slack always says how long to wait
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        answer = None if error is None and status == 200 else status
        self.faults.add(
            method, Fault(answer, error or "", headers=headers, delay=delay, times=times)
        )

    # --- the server -----------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/oauth/v2/authorize", self._authorize)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._download)
        app.router.add_post("/_response/{url_id}", self._response)
        app.router.add_get("/_stats", self._stats)
        self.add_socket_routes(app)
        return app

    async def stop(self) -> None:
        await self.socket_close_all()
        await super().stop()

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.as_json() | {"sent": len(self.sent)})

    def _authorized(self, request: web.Request, params: JSON) -> bool:
        token = self._token(request, params)
        return token == self.bot_token or token in self.tokens

    def _team(self, token: str) -> str:
        return self.tokens.get(token) or self.revoked.get(token) or TEAM_ID

    async def _authorize(self, request: web.Request) -> web.Response:
        """The browser at Slack's authorize page: it installs into :attr:`browser_team` and is
        sent back to the app's redirect URL with a code and the app's state."""
        query = dict(request.query)
        self.authorize_visits.append(query)
        team = self.workspaces.get(self.browser_team or "")
        if query.get("client_id") != self.client_id or team is None:
            return web.Response(status=400, text="invalid_client_id or no workspace signed in")
        if not query.get("scope"):
            return web.Response(status=400, text="invalid_scope")
        code = f"code-{team.team_id}-{len(self.codes) + len(self.authorize_visits)}"
        self.codes[code] = team.team_id
        back = query.get("redirect_uri") or self.redirect_url
        answer = urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
        raise web.HTTPFound(f"{back}?{answer}")

    def _oauth_access(self, request: web.Request, params: JSON) -> JSON:
        """``oauth.v2.access``: the app's credentials (Basic auth or form) and a fresh code."""
        client_id, secret = (
            str(params.get("client_id") or ""),
            str(params.get("client_secret") or ""),
        )
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if (client_id, secret) != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        team_id = self.codes.pop(str(params.get("code") or ""), None)
        if team_id is None:
            return {"ok": False, "error": "invalid_code"}
        team = self.workspaces[team_id]
        token = f"xoxb-{team_id}-{len(team.tokens) + 1}"
        team.tokens.append(token)
        self.tokens[token] = team_id
        return {
            "ok": True,
            "app_id": "A0APP",
            "authed_user": {"id": team.installer},
            "scope": "chat:write,commands",
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": team.bot_user_id,
            "team": {"id": team_id, "name": team.name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    @staticmethod
    def _token(request: web.Request, params: JSON) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ")
        return str(params.get("token") or "")

    async def _download(self, request: web.Request) -> web.Response:
        if not self._authorized(request, {}):
            # Slack answers an HTML login page, not 401, when the token is missing.
            return web.Response(text="<html>login</html>", content_type="text/html")
        file_id = request.match_info["team_file"].removeprefix(f"{TEAM_ID}-")
        if file_id not in self.files:
            return web.Response(status=404)
        self.downloads.append(file_id)
        return web.Response(body=self.files[file_id][1], content_type="application/octet-stream")

    async def _response(self, request: web.Request) -> web.Response:
        url_id = request.match_info["url_id"]
        if url_id not in self._response_urls or self._response_urls[url_id] >= 5:
            return web.Response(status=404, text="used_url")
        payload = await request.json()
        if problem := check_blocks(
            payload.get("blocks") or [], self.max_blocks_chars, frozenset(self.unreachable_images)
        ):
            return web.Response(status=400, text=problem.split(":")[0])
        self._response_urls[url_id] += 1
        self.responses.append(Reply(url_id, payload))
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await read_params(request)
        for key in ("blocks", "attachments", "unfurls"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        self.calls.append((method, params))
        if method == "chat.postMessage":
            self.stats.receive(str(params.get("channel")))
        fault = self.faults.take(method)
        if fault is not None and fault.deliver:
            await getattr(self, "_m_" + method.replace(".", "_"))(params)
            return await answer_taken(request, fault)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.status is not None:
                if method == "chat.postMessage":
                    self.stats.fail(fault.status)
                if fault.status >= 500:
                    return web.Response(
                        status=fault.status, text=_ERROR_PAGE, content_type="text/html"
                    )
                error = fault.description or (
                    "ratelimited" if fault.status == 429 else "fatal_error"
                )
                body = {"ok": False, "error": error}
                return web.json_response(body, status=fault.status, headers=fault.headers)
        if method == "apps.connections.open":
            return web.json_response(self.connections_open(self._token(request, params)))
        if method == "oauth.v2.access":
            return web.json_response(self._oauth_access(request, params))
        if not self._authorized(request, params):
            token = self._token(request, params)
            if token in self.revoked:
                self.dead_token_calls.append((method, self.revoked[token]))
                return web.json_response({"ok": False, "error": "token_revoked"})
            return web.json_response({"ok": False, "error": "invalid_auth"})
        token = self._token(request, params)
        params["__token"], params["__team"] = token, self._team(token)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
        result = await handler(params)
        if result.get("error") == "ratelimited":
            if method == "chat.postMessage":
                self.stats.fail(429)
            headers = {"Retry-After": str(result.pop("retry_after"))}
            return web.json_response(result, status=429, headers=headers)
        return web.json_response(result)

    # --- methods --------------------------------------------------------------------------
    async def _m_auth_test(self, p: JSON) -> JSON:
        team = self.workspaces.get(str(p.get("__team")))
        return {
            "ok": True,
            "url": f"{self.url}/",
            "team": team.name if team else "Fake Team",
            "user": "digestbot",
            "team_id": team.team_id if team else TEAM_ID,
            "user_id": team.bot_user_id if team else BOT_USER_ID,
            "bot_id": f"B{team.team_id}" if team else BOT_ID,
            "is_enterprise_install": False,
        }

    async def _post(self, p: JSON, into: list[Posted]) -> JSON:
        channel = str(p.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.gone:
            return {"ok": False, "error": self.gone[channel]}
        text, blocks = str(p.get("text") or ""), list(p.get("blocks") or [])
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if problem := check_blocks(
            blocks, self.max_blocks_chars, frozenset(self.unreachable_images)
        ):
            error, _, detail = problem.partition(": ")
            return {
                "ok": False,
                "error": error,
                "response_metadata": {"messages": [f"[ERROR] {detail}"]},
            }
        if wait := self._rate_wait(channel):
            return {
                "ok": False,
                "error": "ratelimited",
                "retry_after": TokenBucket.whole_seconds(wait),
            }
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        hidden = ("channel", "text", "blocks", "token", "__token", "__team")
        options = {k: v for k, v in p.items() if k not in hidden}
        team, token = str(p.get("__team") or TEAM_ID), str(p.get("__token") or self.bot_token)
        posted = Posted(channel, text, blocks, ts, options, team, token)
        into.append(posted)
        return {"ok": True, "channel": channel, "ts": ts, "posted": posted}

    def _rate_wait(self, channel: str) -> float:
        waits = [self._rate.take()] if self._rate else []
        if self._per_channel_rate:
            waits.append(
                self._buckets.setdefault(channel, TokenBucket(self._per_channel_rate)).take()
            )
        return max(waits, default=0.0)

    async def _m_chat_postMessage(self, p: JSON) -> JSON:
        result = await self._post(p, self.sent)
        if posted := result.pop("posted", None):
            self.stats.accept(posted.channel, self.dedup_key(posted))
            result["message"] = {
                "type": "message",
                "text": posted.text,
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": posted.ts,
            }
        elif result.get("error") not in ("ratelimited", None):
            self.stats.fail(200)
        return result

    async def _m_chat_postEphemeral(self, p: JSON) -> JSON:
        result = await self._post(p, self.ephemeral)
        if result.pop("posted", None):
            result["message_ts"] = result.pop("ts")
        return result

    async def _m_views_publish(self, p: JSON) -> JSON:
        view = p.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not p.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        blocks = view.get("blocks") or []
        if len(blocks) > 100:
            return {"ok": False, "error": "invalid_blocks"}
        if problem := check_blocks(blocks[:50]):
            return {"ok": False, "error": problem.split(":")[0]}
        self.views.append({"user_id": p["user_id"], "view": view, "team": p.get("__team")})
        return {"ok": True, "view": {"id": "V0HOME", **view}}

    async def _m_chat_unfurl(self, p: JSON) -> JSON:
        """Unfurls of a posted message (``channel`` and ``ts``) or of a message being written
        (``unfurl_id`` and ``source``): each url's blocks are checked as a message's are."""
        unfurls = p.get("unfurls")
        by_message = p.get("channel") and p.get("ts")
        by_id = p.get("unfurl_id") and p.get("source")
        if not isinstance(unfurls, dict) or not unfurls or not (by_message or by_id):
            return {"ok": False, "error": "invalid_arguments"}
        for unfurl in unfurls.values():
            blocks = unfurl.get("blocks") if isinstance(unfurl, dict) else None
            if not blocks or check_blocks(blocks):
                return {"ok": False, "error": "invalid_unfurls"}
        self.unfurls.append(p)
        return {"ok": True}

    async def _m_conversations_info(self, p: JSON) -> JSON:
        channel = str(p.get("channel"))
        if self.gone.get(channel) == "channel_not_found":
            return {"ok": False, "error": "channel_not_found"}
        is_im = channel.startswith("D")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": not is_im,
                "is_im": is_im,
                "is_private": False,
                "is_archived": self.gone.get(channel) == "is_archived",
                "is_member": True,
                "num_members": len(self.members.get(channel, [])),
            },
        }

    async def _m_conversations_members(self, p: JSON) -> JSON:
        members = sorted(self.members.get(str(p.get("channel")), set()))
        return {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}

    def join(self, channel: str, *users: str) -> None:
        """``users`` are members of ``channel`` (as the bot is)."""
        self.members.setdefault(channel, set()).update(users)

    async def _m_users_conversations(self, p: JSON) -> JSON:
        user = str(p.get("user"))
        ids = sorted(c for c, members in self.members.items() if user in members)
        return {
            "ok": True,
            "channels": [{"id": c} for c in ids],
            "response_metadata": {"next_cursor": ""},
        }

    async def _m_users_info(self, p: JSON) -> JSON:
        user = str(p.get("user"))
        if user not in self.users:
            self.add_user(user)
        return {"ok": True, "user": self.users[user]}

    async def _m_files_info(self, p: JSON) -> JSON:
        file_id = str(p.get("file"))
        if file_id not in self.files:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": self.files[file_id][0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Slack Web API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=BOT_TOKEN)
    parser.add_argument("--rate", type=float, default=None, help="messages/s across channels")
    parser.add_argument(
        "--per-channel-rate", type=float, default=None, help="messages/s per channel"
    )
    args = parser.parse_args(argv)
    fake = FakeSlack(
        args.token,
        host=args.host,
        port=args.port,
        rate=args.rate,
        per_channel_rate=args.per_channel_rate,
    )
    asyncio.run(serve_until_signalled(fake))


if __name__ == "__main__":
    main()
