"""The outbox: every digest is recorded here, one row per destination, before it is sent.

Rows go ``pending`` -> ``sent`` (with the platform's message ids) or ``dead`` (given up, admins
told). Items count as delivered to a chat only when their row is sent.

:class:`OutboxWorker` sends pending rows. Its life, per row::

    claim (lease)  ->  limiter  ->  channel.send  ->  outcome, committed in a batch
        sent          message ids of every part, ``deliveries`` rows, one transaction
        RetryLater    pause the chat (Telegram: the platform), requeue after retry_after, no attempt
        Transient     attempts + 1; backoff with jitter; at send_max_attempts dead + admins told
        ChatMoved     chat, subscriptions, deliveries and pending rows follow the new id; resend
        ChatGone      chat inactive, subscriptions deactivated, its pending rows dead, admins told
        SendError     (any other: the platform refused the message) dead + admins told

Claims. One statement, ``UPDATE outbox SET claimed_by, claimed_until WHERE id IN (SELECT … FOR
UPDATE SKIP LOCKED LIMIT n) RETURNING …``, takes due rows whose lease is free or expired and whose
chat no other worker holds. On PostgreSQL concurrent workers skip each other's locked rows and
re-check the lease on rows committed meanwhile; on SQLite the single statement is atomic. A worker
renews its leases with its heartbeat, never sends a row whose lease it could not renew, and marks
a row sent only while it is still pending, so a row is sent twice only if a worker died (or lost
the database for a whole lease) after sending and before committing: the in-flight rows.

Partial sends. A multi-part message that fails after some parts keeps their ids in
``message_ids``; a retry asks the channel to skip that many parts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from bot.metrics import Metrics
from bot.models import Chat, Delivery, OutboxRow, OutboxWorkerRow, Subscription
from bot.ratelimit import BULK, RateLimiter
from bot.settings import Settings
from channels.base import (
    Channel,
    ChatGone,
    ChatMoved,
    RetryLater,
    SendError,
    TransientSendError,
)
from digests.message import Message, message_from_json, message_to_json

log = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"
DEAD = "dead"
NOTICE = "notice"
#: Heartbeat period at most: a joining worker is counted in the others' share within this.
BEAT_SECONDS = 2.0


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def enqueue(
    conn: Connection,
    *,
    platform: str,
    chat_id: str,
    message: Message,
    item_ids: Sequence[int] = (),
    subscription_id: int | None = None,
    dedup_key: str | None = None,
    purpose: str = "digest",
    chat_kind: str = "",
    not_before: datetime | None = None,
) -> int | None:
    """Record one message for one chat. Returns its id, or None if ``dedup_key`` exists already.

    Runs in the caller's transaction, so a digest and whatever marks it due commit together.
    """
    now = _now()
    values = {
        "platform": platform,
        "chat_id": chat_id,
        "chat_kind": chat_kind,
        "subscription_id": subscription_id,
        "purpose": purpose,
        "dedup_key": dedup_key,
        "message": message_to_json(message),
        "item_ids": list(item_ids),
        "status": PENDING,
        "attempts": 0,
        "not_before": not_before or now,
        "message_ids": [],
        "created_at": now,
    }
    stmt = _insert(conn)(OutboxRow).values(**values).on_conflict_do_nothing().returning(OutboxRow.id)
    return conn.execute(stmt).scalar()


def pending_item_ids(conn: Connection, platform: str, chat_id: str) -> set[int]:
    """Items already queued for a chat but not yet sent: a new digest must not repeat them."""
    rows = conn.execute(
        select(OutboxRow.item_ids).where(
            OutboxRow.platform == platform, OutboxRow.chat_id == chat_id,
            OutboxRow.status == PENDING,
        )
    ).scalars()
    return {int(i) for ids in rows for i in ids}


# -- claims -------------------------------------------------------------------------------------

@dataclass
class Claimed:
    """A row this worker holds, as claimed."""

    id: int
    platform: str
    chat_id: str
    chat_kind: str
    purpose: str
    message: dict[str, Any]
    item_ids: list[int]
    attempts: int
    message_ids: list[str]
    deadline: float = 0.0  # time.monotonic() past which the lease may be someone else's


def claim(
    conn: Connection, worker_id: str, platforms: Iterable[str], limit: int, lease: timedelta,
    now: datetime | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows for ``worker_id`` until ``now + lease``.

    Correct with several workers on PostgreSQL (``FOR UPDATE SKIP LOCKED``) and with one on
    SQLite (one atomic statement). Run it in a short transaction of its own.
    """
    now = now or _now()
    row = aliased(OutboxRow, name="due")
    other = aliased(OutboxRow, name="other")
    busy_elsewhere = exists().where(
        other.platform == row.platform, other.chat_id == row.chat_id, other.status == PENDING,
        other.claimed_until >= now, other.claimed_by != worker_id,
    )
    due = (
        select(row.id)
        .where(
            row.status == PENDING, row.not_before <= now, row.platform.in_(list(platforms)),
            or_(row.claimed_until.is_(None), row.claimed_until < now),
            ~busy_elsewhere,
        )
        .order_by(row.not_before, row.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=row)
    stmt = (
        update(OutboxRow)
        .where(OutboxRow.id.in_(due.scalar_subquery()))
        .values(claimed_by=worker_id, claimed_until=now + lease)
        .returning(OutboxRow.id, OutboxRow.platform, OutboxRow.chat_id, OutboxRow.chat_kind,
                   OutboxRow.purpose, OutboxRow.message, OutboxRow.item_ids, OutboxRow.attempts,
                   OutboxRow.message_ids)
    )
    claimed = [
        Claimed(r.id, r.platform, r.chat_id, r.chat_kind, r.purpose, r.message,
                [int(i) for i in r.item_ids], r.attempts, [str(i) for i in r.message_ids])
        for r in conn.execute(stmt)
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


# -- outcomes -----------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What became of one attempt; applied to the database in a batch."""

    row: Claimed
    kind: str  # sent | retry | transient | moved | gone | rejected | release
    ids: list[str] = field(default_factory=list)  # parts delivered by this attempt
    error: str = ""
    retry_after: float = 0.0
    new_chat_id: str = ""


class OutboxWorker:
    """Sends the outbox's pending rows with the platforms' limits; one per gateway.

    Args:
        engine: The database (SQLite: one worker; PostgreSQL: any number).
        channels: The channels to send through, by name or as a list; rows of other
            platforms are left to workers that have them.
        settings: Rate limits and ``send_max_attempts``; ``admin_ids`` when ``admins`` is None.
        limiter: Shared with command replies (:class:`~bot.ratelimit.PacedHandler`).
        metrics: Counters ``sent`` and ``send_failures`` are kept when given.
        admins: ``(platform, user_id)`` pairs told about dead letters and gone chats.
        worker_id: Defaults to ``host:pid:random``.
        lease_seconds: How long a claim lasts without renewal. Heartbeats renew leases and
            recount the live workers every ``min(lease / 3, 2)`` seconds, so a joining or dying
            worker changes everyone's share of the global limits within seconds.
        max_in_flight: Rows held at once; bounds what a crash can send twice.
        poll_seconds: How often to look for due rows when idle (:meth:`wake` looks at once).
        backoff_base, backoff_max: Transient retries wait ``base * 2**(attempt-1)``, capped,
            times a random factor in [0.5, 1].
        send_timeout: A send taking longer counts as a transient failure.
        send_concurrency: Sends on the wire at once (HTTP clients slow down past a few).
    """

    def __init__(
        self,
        engine: Engine,
        channels: Mapping[str, Channel] | Iterable[Channel],
        settings: Settings,
        *,
        limiter: RateLimiter | None = None,
        metrics: Metrics | None = None,
        admins: Iterable[tuple[str, str]] | None = None,
        worker_id: str | None = None,
        lease_seconds: float = 30.0,
        max_in_flight: int | None = None,
        poll_seconds: float = 1.0,
        backoff_base: float = 2.0,
        backoff_max: float = 600.0,
        send_timeout: float = 60.0,
        send_concurrency: int = 4,
    ) -> None:
        self.engine = engine
        self.channels: dict[str, Channel] = (
            dict(channels) if isinstance(channels, Mapping) else {c.name: c for c in channels}
        )
        self.settings = settings
        self.limiter = limiter or RateLimiter.from_settings(settings)
        self.metrics = metrics
        self.admins = sorted(settings.admin_ids if admins is None else admins)
        self.worker_id = worker_id or f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = timedelta(seconds=lease_seconds)
        self.beat_seconds = min(lease_seconds / 3, BEAT_SECONDS)
        self._margin = min(1.0, lease_seconds / 5)
        rate = self.limiter.global_rate("telegram") or 30.0
        self.max_in_flight = max_in_flight or max(10, min(200, int(rate)))
        self.poll_seconds = poll_seconds
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.send_timeout = send_timeout
        self._sending = asyncio.Semaphore(send_concurrency)
        self.held: dict[int, Claimed] = {}
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._results: asyncio.Queue[Outcome | None] = asyncio.Queue()
        self._waiting: set[asyncio.Task[None]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._parts: list[asyncio.Task[None]] = []
        self._stopping = False
        # What this worker learnt about chats, so rows of theirs it holds are not tried again.
        self._gone: dict[tuple[str, str], str] = {}
        self._moved: dict[tuple[str, str], str] = {}
        self._chat_locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the heartbeat and start claiming, sending and committing in the background."""
        self._share(await asyncio.to_thread(self._beat, True))
        self._parts = [
            asyncio.create_task(self._claim_loop(), name="outbox-claim"),
            asyncio.create_task(self._flush_loop(), name="outbox-flush"),
            asyncio.create_task(self._heartbeat_loop(), name="outbox-heartbeat"),
        ]
        log.info("outbox worker %s started (%s)", self.worker_id, ", ".join(sorted(self.channels)))

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; drop sends still waiting for the limiter, let started sends finish
        (up to ``grace`` seconds), commit their outcomes and release every unsent claim."""
        self._stopping = True
        self._wake.set()
        claim_loop, flush_loop, heartbeat = self._parts or (None, None, None)
        if claim_loop is not None:
            await claim_loop
        for task in list(self._waiting):
            task.cancel()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if flush_loop is not None:
            self._results.put_nowait(None)
            await flush_loop
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        await asyncio.to_thread(self._leave)
        self._parts = []
        log.info("outbox worker %s stopped", self.worker_id)

    async def __aenter__(self) -> OutboxWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def wake(self) -> None:
        """Look for due rows now (call after enqueueing)."""
        self._wake.set()

    async def drain(self, within: float = 30.0) -> None:
        """Wait until this worker holds nothing and no row it could send is due."""
        deadline = time.monotonic() + within
        while True:
            if not self.held and await asyncio.to_thread(self._due_count) == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"outbox not drained: {len(self.held)} held")
            self.wake()
            await asyncio.sleep(0.05)

    # -- the loops --------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            room = self.max_in_flight - len(self.held)
            got = 0
            if room >= max(1, self.max_in_flight // 2) or (room > 0 and not self.held):
                try:
                    rows = await asyncio.to_thread(self._claim, room)
                except Exception:
                    log.warning("outbox: claim failed", exc_info=True)
                    rows = []
                got = len(rows)
                for row in rows:
                    self._spawn(row)
            if got and got == room:
                continue
            self._wake.clear()
            self._progress.clear()
            waiters = [asyncio.ensure_future(self._wake.wait())]
            if self.held:
                waiters.append(asyncio.ensure_future(self._progress.wait()))
            await asyncio.wait(waiters, timeout=self.poll_seconds,
                               return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    def _claim(self, room: int) -> list[Claimed]:
        with self.engine.begin() as conn:
            rows = claim(conn, self.worker_id, self.channels, room, self.lease)
        deadline = time.monotonic() + self.lease.total_seconds()
        for row in rows:
            row.deadline = deadline
        return rows

    def _spawn(self, row: Claimed) -> None:
        self.held[row.id] = row
        task = asyncio.create_task(self._deliver(row))
        self._tasks.add(task)
        self._waiting.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._waiting.discard)

    async def _deliver(self, row: Claimed) -> None:
        task = asyncio.current_task()
        try:
            outcome = await self._attempt(row, task)
        except asyncio.CancelledError:
            outcome = Outcome(row, "release", error="worker stopping")
        except Exception as exc:
            log.exception("outbox: row %s failed unexpectedly", row.id)
            outcome = Outcome(row, "transient", error=f"{type(exc).__name__}: {exc}")
        self._results.put_nowait(outcome)

    async def _attempt(self, row: Claimed, task: asyncio.Task[None] | None) -> Outcome:
        # One send at a time to a chat: in order, and a gone chat is found out once.
        chat = (row.platform, row.chat_id)
        lock, users = self._chat_locks.get(chat) or (asyncio.Lock(), 0)
        self._chat_locks[chat] = (lock, users + 1)
        try:
            async with lock:
                return await self._attempt_locked(row, task)
        finally:
            lock, users = self._chat_locks[chat]
            if users <= 1:
                del self._chat_locks[chat]
            else:
                self._chat_locks[chat] = (lock, users - 1)

    async def _attempt_locked(self, row: Claimed, task: asyncio.Task[None] | None) -> Outcome:
        channel = self.channels[row.platform]
        message = message_from_json(row.message)
        await self.limiter.acquire(row.platform, row.chat_id, row.chat_kind, BULK)
        if time.monotonic() > row.deadline - self._margin:
            # The lease could not be renewed in time: another worker may own the row now.
            return Outcome(row, "release", error="lease expired before sending")
        if self._stopping:
            return Outcome(row, "release", error="worker stopping")
        if task is not None:
            self._waiting.discard(task)
        chat = (row.platform, row.chat_id)
        if chat in self._gone:
            return Outcome(row, "gone", error=self._gone[chat])
        if chat in self._moved:
            return Outcome(row, "moved", error="chat moved", new_chat_id=self._moved[chat])
        skip = len(row.message_ids)
        try:
            async with self._sending, asyncio.timeout(self.send_timeout):
                ids = await channel.send(row.chat_id, message, skip=skip)
        except RetryLater as exc:
            self.limiter.pause(row.platform, row.chat_id, exc.retry_after)
            if row.platform == "telegram":
                self.limiter.pause(row.platform, None, exc.retry_after)
            return self._failed(row, "retry", exc, retry_after=exc.retry_after)
        except ChatMoved as exc:
            _remember(self._moved, chat, exc.new_chat_id)
            return self._failed(row, "moved", exc, new_chat_id=exc.new_chat_id)
        except ChatGone as exc:
            _remember(self._gone, chat, str(exc) or "chat gone")
            return self._failed(row, "gone", exc)
        except (TransientSendError, TimeoutError) as exc:
            return self._failed(row, "transient", exc)
        except SendError as exc:
            return self._failed(row, "rejected", exc)
        self.limiter.charge(row.platform, row.chat_id, row.chat_kind, len(ids) - 1)
        if self.metrics:
            self.metrics.sent.labels(row.platform, row.purpose).inc()
        return Outcome(row, "sent", ids=list(ids))

    def _failed(self, row: Claimed, kind: str, exc: BaseException, **extra: Any) -> Outcome:
        if self.metrics:
            self.metrics.send_failures.labels(row.platform, kind).inc()
        log.info("outbox: row %s to %s:%s: %s (%s)", row.id, row.platform, row.chat_id, kind, exc)
        sent = list(getattr(exc, "sent_ids", ()) or ())
        error = str(exc) or type(exc).__name__
        return Outcome(row, kind, ids=sent, error=error[:1000], **extra)

    async def _flush_loop(self) -> None:
        while True:
            first = await self._results.get()
            batch = [first] if first is not None else []
            done = first is None
            while not self._results.empty() and len(batch) < 200:
                item = self._results.get_nowait()
                if item is None:
                    done = True
                else:
                    batch.append(item)
            while batch:
                try:
                    await asyncio.to_thread(self._apply, batch)
                    break
                except Exception:
                    log.warning("outbox: committing %d outcome(s) failed", len(batch),
                                exc_info=True)
                    if self._stopping:
                        break  # the leases will expire and the rows be sent again
                    await asyncio.sleep(1.0)
            for outcome in batch:
                self.held.pop(outcome.row.id, None)
            self._progress.set()
            if batch:
                self._wake.set()
            if done:
                return

    async def _heartbeat_loop(self) -> None:
        interval = self.beat_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                self._share(await asyncio.to_thread(self._beat, False))
            except Exception:
                log.warning("outbox: heartbeat failed", exc_info=True)

    # -- database side ----------------------------------------------------------------------

    def _beat(self, first: bool) -> int:
        """Record that this worker lives and renew the leases it holds; returns how many
        workers live (seen within three heartbeats)."""
        started = time.monotonic()
        now = _now()
        ids = list(self.held)
        with self.engine.begin() as conn:
            upsert = _insert(conn)(OutboxWorkerRow).values(
                worker_id=self.worker_id, started_at=now, seen_at=now)
            conn.execute(upsert.on_conflict_do_update(
                index_elements=[OutboxWorkerRow.worker_id], set_={"seen_at": now}))
            if ids:
                conn.execute(
                    update(OutboxRow)
                    .where(OutboxRow.id.in_(ids), OutboxRow.claimed_by == self.worker_id,
                           OutboxRow.status == PENDING)
                    .values(claimed_until=now + self.lease)
                )
            live = conn.execute(
                select(func.count()).select_from(OutboxWorkerRow)
                .where(OutboxWorkerRow.seen_at >= now - timedelta(seconds=3 * self.beat_seconds))
            ).scalar_one()
            if first:
                conn.execute(delete(OutboxWorkerRow).where(
                    OutboxWorkerRow.seen_at < now - timedelta(days=1)))
        deadline = started + self.lease.total_seconds()
        for row_id in ids:
            if (row := self.held.get(row_id)) is not None:
                row.deadline = deadline
        return int(live)

    def _share(self, live: int) -> None:
        """On the loop (the limiter is not thread-safe): divide the global limits by ``live``."""
        if live != self.limiter.share:
            log.info("outbox: %d live worker(s) share the global rate limits", live)
        self.limiter.set_share(live)

    def _leave(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(OutboxRow)
                .where(OutboxRow.claimed_by == self.worker_id, OutboxRow.status == PENDING)
                .values(claimed_by=None, claimed_until=None)
            )
            conn.execute(delete(OutboxWorkerRow).where(OutboxWorkerRow.worker_id == self.worker_id))

    def _due_count(self) -> int:
        now = _now()
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(OutboxRow).where(
                    OutboxRow.status == PENDING, OutboxRow.not_before <= now,
                    OutboxRow.platform.in_(list(self.channels)),
                    or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
                )
            ).scalar_one()

    def _apply(self, batch: Sequence[Outcome]) -> None:
        now = _now()
        with self.engine.begin() as conn:
            self._apply_all_sent(conn, [o for o in batch if o.kind == "sent"], now)
            for outcome in batch:
                if outcome.kind != "sent":
                    getattr(self, f"_apply_{outcome.kind}")(conn, outcome, now)

    def _apply_all_sent(self, conn: Connection, sent: Sequence[Outcome], now: datetime) -> None:
        """Mark rows sent (one executemany) and write their deliveries (one insert)."""
        if not sent:
            return
        # Pending is enough: whoever marks first wins, and the deliveries are written once.
        still = set(conn.execute(select(OutboxRow.id).where(
            OutboxRow.id.in_([o.row.id for o in sent]), OutboxRow.status == PENDING)).scalars())
        for o in sent:
            if o.row.id not in still:
                log.warning("outbox: row %s was already finished elsewhere (sent twice)", o.row.id)
        table = OutboxRow.__table__  # Core executemany: one statement, many rows
        assert isinstance(table, Table)
        conn.execute(
            update(table).where(table.c.id == bindparam("row_id"), table.c.status == PENDING)
            .values(status=SENT, message_ids=bindparam("ids"), sent_at=now, claimed_until=None,
                    last_error=None),
            [{"row_id": o.row.id, "ids": o.row.message_ids + o.ids} for o in sent
             if o.row.id in still],
        )
        deliveries = [
            {"platform": o.row.platform, "chat_id": o.row.chat_id, "item_id": item,
             "outbox_id": o.row.id, "delivered_at": now}
            for o in sent if o.row.id in still for item in dict.fromkeys(o.row.item_ids)
        ]
        if deliveries:
            conn.execute(_insert(conn)(Delivery).values(deliveries).on_conflict_do_nothing())

    def _mine(self, row_id: int) -> Any:
        return and_(OutboxRow.id == row_id, OutboxRow.status == PENDING,
                    OutboxRow.claimed_by == self.worker_id)

    def _apply_release(self, conn: Connection, o: Outcome, now: datetime) -> None:
        conn.execute(update(OutboxRow).where(self._mine(o.row.id))
                     .values(claimed_by=None, claimed_until=None))

    def _apply_retry(self, conn: Connection, o: Outcome, now: datetime) -> None:
        conn.execute(
            update(OutboxRow).where(self._mine(o.row.id))
            .values(claimed_by=None, claimed_until=None, last_error=o.error,
                    message_ids=o.row.message_ids + o.ids,
                    not_before=now + timedelta(seconds=o.retry_after))
        )

    def _apply_transient(self, conn: Connection, o: Outcome, now: datetime) -> None:
        row = o.row
        attempts = row.attempts + 1
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "attempts": attempts,
                                  "last_error": o.error, "message_ids": row.message_ids + o.ids}
        if attempts >= self.settings.send_max_attempts:
            values.update(status=DEAD, dead_at=now)
        else:
            delay = min(self.backoff_max, self.backoff_base * 2 ** (attempts - 1))
            values["not_before"] = now + timedelta(seconds=delay * random.uniform(0.5, 1.0))
        if conn.execute(update(OutboxRow).where(self._mine(row.id)).values(**values)).rowcount \
                and attempts >= self.settings.send_max_attempts:
            self._notify(conn, row, f"Gave up on a {row.purpose} to {row.platform} chat "
                                    f"{row.chat_id} after {attempts} attempts: {o.error}")

    def _apply_rejected(self, conn: Connection, o: Outcome, now: datetime) -> None:
        row = o.row
        if conn.execute(
            update(OutboxRow).where(self._mine(row.id))
            .values(status=DEAD, dead_at=now, claimed_until=None, last_error=o.error,
                    attempts=row.attempts + 1, message_ids=row.message_ids + o.ids)
        ).rowcount:
            self._notify(conn, row, f"{row.platform} refused a {row.purpose} to chat "
                                    f"{row.chat_id}; it will not be retried: {o.error}")

    def _apply_gone(self, conn: Connection, o: Outcome, now: datetime) -> None:
        row = o.row
        reason = o.error[:250]
        _upsert_chat(conn, row.platform, row.chat_id, now, active=False, gone_reason=reason)
        subs = conn.execute(
            update(Subscription)
            .where(Subscription.platform == row.platform, Subscription.chat_id == row.chat_id,
                   Subscription.active.is_(True))
            .values(active=False, deactivated_reason=f"chat gone: {reason}"[:300])
        ).rowcount
        conn.execute(update(OutboxRow).where(OutboxRow.id == row.id)
                     .values(message_ids=row.message_ids + o.ids))
        dropped = conn.execute(
            update(OutboxRow)
            .where(OutboxRow.platform == row.platform, OutboxRow.chat_id == row.chat_id,
                   OutboxRow.status == PENDING)
            .values(status=DEAD, dead_at=now, claimed_until=None, last_error=f"chat gone: {reason}")
        ).rowcount
        if dropped:
            self._notify(conn, row, f"{row.platform} chat {row.chat_id} is gone ({reason}): "
                                    f"{subs} subscription(s) deactivated, {dropped} message(s) "
                                    "dropped.")

    def _apply_moved(self, conn: Connection, o: Outcome, now: datetime) -> None:
        row, new = o.row, o.new_chat_id
        platform, old = row.platform, row.chat_id
        if not conn.execute(select(OutboxRow.id).where(self._mine(row.id))).first():
            return
        _upsert_chat(conn, platform, old, now, moved_to=new)
        _upsert_chat(conn, platform, new, now, active=True, kind="supergroup")
        taken = set(conn.execute(select(Subscription.theme).where(
            Subscription.platform == platform, Subscription.chat_id == new)).scalars())
        for sub_id, theme in conn.execute(select(Subscription.id, Subscription.theme).where(
                Subscription.platform == platform, Subscription.chat_id == old)).all():
            values: dict[str, Any] = {"chat_id": new}
            if theme in taken:  # subscribed again in the new chat already: keep that one
                values = {"active": False, "deactivated_reason": f"chat moved to {new}"}
            conn.execute(update(Subscription).where(Subscription.id == sub_id).values(**values))
        delivered = select(Delivery.platform, literal(new, String(100)),
                           Delivery.item_id, Delivery.outbox_id, Delivery.delivered_at).where(
            Delivery.platform == platform, Delivery.chat_id == old)
        conn.execute(_insert(conn)(Delivery).from_select(
            ["platform", "chat_id", "item_id", "outbox_id", "delivered_at"], delivered
        ).on_conflict_do_nothing())
        conn.execute(update(OutboxRow).where(OutboxRow.id == row.id).values(
            claimed_by=None, claimed_until=None, not_before=now, last_error=o.error,
            message_ids=row.message_ids + o.ids))
        conn.execute(
            update(OutboxRow)
            .where(OutboxRow.platform == platform, OutboxRow.chat_id == old,
                   OutboxRow.status == PENDING)
            .values(chat_id=new, chat_kind="supergroup")
        )

    def _notify(self, conn: Connection, row: Claimed, text: str) -> None:
        """Queue a notice to every admin we can reach, in the transaction that caused it."""
        if row.purpose == NOTICE:
            return  # an admin's own chat failing must not start a loop of notices
        log.warning("outbox: %s", text)
        for platform, user in self.admins:
            if platform not in self.channels:
                continue
            enqueue(conn, platform=platform, chat_id=user, message=Message.text(text),
                    purpose=NOTICE, dedup_key=f"notice:{row.id}:{platform}:{user}"[:200],
                    chat_kind="private" if platform == "telegram" else "im")


def _upsert_chat(conn: Connection, platform: str, chat_id: str, now: datetime,
                 **values: Any) -> None:
    stmt = _insert(conn)(Chat).values(platform=platform, chat_id=chat_id, updated_at=now,
                                      **{"kind": "", "active": True, **values})
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[Chat.platform, Chat.chat_id], set_={"updated_at": now, **values}))


def _remember(memory: dict[tuple[str, str], str], chat: tuple[str, str], value: str) -> None:
    if len(memory) > 10_000:
        memory.clear()
    memory[chat] = value


