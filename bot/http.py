"""The gateway's HTTP server: /healthz, /metrics, and the routes channels add (webhooks)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from bot.metrics import Metrics

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, bool]]]
#: Reported, but False is not unhealthy: a follower on standby; a watcher scan that failed
#: (retried, and shown in /status) while the watcher itself lives.
INFORMATIONAL = frozenset({"scheduler_leader", "reports_watcher_ok"})


class HttpServer:
    """An aiohttp server on the loop we own (never ``web.run_app``)."""

    def __init__(self, host: str, port: int, metrics: Metrics, health: HealthCheck) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self.health = health
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)
        self._runner: web.AppRunner | None = None

    def add_routes(self, routes: Iterable[web.AbstractRouteDef]) -> None:
        self.app.router.add_routes(list(routes))

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("http server listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

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
