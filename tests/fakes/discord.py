"""A fake Discord (REST API and gateway) for the real discord.py to talk to.

Point discord.py at it with ``DIGESTBOT_DISCORD_API_URL`` (``fake.api_url``) and
``DIGESTBOT_DISCORD_GATEWAY_URL`` (``fake.gateway_url``). The gateway says HELLO, answers
IDENTIFY with READY and heartbeats with ACKs; tests dispatch events with
:meth:`FakeDiscord.slash` (an ``INTERACTION_CREATE``), :meth:`FakeDiscord.press` (one of type 3,
a button component pressed on a message the bot posted) and :meth:`FakeDiscord.user_message` (a
``MESSAGE_CREATE``). The REST side records command syncs, interaction callbacks (type 4 with its
flags, 6 deferred update, 7 update message: :attr:`FakeDiscord.callbacks`), edits of an
interaction's original message (:attr:`FakeDiscord.edits`), follow-ups and channel messages
(:attr:`FakeDiscord.sent`, with their components), serves attachments, and fails on demand
(:meth:`FakeDiscord.rate_limit`, :meth:`FakeDiscord.forbid`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes import JSON, FakeServer, Faults, answer_taken

TOKEN = "fake.discord.token"
APP_ID = 900000000000000001
BOT_ID = 900000000000000002
GUILD_ID = 900000000000000100


@dataclass(frozen=True)
class Posted:
    """One message the bot posted: to a channel, or as an interaction follow-up."""

    channel_id: str
    embeds: list[JSON]
    message_id: str
    via: str  # "channel" or "followup"
    reference: str | None = None
    allowed_mentions: JSON | None = None
    components: list[JSON] | None = None
    flags: int = 0

    @property
    def buttons(self) -> list[JSON]:
        return buttons_of(self.components)

    def labels(self) -> list[str]:
        return [b["label"] for b in self.buttons]

    def button(self, label: str) -> JSON:
        return next(b for b in self.buttons if b["label"] == label)

    @property
    def text(self) -> str:
        parts = []
        for e in self.embeds:
            parts += [
                e.get("title", ""),
                e.get("description", ""),
                e.get("footer", {}).get("text", ""),
            ]
        return "\n".join(p for p in parts if p)


def buttons_of(components: list[JSON] | None) -> list[JSON]:
    """The buttons of a message's action rows, in order."""
    return [b for row in components or [] for b in row.get("components", [])]


def embeds_text(embeds: list[JSON]) -> str:
    return Posted("", embeds, "", "").text


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses a body only when Content-Type is exactly application/json, as Discord sends it.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _user(user_id: int, name: str, bot: bool = False) -> JSON:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "global_name": name,
    }


class FakeDiscord(FakeServer):
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._ids = itertools.count(1000)
        self.faults = Faults()  # "message": posts to a channel
        self.reset()

    def reset(self) -> None:
        self.sent: list[Posted] = []
        self.faults.clear()
        self.synced: dict[str, list[JSON]] = {}
        self.callbacks: list[tuple[str, JSON]] = []
        self.edits: list[tuple[str, JSON]] = []
        self.messages: dict[str, JSON] = {}
        self.identified: list[JSON] = []
        self.attachments: dict[str, bytes] = {}
        self.forbidden: set[str] = set()
        self.users: set[str] = set()
        self.unknown: set[str] = set()
        self.dm_channels: dict[str, str] = {}
        self._rate_limits: list[float] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._seq = 0
        self._interaction_channels: dict[str, str] = {}

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    # --- test helpers ---------------------------------------------------------------------
    def rate_limit(self, retry_after: float) -> None:
        """Answer the next channel message with a 429 asking to wait ``retry_after`` s."""
        self._rate_limits.append(retry_after)

    def forbid(self, channel_id: str) -> None:
        """The bot was removed (or lost access): posts there answer 403 Missing Access."""
        self.forbidden.add(channel_id)

    def add_attachment(self, name: str, data: bytes) -> JSON:
        att_id = str(next(self._ids))
        self.attachments[att_id] = data
        return {
            "id": att_id,
            "filename": name,
            "size": len(data),
            "url": f"{self.url}/cdn/{att_id}/{name}",
            "proxy_url": f"{self.url}/cdn/{att_id}/{name}",
            "content_type": "text/markdown",
        }

    @property
    def ready(self) -> bool:
        return any(not ws.closed for ws in self._sockets) and bool(self.identified)

    async def dispatch(self, event: str, data: JSON) -> None:
        self._seq += 1
        for ws in self._sockets:
            if not ws.closed:
                await ws.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    async def slash(
        self,
        name: str,
        options: list[JSON] | None = None,
        *,
        channel_id: int = 700,
        user_id: int = 500,
        guild: bool = True,
        permissions: int = 0,
        resolved: JSON | None = None,
    ) -> str:
        """Dispatch a slash command interaction; returns its id."""
        interaction_id = str(next(self._ids))
        user = _user(user_id, f"user{user_id}")
        data: JSON = {
            "id": interaction_id,
            "application_id": str(APP_ID),
            "type": 2,
            "token": f"itok-{interaction_id}",
            "version": 1,
            "channel_id": str(channel_id),
            "channel": {
                "id": str(channel_id),
                "type": 0 if guild else 1,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "recipients": [] if guild else [user],
            },
            "locale": "en-US",
            "app_permissions": "2147483647",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {},
            "data": {"id": str(next(self._ids)), "name": name, "type": 1, "options": options or []},
        }
        if resolved:
            data["data"]["resolved"] = resolved
        if guild:
            data["guild_id"] = str(GUILD_ID)
            data["channel"]["guild_id"] = str(GUILD_ID)
            data["member"] = {
                "user": user,
                "roles": [],
                "joined_at": datetime.now(UTC).isoformat(),
                "deaf": False,
                "mute": False,
                "permissions": str(permissions),
                "flags": 0,
            }
        else:
            data["user"] = user
        self._interaction_channels[interaction_id] = str(channel_id)
        await self.dispatch("INTERACTION_CREATE", data)
        return interaction_id

    async def press(
        self,
        posted: Posted,
        label: str = "",
        *,
        custom_id: str | None = None,
        user_id: int = 500,
        guild: bool = True,
        permissions: int = 0,
    ) -> str:
        """Dispatch the press of the button ``label`` of ``posted`` (or of one carrying
        ``custom_id``): an ``INTERACTION_CREATE`` of type 3; returns the interaction's id."""
        interaction_id = str(next(self._ids))
        pressed = custom_id if custom_id is not None else posted.button(label)["custom_id"]
        message = self.messages[posted.message_id]
        channel_id = message["channel_id"]
        user = _user(user_id, f"user{user_id}")
        data: JSON = {
            "id": interaction_id,
            "application_id": str(APP_ID),
            "type": 3,
            "token": f"itok-{interaction_id}",
            "version": 1,
            "channel_id": channel_id,
            "channel": {
                "id": channel_id,
                "type": 0 if guild else 1,
                "name": "general",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "recipients": [] if guild else [user],
            },
            "message": message,
            "locale": "en-US",
            "app_permissions": "2147483647",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "authorizing_integration_owners": {},
            "data": {"custom_id": pressed, "component_type": 2},
        }
        if guild:
            data["guild_id"] = str(GUILD_ID)
            data["channel"]["guild_id"] = str(GUILD_ID)
            data["member"] = {
                "user": user,
                "roles": [],
                "joined_at": datetime.now(UTC).isoformat(),
                "deaf": False,
                "mute": False,
                "permissions": str(permissions),
                "flags": 0,
            }
        else:
            data["user"] = user
        self._interaction_channels[interaction_id] = channel_id
        await self.dispatch("INTERACTION_CREATE", data)
        return interaction_id

    def callback_of(self, interaction_id: str) -> JSON | None:
        """The callback the bot answered an interaction with, or None (yet)."""
        return next((body for i, body in self.callbacks if i == interaction_id), None)

    async def user_message(
        self,
        content: str,
        *,
        channel_id: int = 700,
        user_id: int = 500,
        guild: bool = True,
        mention_bot: bool = False,
        attachments: list[JSON] | None = None,
    ) -> str:
        message_id = str(next(self._ids))
        data: JSON = {
            "id": message_id,
            "channel_id": str(channel_id),
            "type": 0,
            "content": f"<@{BOT_ID}> {content}" if mention_bot else content,
            "author": _user(user_id, f"user{user_id}"),
            "attachments": attachments or [],
            "embeds": [],
            "mentions": [_user(BOT_ID, "digestbot", bot=True)] if mention_bot else [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
        }
        if guild:
            data["guild_id"] = str(GUILD_ID)
            data["member"] = {
                "roles": [],
                "joined_at": datetime.now(UTC).isoformat(),
                "deaf": False,
                "mute": False,
            }
        await self.dispatch("MESSAGE_CREATE", data)
        return message_id

    # --- server ---------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        api = "/api/v10"
        app.add_routes(
            [
                web.get(f"{api}/users/@me", self._me),
                web.get(f"{api}/oauth2/applications/@me", self._application),
                web.put(f"{api}/applications/{{app}}/commands", self._sync),
                web.put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._sync),
                web.post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback),
                web.post(f"{api}/webhooks/{{app}}/{{token}}", self._followup),
                web.patch(
                    f"{api}/webhooks/{{app}}/{{token}}/messages/@original", self._edit_original
                ),
                web.post(f"{api}/channels/{{channel}}/messages", self._message),
                web.post(f"{api}/users/@me/channels", self._create_dm),
                web.get("/cdn/{id}/{name}", self._cdn),
                web.get("/gateway", self._gateway),
            ]
        )
        return app

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {TOKEN}"

    @staticmethod
    def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
        return _json({"message": message, "code": code, **extra}, status=status)

    async def _me(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, 0, "401: Unauthorized")
        return _json(_user(BOT_ID, "digestbot", bot=True))

    async def _application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": str(APP_ID),
                "name": "digestbot",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": _user(1, "owner"),
                "team": None,
                "verify_key": "00",
                "flags": 0,
            }
        )

    async def _sync(self, request: web.Request) -> web.Response:
        commands = await request.json()
        scope = request.match_info.get("guild", "global")
        self.synced[scope] = commands
        return _json(
            [
                {
                    **c,
                    "id": str(next(self._ids)),
                    "application_id": str(APP_ID),
                    "version": "1",
                    "type": c.get("type", 1),
                }
                for c in commands
            ]
        )

    async def _callback(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.callbacks.append((request.match_info["id"], body))
        return _json(
            {
                "interaction": {
                    "id": request.match_info["id"],
                    "type": 2,
                    "response_message_loading": True,
                }
            }
        )

    async def _edit_original(self, request: web.Request) -> web.Response:
        body = await request.json()
        interaction_id = request.match_info["token"].removeprefix("itok-")
        self.edits.append((interaction_id, body))
        data, _ = self._message_json(self._interaction_channels.get(interaction_id, "0"), body)
        return _json(data)

    def _message_json(self, channel: str, body: JSON) -> tuple[JSON, str]:
        message_id = str(next(self._ids))
        data = {
            "id": message_id,
            "channel_id": channel,
            "type": 0,
            "content": body.get("content") or "",
            "author": _user(BOT_ID, "digestbot", bot=True),
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": 0,
            "components": body.get("components") or [],
        }
        self.messages[message_id] = data
        return data, message_id

    async def _followup(self, request: web.Request) -> web.Response:
        body = await request.json()
        token = request.match_info["token"]
        interaction_id = token.removeprefix("itok-")
        data, message_id = self._message_json(
            self._interaction_channels.get(interaction_id, "0"), body
        )
        self.sent.append(
            Posted(
                f"interaction:{interaction_id}",
                body.get("embeds") or [],
                message_id,
                "followup",
                None,
                body.get("allowed_mentions"),
                body.get("components"),
                int(body.get("flags") or 0),
            )
        )
        return _json(data)

    async def _message(self, request: web.Request) -> web.Response:
        channel = request.match_info["channel"]
        if not self._authorized(request):
            return self._error(401, 0, "401: Unauthorized")
        if self._rate_limits:
            wait = self._rate_limits.pop(0)
            return _json(
                {"message": "You are being rate limited.", "retry_after": wait, "global": False},
                status=429,
                headers={
                    "Via": "1.1 google",
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": str(wait),
                    "X-RateLimit-Bucket": "fake-bucket",
                    "X-RateLimit-Scope": "user",
                },
            )
        if channel in self.forbidden:
            return self._error(403, 50001, "Missing Access")
        if (
            channel in self.users or channel in self.unknown
        ) and channel not in self.dm_channels.values():
            return self._error(404, 10003, "Unknown Channel")
        fault = self.faults.take("message")
        body = await request.json()
        data, message_id = self._message_json(channel, body)
        reference = (body.get("message_reference") or {}).get("message_id")
        self.sent.append(
            Posted(
                channel,
                body.get("embeds") or [],
                message_id,
                "channel",
                reference,
                body.get("allowed_mentions"),
                body.get("components"),
            )
        )
        if fault is not None and fault.deliver:
            return await answer_taken(request, fault)
        return _json(data)

    async def _create_dm(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = str(body.get("recipient_id"))
        if user not in self.users:
            return self._error(400, 50033, "Invalid Recipient(s)")
        channel = self.dm_channels.setdefault(user, str(next(self._ids)))
        return _json(
            {
                "id": channel,
                "type": 1,
                "recipients": [_user(int(user), "admin")],
                "last_message_id": None,
            }
        )

    async def _cdn(self, request: web.Request) -> web.Response:
        data = self.attachments.get(request.match_info["id"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 30000}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            op = payload.get("op")
            if op == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif op == 2:
                self.identified.append(payload["d"])
                self._seq += 1
                ready = {
                    "v": 10,
                    "user": _user(BOT_ID, "digestbot", bot=True),
                    "guilds": [],
                    "session_id": "fake-session",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APP_ID), "flags": 0},
                }
                await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": self._seq, "d": ready}))
        return ws


async def wait_ready(fake: FakeDiscord, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not fake.ready:  # noqa: ASYNC110 - the fake has no event to wait on
            await asyncio.sleep(0.01)


__all__ = [
    "APP_ID",
    "BOT_ID",
    "GUILD_ID",
    "TOKEN",
    "FakeDiscord",
    "Posted",
    "buttons_of",
    "embeds_text",
]
