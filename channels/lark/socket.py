"""The Lark long connection (``lark_oapi.ws.Client``) inside the gateway's own loop.

The SDK's client is written to own a process: ``start()`` runs a module-level event loop that
``lark_oapi.ws.client`` binds at import time and never returns, it schedules its receive loop
and handlers with ``loop.create_task`` on that module-level loop, and it asks for the websocket
URL with a blocking ``requests.post``. To run it beside the other channels:

- the module's ``loop`` is pointed at a :class:`_TaskTracker` of the running loop before
  connecting, so the SDK's tasks run here and :meth:`LarkSocket.stop` can cancel them;
- the endpoint request runs in a worker thread (:meth:`_Client._connect`), so it never blocks
  the loop;
- ``_connect``, ``_ping_loop`` and ``_disconnect`` are the SDK's own coroutines, used as its
  ``start()`` uses them; reconnects stay the SDK's (``auto_reconnect``), until :meth:`stop`.

Events arrive as protobuf frames; the SDK decodes them and calls the dispatcher, whose handlers
(see :mod:`channels.lark.adapter`) only schedule work and return at once, as Feishu expects an
answer to every frame within 3 s. A card button's press (``card.action.trigger``) is answered in
its frame's ack with what :class:`~channels.lark.presses.CardPresses` has for it within its
``answer_within`` seconds (a toast, or the updated card): :meth:`_Client._handle_data_frame`
waits for that before it acks, where the SDK would ack at once with the handler's empty answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Coroutine
from typing import Any

from lark_oapi.core.json import JSON
from lark_oapi.ws.exception import ClientException, ServerException
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from channels.lark.presses import CardPresses, collecting
from channels.lark.sdk import lark, ws_client

log = logging.getLogger(__name__)


class _TaskTracker:
    """Stands in for the SDK's module-level loop: creates tasks on ``loop`` and keeps them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.tasks: set[asyncio.Task[Any]] = set()

    def create_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loop, name)


class _Client(ws_client.Client):
    """The SDK client, asking for its endpoint in a thread instead of on the loop."""

    _endpoint: str | None = None
    presses: CardPresses | None = None

    async def _handle_data_frame(self, frame: Frame) -> None:
        """A card press is acked with its answer; every other frame as the SDK acks it."""
        headers = {h.key: h.value for h in frame.headers}
        if (
            self.presses is None
            or headers.get("type") != "event"
            or headers.get("sum", "1") != "1"
            or not _card_action(frame.payload)
        ):
            await super()._handle_data_frame(frame)
            return
        started = time.monotonic()
        try:
            with collecting() as pressed:
                result = self._event_handler._do_without_validation(frame.payload)
            body = await self.presses.answer(pressed)
            if body is None:
                body = json.loads(JSON.marshal(result)) if result is not None else {}
            data = base64.b64encode(json.dumps(body, ensure_ascii=False).encode()).decode()
            ack: dict[str, Any] = {"code": 200, "data": data}
        except Exception:
            log.exception("lark: a card press could not be answered")
            ack = {"code": 500}
        header = frame.headers.add()
        header.key, header.value = "biz_rt", str(int((time.monotonic() - started) * 1000))
        frame.payload = json.dumps(ack).encode()
        await self._write_message(frame.SerializeToString())

    async def _connect(self) -> None:
        if self._conn is None:
            self._endpoint = await asyncio.to_thread(super()._get_conn_url)
        await super()._connect()

    def _get_conn_url(self) -> str:
        url, self._endpoint = self._endpoint, None
        return url if url is not None else str(super()._get_conn_url())


class LarkSocket:
    """One long connection for one app; events go to ``dispatcher``."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        dispatcher: lark.EventDispatcherHandler,
        *,
        domain: str,
        presses: CardPresses | None = None,
    ) -> None:
        self._client = _Client(
            app_id,
            app_secret,
            log_level=lark.LogLevel.WARNING,
            event_handler=dispatcher,
            domain=domain,
            auto_reconnect=True,
        )
        self._client.presses = presses
        self._tracker: _TaskTracker | None = None
        self._ping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Fetch the endpoint, open the websocket and start the SDK's receive and ping loops.

        Raises:
            RuntimeError: Feishu refused the connection (wrong app id/secret, no long-connection
                event subscription), with Feishu's code and message.
        """
        self._tracker = _TaskTracker(asyncio.get_running_loop())
        ws_client.loop = self._tracker
        try:
            await self._client._connect()
        except (ClientException, ServerException) as exc:
            raise RuntimeError(
                f"lark: the long connection was refused ({exc}); check the app id/secret and "
                "that events are subscribed in long-connection mode"
            ) from None
        self._ping = asyncio.create_task(self._client._ping_loop(), name="lark-ping")

    def connected(self) -> bool:
        """Whether the websocket is open (not between a drop and a reconnect)."""
        return self._client._conn is not None

    async def stop(self) -> None:
        """Stop reconnecting, cancel the SDK's tasks and close the websocket."""
        self._client._auto_reconnect = False
        tasks = [self._ping, *(self._tracker.tasks if self._tracker else ())]
        for task in tasks:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
        await self._client._disconnect()


def _card_action(payload: bytes) -> bool:
    """Whether a data frame's payload is a card button's press."""
    try:
        event = json.loads(payload)
    except ValueError:
        return False
    header = event.get("header") if isinstance(event, dict) else None
    return isinstance(header, dict) and header.get("event_type") == "card.action.trigger"
