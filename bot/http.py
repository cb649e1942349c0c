"""The gateway's HTTP server: /healthz, /metrics, and the routes channels add (webhooks)."""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bot.metrics import Metrics

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, bool]]]
#: Reported, but False is not unhealthy: a follower on standby; a watcher scan that failed
#: (retried, and shown in /status) while the watcher itself lives.
INFORMATIONAL = frozenset({"scheduler_leader", "reports_watcher_ok"})


#: Defaults of the bounds (DIGESTBOT_HTTP_HEADER_TIMEOUT, DIGESTBOT_HTTP_MAX_CONNECTIONS).
HEADER_TIMEOUT = 15.0
MAX_CONNECTIONS = 512
#: A kind of trouble (a connection turned away, accept() out of descriptors) is logged at most
#: once per this many seconds, counting the rest, and never with a traceback.
LOG_EVERY_SECONDS = 60.0

_TURNED_AWAY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def connection_cap(wanted: int) -> int:
    """``wanted``, but at most half the process's soft limit of file descriptors."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return wanted
    return max(8, min(wanted, soft // 2))


class QuietLog:
    """One warning per kind per ``every`` seconds, counting the ones it kept quiet."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        self._every = every
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def warn(self, kind: str, line: str) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._every:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            return
        self._last[kind] = now
        quiet = self._quiet.pop(kind, 0)
        more = f" (and {quiet} more since the last such line)" if quiet else ""
        log.warning("%s%s", line, more)


class _TurnAway(asyncio.Protocol):
    """A connection past the cap while every connection is busy: 503, closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(_TURNED_AWAY)
        transport.close()


class _BoundedSite(web.BaseSite):
    """A TCP site whose connections are capped: at the cap, a new connection closes the oldest
    idle one (no request being handled: connected and silent, or half a request's headers
    sent), or is turned away with 503 when none is idle."""

    def __init__(
        self, runner: web.AppRunner, host: str, port: int, cap: int, busy: set[Any]
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._cap = cap
        self._busy = busy
        self._closing: set[RequestHandler] = set()
        self.quiet = QuietLog()
        self.bound_port = port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.bound_port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, self._host, self._port)
        if self._server.sockets:
            self.bound_port = self._server.sockets[0].getsockname()[1]

    def _accept(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        assert server is not None
        connections = server.connections
        self._closing.intersection_update(connections)
        live = [h for h in connections if h not in self._closing]
        if len(live) >= self._cap:
            idle = next((h for h in live if h not in self._busy), None)
            if idle is None:
                self.quiet.warn(
                    "turned away",
                    f"http: {len(live)} connections, all busy: a new one was turned away (503)",
                )
                return _TurnAway()
            self._closing.add(idle)
            idle.force_close()
            self.quiet.warn(
                "evicted",
                f"http: {len(live)} connections open (the cap): the oldest idle one was closed",
            )
        return server()


class HttpServer:
    """An aiohttp server on the loop we own (never ``web.run_app``), its connections bounded."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        health: HealthCheck,
        *,
        header_timeout: float = HEADER_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self.health = health
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        #: The connections handling a request now (the others are idle, and may be evicted).
        self._busy: set[Any] = set()
        self.app = web.Application(middlewares=[self._track_busy])
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)
        self._runner: web.AppRunner | None = None

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        self.app.router.add_routes(list(routes))

    async def start(self) -> None:
        # keepalive_timeout runs from a connection's opening (and from each answer): a connection
        # that has not sent a whole request's headers by then is closed.
        self._runner = web.AppRunner(
            self.app, access_log=None, keepalive_timeout=self.header_timeout
        )
        await self._runner.setup()
        cap = connection_cap(self.max_connections)
        site = _BoundedSite(self._runner, self.host, self.port, cap, self._busy)
        await site.start()
        self.port = site.bound_port
        _quiet_accept_errors(asyncio.get_running_loop(), site.quiet)
        log.info(
            "http server listening on %s:%s (at most %d connections)", self.host, self.port, cap
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _track_busy(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        protocol = request.protocol
        self._busy.add(protocol)
        try:
            return await handler(request)
        finally:
            self._busy.discard(protocol)

    async def _healthz(self, _request: web.Request) -> web.Response:
        try:
            checks = await asyncio.wait_for(self.health(), timeout=5)
        except (TimeoutError, Exception) as exc:
            return web.json_response({"ok": False, "error": type(exc).__name__}, status=503)
        ok = all(value for name, value in checks.items() if name not in INFORMATIONAL)
        return web.json_response({"ok": ok, **checks}, status=200 if ok else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(self.metrics.render)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop, quiet: QuietLog) -> None:
    """accept() out of descriptors is one line a minute, not a traceback a second."""
    previous = loop.get_exception_handler()

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        exc = context.get("exception")
        if message.startswith("socket.accept()") and isinstance(exc, OSError):
            quiet.warn("accept", f"http: {message} ({exc.strerror or type(exc).__name__})")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
