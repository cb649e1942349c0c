"""The scheduler: one APScheduler 3 job per subscription, persisted in the database.

:class:`Scheduler` wraps an ``AsyncIOScheduler`` (started inside the running loop) with a
:class:`~bot.store.jobs.JobStore` on the bot's database (table ``apscheduler_jobs``). Each active
subscription has a job ``sub:{id}`` with a :class:`~bot.scheduling.weekly.WeeklyTrigger` in the
subscription's IANA timezone; start-up and a periodic resync bring the jobs in line with the
``subscriptions`` table.

Jobs are pickled, so a stored job names the module-level :func:`run_subscription` and holds only
the subscription id. The job store hands every job it loads the running scheduler's
:class:`JobContext` (store, clock, leadership, settings), so the job function gets what it needs
explicitly and no process-wide registry exists. Composing and recording the digest is
:func:`bot.store.digests.make_digest_due`, a plain function tests call with a fixed clock.

A Monday stampede (every subscription due in one minute) is sized here: APScheduler's misfire
grace is the settings' grace (hours, so no job misfires however long the queue), runs coalesce,
and the jobs run on APScheduler's thread pool of :attr:`Scheduler.workers` threads (one on
SQLite, whose writers take turns anyway; several on PostgreSQL), so ten thousand due jobs are
ten thousand small work items, not ten thousand asyncio tasks. Loaded jobs share their trigger
objects (there are few distinct weekly times), which keeps the stampede's memory flat.

Exactly one process may run the scheduler against a database (APScheduler's job stores cannot be
shared). With several gateways on PostgreSQL, leader election calls :meth:`Scheduler.start` when it
wins and :meth:`Scheduler.stop` when it loses; ``is_leader`` is asked again before every run, so a
scheduler that lost its lock makes nothing even before it is stopped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock, utcnow
from bot.scheduling.weekly import Schedule
from bot.store.db import make_engine
from bot.store.digests import ThemeSizes, make_digest_due
from bot.store.jobs import JOB_TABLE, JobStore
from bot.store.models import SubscriptionRow
from bot.store.store import Store
from bot.store.subscriptions import all_subscriptions
from bot.web.links import WebLinks

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

RESYNC_SECONDS = 60.0
#: A job runs a moment after APScheduler checked its grace time; allow for that.
RUN_SLACK = timedelta(minutes=1)


def job_id(subscription_id: int) -> str:
    return f"sub:{subscription_id}"


class SubscriptionChanges:
    """Commands call it after changing subscriptions; the running scheduler listens.

    The entry point makes one and hands it to both the commands' services and the scheduler, so
    neither reaches into the other. Callable from any thread.
    """

    def __init__(self) -> None:
        self._listener: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            listener = self._listener
        if listener is not None:
            listener()

    def listen(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listener = listener

    def forget(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if self._listener == listener:
                self._listener = None

    @property
    def listening(self) -> bool:
        return self._listener is not None


# -- the job function and its context -------------------------------------------------------------


@dataclass
class JobContext:
    """What a subscription's job needs; bound to every job the job store loads."""

    store: Store
    post_empty: bool
    grace: timedelta
    is_leader: Callable[[], bool]
    on_enqueued: Callable[[int], None] | None
    clock: Clock
    loop: asyncio.AbstractEventLoop
    #: A theme's web page (digests link to it); None when the web face is off.
    web_url: Callable[[str], str] | None = None
    sizes: ThemeSizes = field(default_factory=ThemeSizes)
    #: Set when the scheduler stops: queued runs return at once instead of running.
    stopping: bool = False
    inflight: set[asyncio.Task[Any]] = field(default_factory=set)


def run_subscription(
    subscription_id: int, *, context: JobContext | None = None, **_stored: object
) -> int | None:
    """The job of subscription ``subscription_id`` (importable, so pickled jobs can find it).

    Runs on APScheduler's thread pool. ``context`` is bound (:func:`_bind`) when the job store
    loads the job; ``_stored`` takes keyword arguments of jobs stored by older versions
    (replaced at the next sync).
    """
    if context is None:
        log.warning("subscription %s: job loaded without a scheduler context", subscription_id)
        return None
    if context.stopping:
        return None
    outbox_id = _run(context, subscription_id)
    if outbox_id is not None and context.on_enqueued is not None:
        # On the loop: the outbox worker's wake() is not thread-safe.
        context.loop.call_soon_threadsafe(context.on_enqueued, outbox_id)
    return outbox_id


def _bind(context: JobContext, job: Job) -> None:
    """Give a job the job store just loaded the running scheduler's context."""
    if job.func is run_subscription:
        job.func = functools.partial(run_subscription, context=context)


def _run(ctx: JobContext, subscription_id: int) -> int | None:
    if not ctx.is_leader():
        log.info("subscription %s: not the leader, run skipped", subscription_id)
        return None
    now = ctx.clock()

    def latest_run(day: str, at_time: str, timezone: str) -> datetime:
        return Schedule(day, at_time, timezone).last_run(now)

    with ctx.store.engine.begin() as conn:
        outbox_id = make_digest_due(
            conn,
            subscription_id,
            latest_run,
            now,
            post_empty=ctx.post_empty,
            grace=ctx.grace + RUN_SLACK,
            sizes=ctx.sizes,
            web_url=ctx.web_url,
        )
    if outbox_id is not None:
        log.info("subscription %s: digest queued as outbox #%s", subscription_id, outbox_id)
    return outbox_id


# -- the scheduler --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    added: int = 0
    changed: int = 0
    removed: int = 0
    new: tuple[int, ...] = ()  # subscriptions that got their first job


def _always() -> bool:
    return True


class Scheduler:
    """Weekly digest jobs for every active subscription. Start and stop inside the running loop.

    Args:
        store: the bot's store; jobs are kept in its database.
        misfire_grace: a run missed while down is made on start-up when at most this late; also
            APScheduler's misfire grace, so a long queue of due jobs never misfires.
        post_empty: record a short "nothing new" note when a run finds nothing new.
        is_leader: asked before each run; False skips it (leader election plugs in here).
        on_enqueued: called on the loop with the outbox id of each digest recorded (e.g. the
            outbox worker's ``wake``).
        changes: commands call it after changing subscriptions; while running, the scheduler
            listens and resyncs its jobs at once.
        resync_seconds: how often to resync with the table (changes made by other gateways).
        clock: the time runs are made for (tests pass a fixed one).
        workers: threads composing digests (default: 1 on SQLite, 8 on PostgreSQL).
        web_url: a theme's web page, for the digests' "Open on the web" (None: the web face is off).
    """

    def __init__(
        self,
        store: Store,
        *,
        misfire_grace: timedelta = timedelta(hours=12),
        post_empty: bool = False,
        is_leader: Callable[[], bool] = _always,
        on_enqueued: Callable[[int], None] | None = None,
        changes: SubscriptionChanges | None = None,
        resync_seconds: float = RESYNC_SECONDS,
        clock: Clock = utcnow,
        workers: int | None = None,
        web_url: Callable[[str], str] | None = None,
    ) -> None:
        self.store = store
        self.web_url = web_url
        self.misfire_grace = misfire_grace
        self.post_empty = post_empty
        self.is_leader = is_leader
        self.on_enqueued = on_enqueued
        self.changes = changes
        self.resync_seconds = resync_seconds
        self.clock = clock
        self.workers = workers or (1 if store.dialect == "sqlite" else 8)
        self._scheduler: AsyncIOScheduler | None = None
        self._context: JobContext | None = None
        self._jobstore: JobStore | None = None
        self._sync_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: Store,
        *,
        changes: SubscriptionChanges | None = None,
        on_enqueued: Callable[[int], None] | None = None,
        is_leader: Callable[[], bool] = _always,
    ) -> Scheduler:
        return cls(
            store,
            misfire_grace=timedelta(hours=settings.misfire_grace_hours),
            post_empty=settings.post_empty_digest,
            changes=changes,
            on_enqueued=on_enqueued,
            is_leader=is_leader,
            web_url=web.theme_url if (web := WebLinks.from_settings(settings)) else None,
        )

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    @property
    def grace_seconds(self) -> int:
        # APScheduler wants a positive whole number of seconds.
        return max(1, int(self.misfire_grace.total_seconds()))

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, *, paused: bool = False) -> None:
        """Start in the running loop, sync jobs with the subscriptions, then run due jobs.

        Runs missed while no scheduler ran are made now when within the grace time (APScheduler
        coalesces several into one). ``paused`` starts without running anything (tests).
        """
        if self._scheduler is not None:
            return
        self.store.claim_scheduler(self)
        ctx = JobContext(
            self.store,
            self.post_empty,
            self.misfire_grace,
            self.is_leader,
            self.on_enqueued,
            self.clock,
            asyncio.get_running_loop(),
            web_url=self.web_url,
        )
        self._context = ctx
        # The job store's own engine: shutting the job store down disposes of it.
        engine = make_engine(self.store.engine.url.render_as_string(hide_password=False))
        jobstore = JobStore(functools.partial(_bind, ctx), engine=engine, tablename=JOB_TABLE)
        self._jobstore = jobstore
        scheduler = AsyncIOScheduler(
            jobstores={
                "default": jobstore,
                "internal": MemoryJobStore(),
            },
            executors={
                "default": ThreadPoolExecutor(
                    self.workers, pool_kwargs={"thread_name_prefix": "digests"}
                ),
                "loop": AsyncIOExecutor(),
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.grace_seconds,
            },
            timezone=UTC,
        )
        try:
            scheduler.start(paused=True)
        except BaseException:
            engine.dispose()
            self._release(ctx)
            raise
        self._scheduler = scheduler
        try:
            result = await asyncio.to_thread(self.sync)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "scheduler started: %s jobs added, %s changed, %s removed",
            result.added,
            result.changed,
            result.removed,
        )
        made = (
            []
            if paused or not self.is_leader()
            else await asyncio.to_thread(self.catch_up, self.clock())
        )
        if made:
            log.info("scheduler caught up on %d digest(s) due while no scheduler ran", len(made))
            self._announce(made)
        scheduler.add_job(
            self._resync,
            "interval",
            seconds=self.resync_seconds,
            id="resync",
            jobstore="internal",
            executor="loop",
            replace_existing=True,
            misfire_grace_time=None,
        )
        if self.changes is not None:
            self.changes.listen(self.request_sync)
        if not paused:
            scheduler.resume()

    async def stop(self) -> None:
        """Stop running jobs, wait for runs in progress, and close the job store."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        if self.changes is not None:
            self.changes.forget(self.request_sync)
        scheduler.pause()
        ctx = self._context
        if ctx is not None:
            ctx.stopping = True  # runs still queued return at once
            if ctx.inflight:
                await asyncio.wait(list(ctx.inflight), timeout=5)
        await asyncio.to_thread(self._sync_lock.acquire)
        try:
            self._scheduler = None
            # Waits for the runs in progress (a digest is a short transaction).
            await asyncio.to_thread(scheduler.shutdown, True)
        finally:
            self._sync_lock.release()
        if ctx is not None:
            self._release(ctx)
        log.info("scheduler stopped")

    def _release(self, ctx: JobContext) -> None:
        ctx.stopping = True
        self.store.release_scheduler(self)
        self._context = None

    def _announce(self, made: list[int]) -> None:
        """On the loop: tell whoever listens (the outbox worker) about digests just recorded."""
        if self.on_enqueued is not None:
            for outbox_id in made:
                self.on_enqueued(outbox_id)

    def catch_up(self, now: datetime, only: Collection[int] | None = None) -> list[int]:
        """Make each subscription's latest run, if it is within the grace time and not made yet.

        APScheduler moves a job to next week before the job runs, so a leader that died between
        the two would lose that week's digest. Every new scheduler therefore looks again; the
        run's dedup key makes this a no-op for runs already recorded. Runs from before a
        subscription existed are not made. ``only`` limits the look to those subscriptions.
        """
        made: list[int] = []
        with self.store.engine.connect() as conn:
            subs = all_subscriptions(conn)
        ctx = self._context
        sizes = ctx.sizes if ctx is not None else ThemeSizes()
        for sub in subs:
            if only is not None and sub.id not in only:
                continue
            last = Schedule.of(sub).last_run(now)
            created = (
                sub.created_at if sub.created_at.tzinfo else sub.created_at.replace(tzinfo=UTC)
            )
            if last < created or now - last > self.misfire_grace:
                continue
            with self.store.engine.begin() as conn:
                outbox_id = make_digest_due(
                    conn,
                    sub.id,
                    last,
                    now,
                    post_empty=self.post_empty,
                    grace=self.misfire_grace,
                    sizes=sizes,
                    web_url=self.web_url,
                )
            if outbox_id is not None:
                made.append(outbox_id)
        return made

    def jobs(self) -> list[Job]:
        """The subscription jobs in the job store."""
        if self._scheduler is None:
            return []
        return [j for j in self._scheduler.get_jobs(jobstore="default") if j.id.startswith("sub:")]

    def job(self, subscription_id: int) -> Job | None:
        if self._scheduler is None:
            return None
        return self._scheduler.get_job(job_id(subscription_id), jobstore="default")

    def request_sync(self) -> None:
        """Bring jobs in line with the table now; callable from any thread (commands)."""
        try:
            self.sync()
        except Exception:  # the periodic resync tries again; the reply stands
            log.exception("scheduler sync after a subscription change failed")

    def sync(self) -> SyncResult:
        """Add jobs of active subscriptions, reschedule changed ones, remove the rest.

        A job whose schedule did not change is left alone, so its pending (possibly missed) run
        time survives: re-adding it would move its next run past a run that is due.
        """
        with self._sync_lock:
            scheduler = self._scheduler
            if scheduler is None:
                return SyncResult()
            with self.store.engine.connect() as conn:
                subs = all_subscriptions(conn)
            assert self._jobstore is not None
            jobs = self._jobstore.fingerprints()
            added = changed = 0
            new: list[int] = []
            for sub in subs:
                name = _job_name(sub)
                job = jobs.pop(job_id(sub.id), None)
                kwargs: dict[str, object] = {}
                if job is None or job[0] != name or job[1] != kwargs:
                    scheduler.add_job(
                        run_subscription,
                        trigger=Schedule.of(sub).trigger(),
                        args=(sub.id,),
                        kwargs=kwargs,
                        id=job_id(sub.id),
                        name=name,
                        jobstore="default",
                        replace_existing=True,
                        misfire_grace_time=self.grace_seconds,
                        coalesce=True,
                        max_instances=1,
                    )
                    if job is None:
                        added += 1
                        new.append(sub.id)
                    else:
                        changed += 1
                elif job[2] != self.grace_seconds:
                    scheduler.modify_job(
                        job_id(sub.id), "default", misfire_grace_time=self.grace_seconds
                    )
                    changed += 1
            for stale in jobs:
                scheduler.remove_job(stale, jobstore="default")
        return SyncResult(added, changed, len(jobs), tuple(new))

    async def _resync(self) -> None:
        ctx = self._context
        task = asyncio.current_task()
        if ctx is not None and task is not None:
            ctx.inflight.add(task)
        try:
            result = await asyncio.to_thread(self.sync)
            # A subscription made on another gateway whose first run passed before this resync
            # saw it: make that run now rather than next week.
            if result.new and self.is_leader():
                self._announce(await asyncio.to_thread(self.catch_up, self.clock(), result.new))
        finally:
            if ctx is not None and task is not None:
                ctx.inflight.discard(task)


def _job_name(sub: SubscriptionRow) -> str:
    # Also the job's fingerprint: a different name means the schedule changed. The chat is left
    # out, so a Telegram group's move to a supergroup keeps the job (and its pending run).
    return f"digest {sub.theme} {sub.day} {sub.at_time} {sub.timezone}"
