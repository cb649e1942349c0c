"""The scheduler: one APScheduler 3 job per subscription, persisted in the database.

:class:`Scheduler` wraps an ``AsyncIOScheduler`` (started inside the running loop) with a
``SQLAlchemyJobStore`` on the bot's database (table ``apscheduler_jobs``). Each active subscription
has a job ``sub:{id}`` with a :class:`~bot.scheduling.weekly.WeeklyTrigger` in the subscription's IANA
timezone; start-up and a periodic resync bring the jobs in line with the ``subscriptions`` table.

Jobs are pickled, so the job function :func:`run_subscription` holds no objects: it finds the
store and settings in a process-global registry, by database, that :meth:`Scheduler.start` fills. The work itself
is :func:`make_digest_due`, a plain function tests call with a fixed clock. It composes the digest
and records it in the outbox in one transaction, under the dedup key
``digest:{subscription id}:{scheduled time, UTC, to the minute}``: a run made twice (a misfire
after a restart, a crash before the job store was updated, two schedulers) never makes a second row.

Exactly one process may run the scheduler against a database (APScheduler's job stores cannot be
shared). With several gateways on PostgreSQL, leader election calls :meth:`Scheduler.start` when it
wins and :meth:`Scheduler.stop` when it loses; ``is_leader`` is asked again before every run, so a
scheduler that lost its lock makes nothing even before it is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select

from bot.commands.subscriptions import all_subscriptions, known_themes, next_digest
from bot.i18n import translator
from bot.scheduling.weekly import Schedule
from bot.store.db import make_engine
from bot.store.languages import digest_language
from bot.store.models import Chat, OutboxRow, Subscription
from bot.store.outbox import enqueue
from bot.store.reports import Store
from digests.compose import nothing_new
from digests.message import Message

if TYPE_CHECKING:
    from bot.commands.services import Services
    from bot.settings import Settings

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
RESYNC_SECONDS = 60.0
#: A job runs a moment after APScheduler checked its grace time; allow for that.
RUN_SLACK = timedelta(minutes=1)


def job_id(subscription_id: int) -> str:
    return f"sub:{subscription_id}"


def dedup_key(subscription_id: int, scheduled_for: datetime) -> str:
    """``digest:7:2026-03-02T01:00Z``: one digest per subscription and scheduled minute."""
    _require_aware(scheduled_for)
    minute = scheduled_for.astimezone(UTC).replace(second=0, microsecond=0)
    return f"digest:{subscription_id}:{minute:%Y-%m-%dT%H:%M}Z"


def make_digest_due(
    store: Store,
    subscription_id: int,
    scheduled_for: datetime,
    now: datetime,
    *,
    post_empty: bool = False,
    grace: timedelta | None = None,
) -> int | None:
    """Record the digest a subscription is due at ``scheduled_for``; returns the outbox row id.

    None when there is nothing to record: the subscription is gone or inactive, the run is more
    than ``grace`` late, this run was recorded before, or nothing is new (unless ``post_empty``,
    which records a short "nothing new" note instead).
    """
    _require_aware(scheduled_for)
    _require_aware(now)
    if grace is not None and now - scheduled_for > grace:
        log.warning(
            "subscription %s: run of %s missed by more than %s, skipped",
            subscription_id,
            scheduled_for.isoformat(),
            grace,
        )
        return None
    key = dedup_key(subscription_id, scheduled_for)
    with store.engine.begin() as conn:
        # Row lock (PostgreSQL): concurrent runs of one subscription compose one after the other.
        sub = conn.execute(
            select(
                Subscription.platform,
                Subscription.chat_id,
                Subscription.theme,
                Subscription.size,
                Subscription.timezone,
                Subscription.active,
            )
            .where(Subscription.id == subscription_id)
            .with_for_update()
        ).first()
        if sub is None or not sub.active:
            return None
        if conn.execute(select(OutboxRow.id).where(OutboxRow.dedup_key == key)).first():
            log.info("subscription %s: %s already recorded", subscription_id, key)
            return None
        chat = conn.execute(
            select(Chat.kind, Chat.active).where(
                Chat.platform == sub.platform, Chat.chat_id == sub.chat_id
            )
        ).first()
        if chat is not None and not chat.active:
            return None
        when = scheduled_for.astimezone(ZoneInfo(sub.timezone))
        words = translator(digest_language(conn, sub.platform, sub.chat_id))
        digest = next_digest(conn, sub.platform, sub.chat_id, sub.theme, sub.size, when, words)
        message: Message
        if digest is not None:
            message, item_ids = digest.message, digest.item_ids
        elif post_empty:
            title = known_themes(conn).get(sub.theme, sub.theme)
            message, item_ids = nothing_new(title, when, words), ()
        else:
            log.info("subscription %s: nothing new in %s", subscription_id, sub.theme)
            return None
        return enqueue(
            conn,
            platform=sub.platform,
            chat_id=sub.chat_id,
            message=message,
            item_ids=item_ids,
            subscription_id=subscription_id,
            dedup_key=key,
            purpose="digest",
            chat_kind=chat.kind if chat is not None else "",
        )


# -- the job function and its process-global context ---------------------------------------------


@dataclass
class _JobContext:
    store: Store
    post_empty: bool
    grace: timedelta
    is_leader: Callable[[], bool]
    on_enqueued: Callable[[int], None] | None
    clock: Callable[[], datetime]
    inflight: set[asyncio.Task[object]] = field(default_factory=set)


#: Running schedulers' contexts by database (a process may serve several databases, as tests do;
#: never two schedulers on one database).
_contexts: dict[str, _JobContext] = {}
_contexts_lock = threading.Lock()


def database_key(store: Store) -> str:
    """Which database a job belongs to: its URL without the password."""
    return store.engine.url.render_as_string(hide_password=True)


def _find_context(db: str | None) -> _JobContext | None:
    with _contexts_lock:
        ctx = _contexts.get(db) if db is not None else None
        if ctx is None and len(_contexts) == 1:
            # The database was reached under another URL since the job was stored.
            ctx = next(iter(_contexts.values()))
        return ctx


async def run_subscription(subscription_id: int, db: str | None = None) -> int | None:
    """The job of subscription ``subscription_id`` (importable, so pickled jobs can find it)."""
    ctx = _find_context(db)
    if ctx is None:
        log.warning("subscription %s: job ran with no scheduler context", subscription_id)
        return None
    task = asyncio.current_task()
    if task is not None:
        ctx.inflight.add(task)
    try:
        outbox_id = await asyncio.to_thread(_run, ctx, subscription_id)
    finally:
        if task is not None:
            ctx.inflight.discard(task)
    if outbox_id is not None and ctx.on_enqueued is not None:
        ctx.on_enqueued(outbox_id)  # on the loop: the outbox worker's wake() is not thread-safe
    return outbox_id


def _run(ctx: _JobContext, subscription_id: int) -> int | None:
    if not ctx.is_leader():
        log.info("subscription %s: not the leader, run skipped", subscription_id)
        return None
    now = ctx.clock()
    with ctx.store.engine.connect() as conn:
        sub = conn.execute(
            select(
                Subscription.day, Subscription.at_time, Subscription.timezone, Subscription.active
            ).where(Subscription.id == subscription_id)
        ).first()
    if sub is None or not sub.active:
        return None
    scheduled_for = Schedule(sub.day, sub.at_time, sub.timezone).last_run(now)
    outbox_id = make_digest_due(
        ctx.store,
        subscription_id,
        scheduled_for,
        now,
        post_empty=ctx.post_empty,
        grace=ctx.grace + RUN_SLACK,
    )
    if outbox_id is not None:
        log.info(
            "subscription %s: digest for %s queued as outbox #%s",
            subscription_id,
            scheduled_for.isoformat(),
            outbox_id,
        )
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


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Weekly digest jobs for every active subscription. Start and stop inside the running loop.

    Args:
        store: the bot's store; jobs are kept in its database.
        misfire_grace: a run missed while down is made on start-up when at most this late.
        post_empty: record a short "nothing new" note when a run finds nothing new.
        is_leader: asked before each run; False skips it (leader election plugs in here).
        on_enqueued: called on the loop with the outbox id of each digest recorded (e.g. the
            outbox worker's ``wake``).
        services: when given, commands that change subscriptions resync the jobs at once.
        resync_seconds: how often to resync with the table (changes made by other gateways).
    """

    def __init__(
        self,
        store: Store,
        *,
        misfire_grace: timedelta = timedelta(hours=12),
        post_empty: bool = False,
        is_leader: Callable[[], bool] = _always,
        on_enqueued: Callable[[int], None] | None = None,
        services: Services | None = None,
        resync_seconds: float = RESYNC_SECONDS,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.store = store
        self.misfire_grace = misfire_grace
        self.post_empty = post_empty
        self.is_leader = is_leader
        self.on_enqueued = on_enqueued
        self.services = services
        self.resync_seconds = resync_seconds
        self.clock = clock
        self._scheduler: AsyncIOScheduler | None = None
        self._context: _JobContext | None = None
        self._db = database_key(store)
        self._sync_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        services: Services,
        *,
        on_enqueued: Callable[[int], None] | None = None,
        is_leader: Callable[[], bool] = _always,
    ) -> Scheduler:
        return cls(
            services.store,
            misfire_grace=timedelta(hours=settings.misfire_grace_hours),
            post_empty=settings.post_empty_digest,
            services=services,
            on_enqueued=on_enqueued,
            is_leader=is_leader,
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
        ctx = _JobContext(
            self.store,
            self.post_empty,
            self.misfire_grace,
            self.is_leader,
            self.on_enqueued,
            self.clock,
        )
        with _contexts_lock:
            if self._db in _contexts:
                raise RuntimeError(f"a scheduler is already running on {self._db}")
            _contexts[self._db] = ctx
        self._context = ctx
        # The job store's own engine: shutting the job store down disposes of it.
        engine = make_engine(self.store.engine.url.render_as_string(hide_password=False))
        scheduler = AsyncIOScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE),
                "internal": MemoryJobStore(),
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
            self._forget_context()
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
            else await asyncio.to_thread(self.catch_up, _utcnow())
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
            replace_existing=True,
            misfire_grace_time=None,
        )
        if self.services is not None:
            self.services.subscriptions_changed = self.request_sync
        if not paused:
            scheduler.resume()

    async def stop(self) -> None:
        """Stop running jobs, wait for runs in progress, and close the job store."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        if self.services is not None and self.services.subscriptions_changed == self.request_sync:
            self.services.subscriptions_changed = None
        scheduler.pause()
        ctx = self._context
        if ctx is not None and ctx.inflight:
            await asyncio.wait(list(ctx.inflight), timeout=30)
        await asyncio.to_thread(self._sync_lock.acquire)
        try:
            self._scheduler = None
            scheduler.shutdown(wait=False)
        finally:
            self._sync_lock.release()
        self._forget_context()
        log.info("scheduler stopped")

    def _forget_context(self) -> None:
        with _contexts_lock:
            if _contexts.get(self._db) is self._context:
                del _contexts[self._db]
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
        for sub in all_subscriptions(self.store):
            if only is not None and sub.id not in only:
                continue
            last = Schedule.of(sub).last_run(now)
            created = (
                sub.created_at if sub.created_at.tzinfo else sub.created_at.replace(tzinfo=UTC)
            )
            if last < created or now - last > self.misfire_grace:
                continue
            outbox_id = make_digest_due(
                self.store, sub.id, last, now, post_empty=self.post_empty, grace=self.misfire_grace
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
            subs = all_subscriptions(self.store)
            jobs = {j.id: j for j in scheduler.get_jobs(jobstore="default")}
            added = changed = 0
            new: list[int] = []
            for sub in subs:
                name = _job_name(sub)
                job = jobs.pop(job_id(sub.id), None)
                kwargs = {"db": self._db}
                if job is None or job.name != name or job.kwargs != kwargs:
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
                elif job.misfire_grace_time != self.grace_seconds:
                    job.modify(misfire_grace_time=self.grace_seconds)
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
                self._announce(await asyncio.to_thread(self.catch_up, _utcnow(), result.new))
        finally:
            if ctx is not None and task is not None:
                ctx.inflight.discard(task)


def _job_name(sub: Subscription) -> str:
    # Also the job's fingerprint: a different name means the schedule changed. The chat is left
    # out, so a Telegram group's move to a supergroup keeps the job (and its pending run).
    return f"digest {sub.theme} {sub.day} {sub.at_time} {sub.timezone}"


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("scheduler times must be timezone-aware")
