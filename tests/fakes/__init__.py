"""Local fakes of the chat platforms' HTTP APIs, served by aiohttp on 127.0.0.1.

The real client libraries (python-telegram-bot, slack_sdk/slack-bolt) talk HTTP to these, as
slack-bolt's own tests talk to ``tests/mock_web_api_server``. Each fake is an async context
manager (or ``start()``/``stop()``) and can also run as a subprocess for benchmarks::

    python -m tests.fakes.telegram --port 0 --rate 30   # prints {"port": N} on its first line

This module holds what both fakes share: the server life cycle, fault injection, a token
bucket for rate limits, and :class:`EchoHandler`, a gateway stand-in for adapter tests.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import BodyPartReader, web

from channels.base import Action, Incoming, InlineQuery, InlineResult, Upload
from digests.message import Message

JSON = dict[str, Any]


@dataclass
class Fault:
    """One injected failure. ``status`` None means "only delay, then answer normally"."""

    status: int | None
    description: str = ""
    parameters: JSON | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1
    #: Handle the call for real (the message is delivered), then answer ``status`` with
    #: ``description`` as a non-JSON body: the "maybe delivered" case.
    deliver: bool = False
    #: With ``deliver``: answer this JSON object (200) instead of the non-JSON body.
    answer: JSON | None = None
    #: With ``deliver``: close the connection instead of answering.
    drop: bool = False


#: Answers a client cannot read after the platform took the request (``answer_badly``).
BAD_ANSWERS = ("non_json_200", "dropped_connection", "read_timeout", "delivered_then_502")


def bad_answer(kind: str, *, times: int = 1, delay: float = 3.0) -> Fault:
    """A ``deliver`` fault of ``kind`` (one of :data:`BAD_ANSWERS`); a ``read_timeout`` answers
    after ``delay`` seconds (make it longer than the client's timeout)."""
    if kind == "non_json_200":
        return Fault(200, "<html>ok, maybe</html>", times=times, deliver=True)
    if kind == "dropped_connection":
        return Fault(200, "", times=times, deliver=True, drop=True)
    if kind == "read_timeout":
        return Fault(200, "<html>late</html>", delay=delay, times=times, deliver=True)
    if kind == "delivered_then_502":
        return Fault(502, "<html>502 Bad Gateway</html>", times=times, deliver=True)
    raise ValueError(f"no such bad answer: {kind!r} (one of {', '.join(BAD_ANSWERS)})")


async def answer_taken(request: web.Request, fault: Fault) -> web.Response:
    """What a ``deliver`` fault answers once the call took effect: after its delay, its answer,
    or (``drop``) a connection closed without one."""
    await asyncio.sleep(fault.delay)
    if fault.drop and request.transport is not None:
        request.transport.abort()
    return garbage_answer(fault)


def garbage_answer(fault: Fault) -> web.Response:
    """The answer of a ``deliver`` fault: its ``answer`` object, else not JSON whatever the
    status."""
    if fault.answer is not None:
        return web.json_response(fault.answer)
    return web.Response(
        status=fault.status or 200,
        text=fault.description or "<html>ok</html>",
        content_type="text/html",
    )


class Faults:
    """Per-method queues of injected failures, consumed in order."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, method: str, fault: Fault) -> None:
        self._queues.setdefault(method, deque()).append(fault)

    def take(self, method: str) -> Fault | None:
        queue = self._queues.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    def clear(self) -> None:
        self._queues.clear()


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._stamp = time.monotonic()

    def take(self) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    @staticmethod
    def whole_seconds(wait: float) -> int:
        """Platforms announce waits in whole seconds, at least one."""
        return max(1, math.ceil(wait))


@dataclass
class Stats:
    """Counters of the message-sending method, for assertions and the ``/_stats`` endpoint.

    A duplicate is an accepted message whose (chat, dedup key) was accepted before.
    """

    received: int = 0
    accepted: int = 0
    rate_limited: int = 0
    failed: int = 0
    duplicates: int = 0
    per_chat_received: Counter[str] = field(default_factory=Counter)
    per_chat_accepted: Counter[str] = field(default_factory=Counter)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def receive(self, chat: str) -> None:
        self.received += 1
        self.per_chat_received[chat] += 1

    def accept(self, chat: str, key: str) -> None:
        self.accepted += 1
        self.per_chat_accepted[chat] += 1
        if (chat, key) in self._seen:
            self.duplicates += 1
        self._seen.add((chat, key))

    def fail(self, status: int) -> None:
        if status == 429:
            self.rate_limited += 1
        else:
            self.failed += 1

    def as_json(self) -> JSON:
        out: JSON = {}
        for name, value in vars(self).items():
            if not name.startswith("_"):
                out[name] = dict(value) if isinstance(value, Counter) else value
        return out


async def read_params(request: web.Request) -> JSON:
    """Query string, then form, multipart or JSON body, merged into one dict of raw values."""
    params: JSON = dict(request.query)
    if request.method != "POST" or not request.body_exists:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name:
                params[part.name] = (
                    bytes(await part.read(decode=True)) if part.filename else await part.text()
                )
    else:
        params.update(await request.post())
    return params


class FakeServer:
    """An aiohttp app on 127.0.0.1 and a free port; subclasses add the routes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    def answer_badly(self, method: str, kind: str, *, times: int = 1, delay: float = 3.0) -> None:
        """The next ``times`` calls of ``method`` take effect, then get a bad answer of ``kind``
        (see :func:`bad_answer`)."""
        faults: Faults = getattr(self, "faults")  # noqa: B009 - each fake has its own
        faults.add(method, bad_answer(kind, times=times, delay=delay))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.build_app(), shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve_until_signalled(server: FakeServer) -> None:
    """Run ``server`` until SIGINT/SIGTERM; announce the port as a JSON line on stdout."""
    await server.start()
    print(json.dumps({"port": server.port, "url": server.url}), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await server.stop()
        sys.stdout.flush()


class EchoHandler:
    """A gateway stand-in: ``/echo x`` answers ``x``, ``/admin`` the sender's admin status.

    Uploads are fetched and answered with their size; ``uploads`` records each upload with the
    size it announced before the fetch and the bytes the fetch returned.
    """

    def __init__(self) -> None:
        self.commands: list[Incoming] = []
        self.uploads: list[tuple[Upload, int | None, bytes]] = []
        self.actions: list[Action] = []

    async def on_command(self, incoming: Incoming) -> Message | None:
        self.commands.append(incoming)
        command, _, arg = incoming.text.partition(" ")
        if command == "/echo":
            return Message.text(arg)
        if command == "/admin":
            return Message.text(f"admin={await incoming.is_chat_admin()}")
        return None

    async def on_upload(self, upload: Upload) -> Message:
        size_before_fetch = upload.size
        data = await upload.fetch()
        self.uploads.append((upload, size_before_fetch, data))
        return Message.text(f"got {len(data)} bytes")

    async def on_action(self, action: Action) -> Message | None:
        """A press runs its command as typed; a token is never known here (a stale button)."""
        self.actions.append(action)
        if action.command is None:
            return Message.text("stale", notice=True)
        return await self.on_command(
            Incoming(action.platform, action.chat_id, action.user_id, action.command)
        )

    async def on_inline(self, query: InlineQuery) -> list[InlineResult]:
        return [InlineResult("1", query.text, "echo", Message.text(query.text))]

    async def on_home(
        self,
        platform: str,
        user_id: str,
        language: str | None = None,
        chats: Collection[str] | None = None,
    ) -> Message:
        return Message.text(f"home of {user_id} in {language}")

    async def on_links(
        self, platform: str, chat_id: str, urls: Sequence[str], chat_kind: str = "channel"
    ) -> dict[str, Message]:
        return {url: Message.text(f"card of {url}") for url in urls if "item" in url}


async def wait_for(condition: Callable[[], object], within: float = 3.0) -> None:
    """Poll ``condition`` until it is true; fail the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - any condition, not one we can signal
            await asyncio.sleep(0.01)
