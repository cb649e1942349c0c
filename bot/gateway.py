"""The gateway: every configured channel, the HTTP server, the scheduler and the outbox worker,
on one asyncio loop, composed with an AsyncExitStack and stopped cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from contextlib import AsyncExitStack
from datetime import timedelta
from functools import partial
from importlib import resources
from typing import TextIO

from bot.clock import Clock, utcnow
from bot.commands.core import CommandSet
from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.commands.status import status_gauges
from bot.delivery.ratelimit import RateLimiter
from bot.delivery.worker import OutboxWorker
from bot.http import HttpServer
from bot.i18n import LANGUAGES, SOURCE, negotiate, translator
from bot.logs import configure_logging
from bot.metrics import Metrics
from bot.scheduling.housekeeping import Housekeeping
from bot.scheduling.leader import LeaderElection
from bot.scheduling.scheduler import Scheduler, SubscriptionChanges
from bot.settings import Settings
from bot.store.actions import keep_command
from bot.store.db import ping
from bot.store.ingest import IngestSummary, markdown_text
from bot.store.installations import InstallationStore, OAuthStateStore
from bot.store.store import Store
from bot.watcher import SETTLE_SECONDS, WATCH_SECONDS, ReportsWatcher
from bot.web import routes as web_routes
from channels.base import BuildContext, Channel
from digests import parse_report
from digests.errors import DigestbotError

log = logging.getLogger(__name__)

DEFAULT_HTTP_PORT = 8080


def seed_samples(store: Store) -> str | None:
    """Ingest the sample reports shipped in the package, marked as samples, when the database
    never had a report (the first real report removes them)."""
    if store.has_stored_reports():
        return None
    summary = IngestSummary()
    for entry in sorted(
        resources.files("digests").joinpath("samples").iterdir(), key=lambda e: e.name
    ):
        if not entry.name.endswith(".md"):
            continue
        data = entry.read_bytes()
        report = parse_report(data, f"sample:{entry.name}")
        summary.add(store.ingest(report, markdown_text(data), uploaded_by="samples", sample=True))
    return f"empty database: ingested the bundled sample reports ({summary.line()})"


class Gateway:
    """Owns the parts of a running bot. ``run()`` returns when asked to stop or input ends.

    ``commands`` replaces the default command set (tests run the gateway with their own).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        watch_seconds: float = WATCH_SECONDS,
        commands: CommandSet | None = None,
    ) -> None:
        self.settings = settings
        self.commands = commands
        self.stdin = stdin
        self.stdout = stdout
        self.watch_seconds = watch_seconds
        self.metrics = Metrics()
        self.stopping = asyncio.Event()
        self.channels: list[Channel] = []
        self.http: HttpServer | None = None
        self.store: Store | None = None
        self.services: Services | None = None
        self.dispatcher: Dispatcher | None = None
        self._limiter: RateLimiter | None = None
        self.outbox: OutboxWorker | None = None
        self.election: LeaderElection | None = None
        self.scheduler: Scheduler | None = None
        self.housekeeping: Housekeeping | None = None
        self.subscription_changes = SubscriptionChanges()
        self.watcher: ReportsWatcher | None = None

    async def run(self) -> int:
        settings = self.settings
        async with AsyncExitStack() as stack:
            self._handle_signals(stack)
            self.store = await asyncio.to_thread(
                partial(
                    Store.open,
                    settings.database_url,
                    statement_timeout=settings.database_statement_timeout,
                )
            )
            stack.callback(self.store.close)
            # Before the HTTP server starts: /metrics never answers without the outbox gauges.
            self.metrics.add_gauges(status_gauges(self.store.engine))
            # Samples are for trying digestbot on the console, never for a real chat deployment.
            if settings.local_only and not settings.reports_dir:
                note = await asyncio.to_thread(seed_samples, self.store)
                if note:
                    print(note, file=self.stdout or sys.stdout, flush=True)
            if settings.reports_dir is not None:
                self.watcher = ReportsWatcher(
                    self.store,
                    settings.reports_dir,
                    settings.max_report_bytes,
                    interval=self.watch_seconds,
                    settle=min(SETTLE_SECONDS, self.watch_seconds),
                )
            self.services = Services.from_settings(
                settings,
                self.store,
                subscriptions_changed=self.subscription_changes,
                problems=self.problems,
            )
            # Command replies share the outbox's limiter, at a higher priority.
            limiter = RateLimiter.from_settings(settings)
            self._limiter = limiter
            store = self.store

            async def first_seen(key: str) -> bool:
                return await asyncio.to_thread(store.first_seen, key)

            self.dispatcher = Dispatcher(
                self.services,
                self.commands,
                middleware=Dispatcher.standard_middleware(
                    first_seen=first_seen, metrics=self.metrics
                ),
                metrics=self.metrics,
            )
            handler = self.dispatcher
            self.channels = self._build_channels()
            port = settings.http_port
            if port is None and (settings.public_url or not settings.local_only):
                port = DEFAULT_HTTP_PORT
            if port is not None:
                self.http = HttpServer(
                    settings.http_host,
                    port,
                    self.metrics,
                    self.health,
                    header_timeout=settings.http_header_timeout,
                    max_connections=settings.http_max_connections,
                )
                for channel in self.channels:
                    self.http.add_routes(channel.web_routes())
                # The web face (pages and feeds), when DIGESTBOT_PUBLIC_URL is set.
                self.http.add_routes(web_routes(self.store, self.services.finder, settings))
                await self.http.start()
                stack.push_async_callback(self.http.stop)
            for channel in self.channels:
                try:
                    await channel.start(handler)
                except Exception as exc:
                    raise StartError(
                        channel.name, _redact(f"{type(exc).__name__}: {exc}", settings.secrets())
                    ) from exc
                stack.push_async_callback(channel.stop)
                log.info("channel %s started", channel.name)
            # Started after the channels it sends through, so stopped before them.
            self.outbox = OutboxWorker(
                self.store.engine, self.channels, settings, limiter=limiter, metrics=self.metrics
            )
            await self.outbox.start()
            stack.push_async_callback(self.outbox.stop)
            # Exactly one gateway per database runs the scheduler (PostgreSQL: an advisory lock).
            self.election = LeaderElection(
                settings.database_url,
                on_elected=self._start_scheduler,
                on_deposed=self._stop_scheduler,
                takeover_seconds=settings.leader_takeover_seconds,
            )
            await self.election.start()
            stack.push_async_callback(self.election.stop)
            if settings.reports_dir is not None and not settings.reports_dir.is_dir():
                log.warning(
                    "DIGESTBOT_REPORTS_DIR %s is not a folder: nothing is ingested from it "
                    "until it exists",
                    settings.reports_dir,
                )
                if self.watcher is not None:
                    self.watcher.quiet_missing = True
            if self.watcher is not None:
                await self.watcher.start()
                stack.push_async_callback(self.watcher.stop)
            await self._wait_for_stop()
            log.info("stopping")
        return 0

    async def _start_scheduler(self) -> None:
        """Elected: run the scheduler, then the housekeeping (both on the leader only)."""
        assert self.store is not None
        assert self.services is not None
        outbox, election = self.outbox, self.election
        self.scheduler = Scheduler.from_settings(
            self.settings,
            self.store,
            changes=self.subscription_changes,
            on_enqueued=(lambda _row: outbox.wake()) if outbox is not None else None,
            is_leader=(lambda: election.is_leader) if election is not None else (lambda: True),
        )
        await self.scheduler.start()
        self.housekeeping = Housekeeping(
            self.store,
            keep=timedelta(days=self.settings.dedup_keep_days),
            history=max(
                timedelta(days=self.settings.history_keep_days),
                timedelta(hours=self.settings.misfire_grace_hours, days=1),
            ),
            clock=self.services.clock,
        )
        await self.housekeeping.start()

    async def _stop_scheduler(self) -> None:
        housekeeping, self.housekeeping = self.housekeeping, None
        if housekeeping is not None:
            await housekeeping.stop()
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            await scheduler.stop()

    async def _wait_for_stop(self) -> None:
        waiters = [asyncio.create_task(self.stopping.wait())]
        waiters += [asyncio.create_task(channel.done.wait()) for channel in self.channels]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    def _handle_signals(self, stack: AsyncExitStack) -> None:
        """SIGINT/SIGTERM ask for a clean stop, from the first moment of start-up."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stopping.set)
                stack.callback(loop.remove_signal_handler, sig)

    def _menus(self) -> dict[str, list[tuple[str, str]]]:
        """The command menu in every language besides the source one."""
        menu = self.dispatcher.commands.menu() if self.dispatcher else []
        return {
            language: [(name, translator(language).gettext(text)) for name, text in menu]
            for language in LANGUAGES
            if language != SOURCE
        }

    def _build_channels(self) -> list[Channel]:
        """A channel for every platform the settings ask for (the console when none)."""
        context = BuildContext(
            menu=self.dispatcher.commands.menu() if self.dispatcher else (),
            menus=self._menus(),
            command_names=self.dispatcher.commands.names() if self.dispatcher else (),
            stdin=self.stdin,
            stdout=self.stdout,
            images=self.settings.images,
            keep_command=self._keep_command,
            translate=self._translate,
            # A reply's every part takes its turn with the limiter, as the outbox's do.
            pace=self._limiter.reply_turn if self._limiter is not None else None,
            installations=self._installations(),
            oauth_states=(
                OAuthStateStore(self.store.engine, clock=self._clock())
                if self.store is not None
                else None
            ),
        )
        return [spec.build(self.settings, context) for spec in self.settings.platforms()]

    def _clock(self) -> Clock:
        return self.services.clock if self.services is not None else utcnow

    def _installations(self) -> InstallationStore | None:
        """Installs in many workspaces (OAuth distribution); an install or uninstall changes
        subscriptions, which the scheduler then syncs."""
        if self.store is None:
            return None
        return InstallationStore(
            self.store.engine, clock=self._clock(), changed=self.subscription_changes
        )

    def _translate(self, language: str | None, text: str) -> str:
        """A channel's own text in the language of a platform's code, else the default one."""
        default = self.services.language if self.services is not None else SOURCE
        return translator(negotiate(language) or default).gettext(text)

    async def _keep_command(self, command: str) -> str:
        """Store a button command too long for a platform's payload; returns its token.

        The leader's housekeeping deletes expired tokens.
        """
        store, services = self.store, self.services
        assert store is not None
        assert services is not None
        now = services.clock()

        def keep() -> str:
            with store.engine.begin() as conn:
                return keep_command(conn, command, now)

        return await asyncio.to_thread(keep)

    async def health(self) -> dict[str, bool]:
        checks: dict[str, bool] = {}
        store = self.store
        try:
            if store is None:
                raise RuntimeError("no store")
            await asyncio.to_thread(ping, store.engine)
            checks["database"] = True
        except Exception:
            checks["database"] = False
        for channel in self.channels:
            checks[f"channel_{channel.name}"] = channel.connected()
        # The leader must be running the scheduler; a follower is healthy on standby.
        leader = self.election is not None and self.election.is_leader
        checks["scheduler"] = (not leader) or (
            self.scheduler is not None and self.scheduler.running
        )
        checks["scheduler_leader"] = leader
        checks["outbox_worker"] = self.outbox is not None and self.outbox.alive
        # Alive is not enough: rows due and nothing recorded for a minute is a stall.
        checks["outbox_progress"] = self.outbox is not None and not await self.outbox.stalled()
        if self.watcher is not None:
            checks["reports_watcher"] = self.watcher.alive
            checks["reports_watcher_ok"] = self.watcher.error is None
        return checks

    def problems(self) -> list[str]:
        """Background parts in trouble, one line each (``/status`` shows them)."""
        problem = self.watcher.problem() if self.watcher is not None else None
        return [problem] if problem else []


class StartError(DigestbotError):
    """A channel could not start (its platform unreachable, a token refused): one line."""

    def __init__(self, channel: str, reason: str) -> None:
        self.channel = channel
        super().__init__(
            f"{channel} could not start ({reason.splitlines()[0] if reason else 'no reason'}); "
            f"check that {channel} is reachable from here and its DIGESTBOT_ settings are right"
        )


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def run_gateway(
    settings: Settings, *, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    secrets = settings.secrets()
    level = settings.log_level
    if settings.local_only and "log_level" not in settings.model_fields_set:
        level = "WARNING"  # a person at the console wants replies, not the gateway's diary
    configure_logging(settings.log_format, level, secrets)
    gateway = Gateway(settings, stdin=stdin, stdout=stdout)
    watchdog = asyncio.create_task(_stop_watchdog(gateway.stopping))
    try:
        return await gateway.run()
    finally:
        watchdog.cancel()


#: Seconds a stop may take, whatever the database does (systemd and Docker wait 10 s by default
#: before they kill): past them, the process ends at once.
STOP_SECONDS = 8.0


async def _stop_watchdog(stopping: asyncio.Event) -> None:
    """Once a stop is asked for, a timer that ends the process after :data:`STOP_SECONDS`.

    A thread stuck on a database that went silent can hold the stop (and the interpreter's exit,
    which waits for worker threads) for as long as the network lets it; the timer is a daemon
    thread, so a stop that finishes in time exits as usual and the timer with it."""
    await stopping.wait()
    timer = threading.Timer(STOP_SECONDS, _stop_now)
    timer.daemon = True
    timer.start()


def _stop_now() -> None:
    log.warning(
        "stopping took over %g s (the database not answering?): ending the process now",
        STOP_SECONDS,
    )
    logging.shutdown()
    os._exit(0)
