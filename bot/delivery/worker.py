"""The sender: takes due rows from the outbox table and sends them with the platforms' limits.

:class:`OutboxWorker` (one per gateway) sends pending rows. Its life, per row::

    claim (lease)  ->  limiter  ->  channel.send  ->  outcome, committed in a batch
        sent          message ids of every part, ``deliveries`` rows, one transaction
        failed        the exception goes to the retry policy (:mod:`bot.delivery.retry`), whose
                      verdict the worker carries out: a 429 pauses the chat (Telegram: the
                      platform's bulk sends) and requeues; a transient failure backs off, dead
                      after send_max_attempts; "maybe delivered" (or our send timeout, or a stop
                      while the send is on the wire) counts the items as delivered and is tried
                      again at most send_maybe_attempts times; a moved chat is followed
                      (:mod:`bot.store.chats`); a gone one is made inactive; a refusal is dead;
                      the admins are told of dead rows and gone chats

Claims. One statement, ``UPDATE outbox SET claimed_by, claimed_until WHERE id IN (SELECT … FOR
UPDATE SKIP LOCKED LIMIT n) RETURNING …``, takes due rows whose lease is free or expired and whose
chat no other worker holds. On PostgreSQL concurrent workers skip each other's locked rows and
re-check the lease on rows committed meanwhile; on SQLite the single statement is atomic. A worker
renews its leases with its heartbeat, never sends a row whose lease it could not renew, and marks
a row sent only while it is still pending, so a row is sent twice only if a worker died (or lost
the database for a whole lease) after sending and before committing: the in-flight rows.

Partial sends. A multi-part message that fails after some parts keeps their ids in
``message_ids``; a retry asks the channel to skip that many parts.

The table side (enqueue, claims, the outcomes' transactions) is :mod:`bot.store.outbox`; what a
gone or moved chat does to the tables is :mod:`bot.store.chats`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta

from bot.delivery.ratelimit import BULK, RateLimiter
from bot.delivery.retry import RetryPolicy
from bot.metrics import Metrics
from bot.platforms import specs
from bot.settings import Settings
from bot.store.db import Engine
from bot.store.outbox import (
    DEAD,
    MAYBE,
    NOTICE,
    PENDING,
    SENT,
    Claimed,
    Ledger,
    Outcome,
    OutcomeKind,
    claim,
    enqueue,
)
from bot.store.salvage import bury, reachable
from channels.base import Channel, EveryPart, MaybeDelivered, SendError
from digests.errors import DigestbotError
from digests.message import message_from_json

__all__ = ["DEAD", "MAYBE", "NOTICE", "PENDING", "SENT", "OutboxWorker", "claim", "enqueue"]

log = logging.getLogger(__name__)


class TurnLost(DigestbotError):
    """A row's first turn came too late to send it (its lease lapsed, the worker is stopping):
    the claim is given back, nothing was sent."""


#: Heartbeat period at most: a joining worker is counted in the others' share within this.
BEAT_SECONDS = 2.0
#: How long the committer waits for more outcomes to commit them together.
FLUSH_GATHER = 0.02
#: A worker that recorded nothing for this long while rows are due is stalled (``/healthz``).
STALL_SECONDS = 60.0


class OutboxWorker:
    """Sends the outbox's pending rows with the platforms' limits; one per gateway.

    Args:
        engine: The database (SQLite: one worker; PostgreSQL: any number).
        channels: The channels to send through, by name or as a list; rows of other
            platforms are left to workers that have them.
        settings: Rate limits and ``send_max_attempts``; ``admin_ids`` when ``admins`` is None.
        limiter: Shared with command replies (the channels' senders, through
            :meth:`~bot.delivery.ratelimit.RateLimiter.reply_turn`).
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
        send_concurrency: Sends on the wire at once; by default enough for the fastest global
            rate at the platforms' 5-20 ms answers (4 at Telegram's free 30/s, 40 at 1,000/s).
        stall_seconds: No outcome recorded for this long while rows are due or held is a
            stall (:meth:`stalled`).
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
        send_concurrency: int | None = None,
        stall_seconds: float = STALL_SECONDS,
    ) -> None:
        self.engine = engine
        self.channels: dict[str, Channel] = (
            dict(channels) if isinstance(channels, Mapping) else {c.name: c for c in channels}
        )
        self.settings = settings
        self.limiter = limiter or RateLimiter.from_settings(settings)
        self.metrics = metrics
        self.worker_id = (
            worker_id or f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        )
        self.lease = timedelta(seconds=lease_seconds)
        self.beat_seconds = min(lease_seconds / 3, BEAT_SECONDS)
        self._margin = min(1.0, lease_seconds / 5)
        rate = self.limiter.fastest_rate() or 30.0
        self.max_in_flight = max_in_flight or max(10, min(200, int(rate)))
        self.poll_seconds = poll_seconds
        self.ledger = Ledger(
            engine,
            self.worker_id,
            platforms=self.channels,
            admins=settings.admin_ids if admins is None else admins,
            lease=self.lease,
            beat_seconds=self.beat_seconds,
            direct_kinds={spec.name: spec.direct_kind for spec in specs()},
        )
        self.retry = RetryPolicy(
            max_attempts=settings.send_max_attempts,
            maybe_attempts=settings.send_maybe_attempts,
            base=backoff_base,
            cap=backoff_max,
        )
        self.send_timeout = send_timeout
        self._sending = asyncio.Semaphore(send_concurrency or max(4, min(64, int(rate / 25))))
        self.held: dict[int, Claimed] = {}
        self._claiming = False  # a claim is in its thread: rows it took are not held yet
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._results: asyncio.Queue[Outcome | None] = asyncio.Queue()
        self._waiting: set[asyncio.Task[None]] = set()
        self._on_wire: set[int] = set()  # rows whose send started: may have reached the platform
        self._tasks: set[asyncio.Task[None]] = set()
        self._parts: list[asyncio.Task[None]] = []
        self._stopping = False
        self.stall_seconds = stall_seconds
        self._progress_at = time.monotonic()  # an outcome recorded, or nothing to do
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

    async def stalled(self) -> bool:
        """Whether nothing was recorded for ``stall_seconds`` while rows are held or due."""
        if time.monotonic() - self._progress_at <= self.stall_seconds:
            return False
        if self.held:
            return True
        due: int = await asyncio.to_thread(self.ledger.due_count)
        return due > 0

    @property
    def alive(self) -> bool:
        """Started, and none of its loops has ended (a crashed loop means nothing is sent)."""
        return bool(self._parts) and not self._stopping and not any(t.done() for t in self._parts)

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; drop sends still waiting for the limiter, let started sends finish
        (up to ``grace`` seconds), commit their outcomes and release every unsent claim.

        A send cut off after ``grace`` may have reached the platform: it is maybe delivered
        (tried again at most ``send_maybe_attempts`` times), never resent as if unsent."""
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
        await asyncio.to_thread(self.ledger.leave)
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

        def idle() -> bool:
            return not self.held and not self._claiming

        while True:
            # Looked at on both sides of the count: a claim may take the last rows meanwhile.
            if idle() and await asyncio.to_thread(self.ledger.due_count) == 0 and idle():
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
                claimed = True
                self._claiming = True
                try:
                    rows = await asyncio.to_thread(self._claim, room)
                except Exception:
                    log.warning("outbox: claim failed", exc_info=True)
                    rows, claimed = [], False
                finally:
                    self._claiming = False
                got = len(rows)
                if claimed and not got and not self.held:
                    self._progress_at = time.monotonic()  # nothing to do is no stall
                for row in rows:
                    self._spawn(row)
            if got and got == room:
                continue
            self._wake.clear()
            self._progress.clear()
            waiters = [asyncio.ensure_future(self._wake.wait())]
            if self.held:
                waiters.append(asyncio.ensure_future(self._progress.wait()))
            await asyncio.wait(
                waiters, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()

    def _claim(self, room: int) -> list[Claimed]:
        if not self.channels:
            return []  # nothing to send through: leave the table (and SQLite's lock) alone
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
            if row.id in self._on_wire:
                # Stopped mid-send: the platform may have the message; never resent as unsent.
                stopped = MaybeDelivered("the worker stopped while the message was being sent")
                outcome = self._verdict(row, stopped)
            else:
                outcome = Outcome(row, OutcomeKind.RELEASE, error="worker stopping")
        except Exception as exc:
            # One traceback a row, at its first failure; later tries say it in a line.
            first = row.attempts == 0 and row.maybe_count == 0
            log.warning(
                "outbox: row %s failed unexpectedly (%s: %s)",
                row.id,
                type(exc).__name__,
                exc,
                exc_info=exc if first else None,
            )
            outcome = self._verdict(row, exc, told=True)
        self._on_wire.discard(row.id)
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
        chat = (row.platform, row.chat_id)
        if chat in self._gone:
            return Outcome(row, OutcomeKind.GONE, error=self._gone[chat])
        if chat in self._moved:
            return Outcome(
                row, OutcomeKind.MOVED, error="chat moved", new_chat_id=self._moved[chat]
            )
        skip = len(row.message_ids)
        loop = asyncio.get_running_loop()
        first = True
        holding = False

        async def turn() -> None:
            # Every part's turn (chat, group and global limits), taken by the channel's sender;
            # the first also checks the lease and starts the send's clock.
            nonlocal first, holding
            await self.limiter.acquire(row.platform, row.chat_id, row.chat_kind, BULK)
            if not first:
                return
            first = False
            if time.monotonic() > row.deadline - self._margin:
                # The lease could not be renewed in time: another worker may own the row now.
                raise TurnLost("lease expired before sending")
            if self._stopping:
                raise TurnLost("worker stopping")
            if task is not None:
                self._waiting.discard(task)
            await self._sending.acquire()
            holding = True
            timer.reschedule(loop.time() + self.send_timeout)
            self._on_wire.add(row.id)

        try:
            async with asyncio.timeout(None) as timer:
                ids = await channel.send(row.chat_id, message, skip=skip, pace=EveryPart(turn))
        except TurnLost as lost:
            return Outcome(row, OutcomeKind.RELEASE, error=str(lost))
        except (SendError, TimeoutError) as exc:
            # Our own timeout fires while the request is out: it may have been delivered too.
            return self._verdict(row, exc)
        finally:
            if holding:
                self._sending.release()
        if self.metrics:
            self.metrics.sent.labels(row.platform, row.purpose).inc()
            if getattr(channel, "paid_broadcast", False):
                self.metrics.paid.labels(row.platform).inc(len(ids))
        return Outcome(row, OutcomeKind.SENT, ids=list(ids))

    def _verdict(self, row: Claimed, exc: BaseException, told: bool = False) -> Outcome:
        """Carry out the retry policy's verdict on a failed try (:meth:`RetryPolicy.decide`).

        An unreadable answer logs its traceback once, at the row's first; every other failure,
        and every later try, is one line (``told``: the caller logged it already)."""
        verdict = self.retry.decide(exc, attempts=row.attempts, maybes=row.maybe_count)
        chat = (row.platform, row.chat_id)
        if verdict.pause is not None:
            self.limiter.pause(row.platform, row.chat_id, verdict.pause)
            if self.limiter.pauses_platform(row.platform):
                self.limiter.pause(row.platform, None, verdict.pause)
        if verdict.new_chat_id:
            _remember(self._moved, chat, verdict.new_chat_id)
        if verdict.kind is OutcomeKind.GONE:
            _remember(self._gone, chat, str(exc) or "chat gone")
        if self.metrics:
            self.metrics.send_failures.labels(row.platform, verdict.kind).inc()
        first = row.attempts == 0 and row.maybe_count == 0
        cause = exc.__cause__ if isinstance(exc, MaybeDelivered) else None
        if cause is not None and first and not told:
            log.warning(
                "outbox: row %s to %s:%s: %s (%s)",
                row.id,
                row.platform,
                row.chat_id,
                verdict.kind,
                exc,
                exc_info=cause,
            )
        else:
            log.info(
                "outbox: row %s to %s:%s: %s (%s)",
                row.id,
                row.platform,
                row.chat_id,
                verdict.kind,
                exc,
            )
        sent = list(getattr(exc, "sent_ids", ()) or ())
        if isinstance(exc, SendError | TimeoutError):
            error = str(exc) or type(exc).__name__
        else:  # a failure nobody mapped: say what it was
            error = f"{type(exc).__name__}: {exc}"
        return Outcome(
            row,
            verdict.kind,
            ids=sent,
            error=error[:1000],
            retry_in=verdict.retry_in,
            new_chat_id=verdict.new_chat_id,
        )

    async def _flush_loop(self) -> None:
        while True:
            first = await self._results.get()
            batch = [first] if first is not None else []
            done = first is None
            if not done and not self._stopping and len(self.held) > 1:
                # More outcomes are on their way: one transaction for a few of them costs about
                # what one costs for one (issue 28: the bookkeeping was a third of the CPU).
                await asyncio.sleep(FLUSH_GATHER)
            while not self._results.empty() and len(batch) < 200:
                item = self._results.get_nowait()
                if item is None:
                    done = True
                else:
                    batch.append(item)
            await self._record(batch)
            self._progress_at = time.monotonic()
            for outcome in batch:
                self.held.pop(outcome.row.id, None)
            self._progress.set()
            if batch:
                self._wake.set()
            if done:
                return

    async def _record(self, batch: list[Outcome]) -> None:
        """Commit ``batch``; when it fails, row by row, so one outcome that cannot be recorded
        (a NUL in a platform's error, say) is set aside, not retried with the rest forever."""
        told = False
        while batch:
            try:
                await asyncio.to_thread(self.ledger.apply, batch)
                return
            except Exception:
                log.warning(
                    "outbox: committing %d outcome(s) failed", len(batch), exc_info=not told
                )
                told = True
            if self._stopping:
                return  # the leases will expire and the rows be sent again
            batch = await asyncio.to_thread(self.ledger.apply_each, batch)
            if not batch:
                return
            up: bool = await asyncio.to_thread(reachable, self.engine)
            if up:
                for outcome in batch:  # the database answers: these rows are the trouble
                    try:
                        await asyncio.to_thread(bury, self.engine, self.worker_id, outcome)
                    except Exception:
                        log.exception("outbox: row %s could not be finished", outcome.row.id)
                return
            await asyncio.sleep(1.0)  # the database is away: try again

    async def _heartbeat_loop(self) -> None:
        interval = self.beat_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                self._share(await asyncio.to_thread(self._beat, False))
            except Exception:
                log.warning("outbox: heartbeat failed", exc_info=True)

    def _beat(self, first: bool) -> int:
        """In a thread: the heartbeat, which renews our leases; returns the live worker count."""
        started = time.monotonic()
        ids = list(self.held)
        live = self.ledger.beat(ids, first)
        deadline = started + self.lease.total_seconds()
        for row_id in ids:
            if (row := self.held.get(row_id)) is not None:
                row.deadline = deadline
        return live

    def _share(self, live: int) -> None:
        """On the loop (the limiter is not thread-safe): divide the global limits by ``live``."""
        if live != self.limiter.share:
            log.info("outbox: %d live worker(s) share the global rate limits", live)
        self.limiter.set_share(live)


def _remember(memory: dict[tuple[str, str], str], chat: tuple[str, str], value: str) -> None:
    if len(memory) > 10_000:
        memory.clear()
    memory[chat] = value
