"""Socket Mode for the fake Slack: ``apps.connections.open`` and the websocket it hands out.

Mixed into :class:`tests.fakes.slack.FakeSlack`. What slack_sdk's aiohttp ``SocketModeClient``
expects: ``apps.connections.open`` (the app-level ``xapp-`` token as ``Authorization: Bearer``)
returns a ``ws://`` URL; on connect the server sends ``hello``; envelopes arrive as JSON text
frames and the client acks each with ``{"envelope_id": ..., "payload"?: ...}``. The client pings
(``sdk-ping-pong:<time>``) right after connecting and then every ``ping_interval``; aiohttp's
``autoping`` answers. A ``disconnect`` message makes it fetch a new URL and reconnect.

Tests push envelopes with :meth:`SocketModeFake.socket_send` and read acks in ``socket_acks``.
"""

from __future__ import annotations

import itertools
import json
import urllib.parse
import uuid
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

JSON = dict[str, Any]

APP_TOKEN = "xapp-1-fake"
APP_ID = "A0FAKE"
_DEBUG_INFO: JSON = {"host": "applink-fake", "build_number": 1}


def socket_payload(body: JSON | str) -> JSON:
    """An HTTP-style body as a Socket Mode payload: form fields or JSON, as one object."""
    if isinstance(body, dict):
        return body
    if body.lstrip().startswith("{"):
        payload: JSON = json.loads(body)
        return payload
    return dict(urllib.parse.parse_qsl(body, keep_blank_values=True))


class SocketModeFake:
    """Socket Mode state and routes; the host class provides ``url`` and calls the hooks."""

    url: str
    app_token: str

    def socket_init(self) -> None:
        """Connection state; call once from ``__init__`` (``socket_reset`` keeps open sockets)."""
        self.sockets: list[web.WebSocketResponse] = []
        self._tickets = itertools.count(1)
        self._issued: set[str] = set()
        self.socket_reset()

    def socket_reset(self) -> None:
        """Forget acks and history; open connections stay open."""
        self.socket_acks: list[JSON] = []
        self.socket_connects: list[str] = []
        self.socket_close_codes: list[int | None] = []
        self.socket_unexpected: list[str] = []

    def add_socket_routes(self, app: web.Application) -> None:
        app.router.add_get("/_socket/{ticket}", self._socket)

    def connections_open(self, token: str) -> JSON:
        """``apps.connections.open``: only the app-level token gets a URL."""
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = str(next(self._tickets))
        self._issued.add(ticket)
        ws_url = self.url.replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{ws_url}/_socket/{ticket}"}

    # --- test helpers ---------------------------------------------------------------------
    async def socket_send(
        self,
        envelope_type: str,
        payload: JSON | str,
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
        envelope_id: str | None = None,
    ) -> str:
        """Send one envelope to the newest connection (Slack picks one); return its id.

        ``payload`` may be a body from :mod:`.slack_payloads` (form or JSON text) or a dict.
        Like Slack, ``accepts_response_payload`` defaults to true for everything but
        ``events_api``; events carry ``retry_attempt`` / ``retry_reason`` (0 and "" at first).
        """
        if not self.sockets:
            raise AssertionError("no Socket Mode client is connected")
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type != "events_api"
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope: JSON = {
            "envelope_id": envelope_id,
            "payload": socket_payload(payload),
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope |= {"retry_attempt": retry_attempt, "retry_reason": retry_reason}
        await self.sockets[-1].send_json(envelope)
        return envelope_id

    def socket_ack(self, envelope_id: str) -> JSON | None:
        """The client's ack of ``envelope_id``, or None while there is none."""
        return next((a for a in self.socket_acks if a.get("envelope_id") == envelope_id), None)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's warning before it drops a connection; the client should reconnect."""
        if self.sockets:
            message = {"type": "disconnect", "reason": reason, "debug_info": _DEBUG_INFO}
            await self.sockets[-1].send_json(message)

    async def socket_close_all(self) -> None:
        """Close every open connection from the server side (as when the server stops)."""
        for ws in list(self.sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)

    # --- the websocket --------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.match_info["ticket"]
        if ticket not in self._issued:
            return web.Response(status=404, text="unknown ticket")
        ws = web.WebSocketResponse()  # autoping answers the client's sdk-ping-pong pings
        await ws.prepare(request)
        self.sockets.append(ws)
        self.socket_connects.append(ticket)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self.sockets),
                    "debug_info": _DEBUG_INFO | {"approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data) if msg.data.startswith("{") else None
                if isinstance(data, dict) and "envelope_id" in data:
                    self.socket_acks.append(data)
                else:
                    self.socket_unexpected.append(msg.data)
        finally:
            self.sockets.remove(ws)
            self.socket_close_codes.append(ws.close_code)
        return ws
