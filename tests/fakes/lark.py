"""A fake Feishu/Lark Open Platform for the real ``lark-oapi`` SDK to talk to.

Point the SDK at it with ``domain(fake.url)`` (``DIGESTBOT_LARK_API_URL``). It serves the tenant
token, ``bot/v3/info``, ``im/v1`` messages (send, reply, resource download), chats, and the long
connection: ``POST /callback/ws/endpoint`` hands out ``ws://…/ws``, where events go out as the
SDK's own protobuf frames (``lark_oapi.ws.pb.pbbp2_pb2.Frame``) and the client's acks come back.

Tests build events with :func:`message_event` / :func:`file_event` (and a card button's press
with :func:`card_action_event`), deliver them over HTTP with
:func:`signed_request` (the verification token in the body, encrypted and signed with the encrypt
key as Feishu does) or over the socket with :meth:`FakeLark.socket_event`, and read
:attr:`FakeLark.sent` (interactive cards, their buttons in :attr:`Sent.buttons`) and
:attr:`FakeLark.patched` (cards replaced through ``PATCH im/v1/messages/:id``); a press's answer
comes back as the HTTP response, or in the long connection's ack (:meth:`FakeLark.ack_of`).
:func:`challenge_request` is the URL-verification challenge as Feishu posts
it when the callback URL is saved: encrypted, but unsigned. Failures: :meth:`FakeLark.fail_next`,
:meth:`FakeLark.remove_bot`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import secrets
import time
from dataclasses import dataclass

from aiohttp import WSMsgType, web
from Crypto.Cipher import AES
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from tests.fakes import JSON, FakeServer, Fault, Faults, answer_taken

APP_ID = "cli_fake_app"
APP_SECRET = "fake-app-secret"
VERIFICATION_TOKEN = "fake-verification-token"
ENCRYPT_KEY = "fake-encrypt-key"
BOT_OPEN_ID = "ou_bot"
TENANT_TOKEN = "t-fake-tenant-token"


@dataclass(frozen=True)
class Sent:
    """One accepted message: ``card`` is the parsed interactive content."""

    chat_id: str
    receive_id_type: str
    card: JSON
    message_id: str
    reply_to: str | None = None

    @property
    def text(self) -> str:
        """Every text of the card, joined (for assertions)."""
        parts = [self.card.get("header", {}).get("title", {}).get("content", "")]
        for element in self.card.get("elements", []):
            parts.append(element.get("content", ""))
            parts += [e.get("content", "") for e in element.get("elements", [])]
        return "\n".join(p for p in parts if p)

    @property
    def buttons(self) -> list[JSON]:
        """The card's buttons, in order."""
        return card_buttons(self.card)

    def button(self, label: str) -> JSON:
        return next(b for b in self.buttons if b["text"]["content"] == label)

    def labels(self) -> list[str]:
        return [b["text"]["content"] for b in self.buttons]


def card_buttons(card: JSON) -> list[JSON]:
    return [
        b
        for element in card.get("elements", [])
        if element.get("tag") == "action"
        for b in element.get("actions", [])
    ]


def card_text(card: JSON) -> str:
    """Every text of a card, joined."""
    return Sent("", "", card, "").text


class FakeLark(FakeServer):
    """The Open API under ``{url}/open-apis/`` and the long connection under ``{url}/ws``."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.faults = Faults()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, str]] = []
        self.downloads: list[tuple[str, str]] = []
        self.files: dict[str, tuple[str, bytes]] = {}
        self.owners: dict[str, str] = {}
        self.p2p: set[str] = set()
        self.patched: list[tuple[str, JSON]] = []
        self.gone: set[str] = set()
        self.acks: list[JSON] = []
        self.token_requests = 0
        self._uuids: dict[str, str] = {}
        self._message_chats: dict[str, str] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self.faults.clear()

    # --- test helpers ---------------------------------------------------------------------
    def fail_next(
        self, method: str, code: int, msg: str = "", *, status: int = 400, reset: int | None = None
    ) -> None:
        """Fail the next call of ``method`` (``send``, ``reply``, ``resource``)."""
        headers = {"x-ogw-ratelimit-reset": str(reset)} if reset is not None else {}
        self.faults.add(method, Fault(status, msg, {"code": code}, headers))

    def remove_bot(self, chat_id: str) -> None:
        """The bot was removed from the group: sends there answer 230002."""
        self.gone.add(chat_id)

    def add_file(self, message_id: str, file_key: str, name: str, data: bytes) -> None:
        self.files[f"{message_id}/{file_key}"] = (name, data)

    def note_message(self, message_id: str, chat_id: str) -> None:
        """Remember an incoming message's chat, for replies to it."""
        self._message_chats[message_id] = chat_id

    @property
    def socket_connected(self) -> bool:
        return self.open_sockets > 0

    @property
    def open_sockets(self) -> int:
        return sum(not ws.closed for ws in self._sockets)

    async def socket_event(self, event: JSON) -> None:
        """Send ``event`` to every connected client as a protobuf data frame."""
        frame = Frame()
        frame.SeqID = next(self._ids)
        frame.LogID = 0
        frame.service = 1
        frame.method = 1  # DATA
        for key, value in {
            "type": "event",
            "message_id": f"msg-{frame.SeqID}",
            "trace_id": f"trace-{frame.SeqID}",
            "sum": "1",
            "seq": "0",
        }.items():
            header = frame.headers.add()
            header.key, header.value = key, value
        event["_frame_id"] = f"msg-{frame.SeqID}"
        frame.payload = json.dumps({k: v for k, v in event.items() if k != "_frame_id"}).encode()
        for ws in self._sockets:
            if not ws.closed:
                await ws.send_bytes(frame.SerializeToString())

    async def close_sockets(self) -> None:
        for ws in self._sockets:
            await ws.close()

    # --- server ---------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.post("/open-apis/auth/v3/tenant_access_token/internal", self._token),
                web.get("/open-apis/bot/v3/info", self._bot_info),
                web.post("/open-apis/im/v1/messages", self._send),
                web.post("/open-apis/im/v1/messages/{message_id}/reply", self._reply),
                web.patch("/open-apis/im/v1/messages/{message_id}", self._patch),
                web.get(
                    "/open-apis/im/v1/messages/{message_id}/resources/{file_key}", self._resource
                ),
                web.get("/open-apis/im/v1/chats/{chat_id}", self._chat),
                web.post("/callback/ws/endpoint", self._endpoint),
                web.get("/ws", self._ws),
            ]
        )
        return app

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {TENANT_TOKEN}"

    @staticmethod
    def _error(
        code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)

    def _fault(self, method: str) -> web.Response | None:
        return self._failure(self.faults.take(method))

    def _failure(self, fault: Fault | None) -> web.Response | None:
        if fault is None or fault.status is None:
            return None
        code = int((fault.parameters or {}).get("code", 1))
        return self._error(code, fault.description or "fault", fault.status, fault.headers)

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        body = await request.json()
        if body.get("app_id") != APP_ID or body.get("app_secret") != APP_SECRET:
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        return web.json_response(
            {"code": 0, "msg": "ok", "tenant_access_token": TENANT_TOKEN, "expire": 7200}
        )

    async def _bot_info(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        return web.json_response(
            {"code": 0, "msg": "ok", "bot": {"open_id": BOT_OPEN_ID, "app_name": "digestbot"}}
        )

    async def _send(self, request: web.Request) -> web.Response:
        self.calls.append(("send", request.query.get("receive_id_type", "")))
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        fault = self.faults.take("send")
        if (failed := self._failure(fault)) is not None and not (fault and fault.deliver):
            return failed
        body = await request.json()
        chat = str(body.get("receive_id", ""))
        accepted = self._accept(chat, request.query.get("receive_id_type", ""), body, None)
        if fault is not None and fault.deliver:
            return await answer_taken(request, fault)
        return accepted

    async def _reply(self, request: web.Request) -> web.Response:
        self.calls.append(("reply", request.match_info["message_id"]))
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        if (fault := self._fault("reply")) is not None:
            return fault
        parent = request.match_info["message_id"]
        chat = self._message_chats.get(parent) or _MESSAGE_CHATS.get(parent)
        if chat is None:
            return self._error(230011, "The message was not found.")
        return self._accept(chat, "chat_id", await request.json(), parent)

    async def _patch(self, request: web.Request) -> web.Response:
        message_id = request.match_info["message_id"]
        self.calls.append(("patch", message_id))
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        if message_id not in self._message_chats:
            return self._error(230011, "The message was not found.")
        card = json.loads((await request.json())["content"])
        if not card.get("config", {}).get("update_multi"):
            return self._error(230099, "only shared cards are patched by digestbot")
        self.patched.append((message_id, card))
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    def ack_of(self, event: JSON) -> JSON | None:
        """The answer the client acked the socket frame of ``event`` with, decoded."""
        for ack in self.acks:
            if ack["headers"].get("message_id") == event.get("_frame_id"):
                data = ack["payload"].get("data")
                return json.loads(base64.b64decode(data)) if data else {}
        return None

    def _accept(self, chat: str, id_type: str, body: JSON, reply_to: str | None) -> web.Response:
        if chat in self.gone:
            return self._error(230002, "The bot can not be outside the group.")
        if body.get("msg_type") != "interactive":
            return self._error(230001, "only cards are expected from digestbot")
        card = json.loads(body["content"])
        if len(body["content"].encode()) > 30 * 1024:
            return self._error(230025, "The length of the message content reaches its limit.")
        uuid = body.get("uuid")
        if uuid and uuid in self._uuids:
            # Feishu drops a repeat of the same uuid within an hour and answers as before.
            return self._ok(self._uuids[uuid], chat)
        message_id = f"om_{next(self._ids)}"
        if uuid:
            self._uuids[uuid] = message_id
        self._message_chats[message_id] = chat
        self.sent.append(Sent(chat, id_type, card, message_id, reply_to))
        return self._ok(message_id, chat)

    @staticmethod
    def _ok(message_id: str, chat: str) -> web.Response:
        return web.json_response(
            {"code": 0, "msg": "success", "data": {"message_id": message_id, "chat_id": chat}}
        )

    async def _resource(self, request: web.Request) -> web.Response:
        key = f"{request.match_info['message_id']}/{request.match_info['file_key']}"
        self.downloads.append((key, request.query.get("type", "")))
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        if (fault := self._fault("resource")) is not None:
            return fault
        if key not in self.files:
            return self._error(234003, "File not in msg.")
        name, data = self.files[key]
        return web.Response(
            body=data,
            content_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def _chat(self, request: web.Request) -> web.Response:
        chat = request.match_info["chat_id"]
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        return web.json_response(
            {
                "code": 0,
                "msg": "ok",
                "data": {
                    "chat_id": chat,
                    "owner_id": self.owners.get(chat, ""),
                    "chat_mode": "p2p" if chat in self.p2p else "group",
                },
            }
        )

    async def _endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("AppID") != APP_ID or body.get("AppSecret") != APP_SECRET:
            return web.json_response({"code": 1000040351, "msg": "app secret invalid"})
        return web.json_response(
            {
                "code": 0,
                "msg": "ok",
                "data": {
                    "URL": f"ws://{self.host}:{self.port}/ws?device_id=dev1&service_id=7",
                    "ClientConfig": {
                        "ReconnectCount": -1,
                        "ReconnectInterval": 1,
                        "ReconnectNonce": 0,
                        "PingInterval": 120,
                    },
                },
            }
        )

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                continue
            frame = Frame()
            frame.ParseFromString(msg.data)
            headers = {h.key: h.value for h in frame.headers}
            if frame.method == 1:  # the client's answer to a data frame
                self.acks.append({"headers": headers, "payload": json.loads(frame.payload)})
        return ws


# --- events -------------------------------------------------------------------------------

_event_ids = itertools.count(1)
#: The chat of every message built below, as Feishu knows the chat of a message replied to.
_MESSAGE_CHATS: dict[str, str] = {}


def _envelope(event_type: str, event: JSON, event_id: str | None) -> JSON:
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id or f"ev-{next(_event_ids)}-{secrets.token_hex(4)}",
            "event_type": event_type,
            "create_time": str(int(time.time() * 1000)),
            "token": VERIFICATION_TOKEN,
            "app_id": APP_ID,
            "tenant_key": "tenant",
        },
        "event": event,
    }


def message_event(
    text: str,
    *,
    chat_id: str = "oc_group",
    sender: str = "ou_user",
    chat_type: str = "group",
    mention_bot: bool = False,
    event_id: str | None = None,
    message_id: str | None = None,
) -> JSON:
    """An ``im.message.receive_v1`` text message; ``mention_bot`` puts ``@_user_1`` first."""
    mentions = []
    if mention_bot:
        text = f"@_user_1 {text}"
        mentions.append(
            {
                "key": "@_user_1",
                "id": {"open_id": BOT_OPEN_ID},
                "name": "digestbot",
                "tenant_key": "tenant",
            }
        )
    message_id = message_id or f"om_in_{next(_event_ids)}"
    _MESSAGE_CHATS[message_id] = chat_id
    message = {
        "message_id": message_id,
        "chat_id": chat_id,
        "chat_type": chat_type,
        "message_type": "text",
        "content": json.dumps({"text": text}, ensure_ascii=False),
        "mentions": mentions,
        "create_time": str(int(time.time() * 1000)),
    }
    return _envelope(
        "im.message.receive_v1",
        {"sender": {"sender_id": {"open_id": sender}, "sender_type": "user"}, "message": message},
        event_id,
    )


def file_event(
    fake: FakeLark,
    name: str,
    data: bytes,
    *,
    chat_id: str = "oc_p2p",
    sender: str = "ou_user",
    chat_type: str = "p2p",
) -> JSON:
    """A file message whose bytes ``fake`` serves through the resource API."""
    message_id = f"om_file_{next(_event_ids)}"
    file_key = f"file_{secrets.token_hex(4)}"
    fake.add_file(message_id, file_key, name, data)
    fake.note_message(message_id, chat_id)
    message = {
        "message_id": message_id,
        "chat_id": chat_id,
        "chat_type": chat_type,
        "message_type": "file",
        "content": json.dumps({"file_key": file_key, "file_name": name}),
        "create_time": str(int(time.time() * 1000)),
    }
    return _envelope(
        "im.message.receive_v1",
        {"sender": {"sender_id": {"open_id": sender}, "sender_type": "user"}, "message": message},
        None,
    )


def card_action_event(
    sent: Sent,
    label: str,
    *,
    user: str = "ou_user",
    value: JSON | None = None,
    event_id: str | None = None,
) -> JSON:
    """A ``card.action.trigger`` callback: ``user`` pressed the button ``label`` of the card
    ``sent`` (or one carrying ``value``), as Feishu posts it (schema 2.0, like events)."""
    pressed = value if value is not None else sent.button(label)["value"]
    return _envelope(
        "card.action.trigger",
        {
            "operator": {"tenant_key": "tenant", "open_id": user, "user_id": user},
            "token": f"c-{secrets.token_hex(8)}",
            "action": {"value": pressed, "tag": "button"},
            "host": "im_message",
            "context": {"open_message_id": sent.message_id, "open_chat_id": sent.chat_id},
        },
        event_id,
    )


def encrypt(plaintext: str, key: str) -> str:
    """Encrypt as Feishu does: AES-256-CBC, key sha256(encrypt_key), random IV first, base64."""
    raw = plaintext.encode()
    pad = AES.block_size - len(raw) % AES.block_size
    iv = os.urandom(AES.block_size)
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(raw + bytes([pad]) * pad)).decode()


def signed_request(
    event: JSON, *, encrypt_key: str | None = ENCRYPT_KEY, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an event callback: encrypted and signed when ``encrypt_key``."""
    body = json.dumps(
        {"encrypt": encrypt(json.dumps(event), encrypt_key)} if encrypt_key else event
    ).encode()
    stamp = None if timestamp is None else str(timestamp)
    return body, sign(body, encrypt_key=encrypt_key, timestamp=stamp)


def sign(
    body: bytes, *, encrypt_key: str | None = ENCRYPT_KEY, timestamp: str | None = None
) -> dict[str, str]:
    """The headers Feishu sends with ``body``: timestamp (now unless given) and nonce, and with
    ``encrypt_key`` the signature ``sha256(timestamp + nonce + encrypt_key + body)``."""
    stamp = str(int(time.time())) if timestamp is None else timestamp
    nonce = secrets.token_hex(8)
    headers = {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": stamp,
        "X-Lark-Request-Nonce": nonce,
    }
    if encrypt_key:
        digest = hashlib.sha256((stamp + nonce + encrypt_key).encode() + body)
        headers["X-Lark-Signature"] = digest.hexdigest()
    return headers


def challenge_request(
    challenge: str,
    *,
    token: str = VERIFICATION_TOKEN,
    encrypt_key: str | None = ENCRYPT_KEY,
    encrypted: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The ``url_verification`` challenge Feishu posts when the callback URL is saved: encrypted
    with ``encrypt_key`` (plain without one) and, unlike events, sent without the signature,
    timestamp and nonce headers. ``encrypted`` puts that text in ``encrypt`` as it is."""
    plain = {"challenge": challenge, "token": token, "type": "url_verification"}
    if encrypted is None and encrypt_key:
        encrypted = encrypt(json.dumps(plain), encrypt_key)
    body = json.dumps({"encrypt": encrypted} if encrypted is not None else plain)
    return body.encode(), {"Content-Type": "application/json"}


async def wait_connected(fake: FakeLark, within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not fake.socket_connected:  # noqa: ASYNC110 - the fake has no event to wait on
            await asyncio.sleep(0.01)


__all__ = [
    "APP_ID",
    "APP_SECRET",
    "BOT_OPEN_ID",
    "ENCRYPT_KEY",
    "VERIFICATION_TOKEN",
    "FakeLark",
    "Sent",
    "card_action_event",
    "card_buttons",
    "card_text",
    "challenge_request",
    "encrypt",
    "file_event",
    "message_event",
    "sign",
    "signed_request",
]
