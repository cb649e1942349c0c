"""The outbox table: recording messages, claiming them, and writing what became of them.

Rows go ``pending`` -> ``sent`` (with the platform's message ids) or ``dead`` (given up, admins
told). Items count as delivered to a chat only when their row is sent. No sending happens here:
:mod:`bot.delivery.worker` is the sender, and the scheduler and commands use ``enqueue`` and
``pending_item_ids`` without it. What happens to a gone or moved chat is :mod:`bot.store.chats`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from bot.clock import utcnow
from bot.store.chats import follow_move, mark_gone
from bot.store.db import dialect_insert
from bot.store.models import DeliveryRow, OutboxRow, OutboxWorkerRow
from bot.store.outcomes import Outcome, OutcomeKind
from digests.message import Message, message_to_json

log = logging.getLogger(__name__)

PENDING = "pending"
SENT = "sent"
DEAD = "dead"
MAYBE = "maybe"  # finished without a readable answer: may have been delivered
NOTICE = "notice"


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
    now = utcnow()
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
    return conn.execute(_insert_statement(conn.dialect.name), values).scalar()


@functools.cache
def _insert_statement(dialect: str) -> Any:
    # Built once per dialect: a stampede enqueues ten thousand rows, and building the statement
    # costs more than running it.
    from bot.store.db import dialect_insert_for

    return dialect_insert_for(dialect)(OutboxRow).on_conflict_do_nothing().returning(OutboxRow.id)


@functools.cache
def _delivery_insert(dialect: str) -> Any:
    from bot.store.db import dialect_insert_for

    return dialect_insert_for(dialect)(DeliveryRow).on_conflict_do_nothing()


_PENDING_ITEMS = select(OutboxRow.item_ids).where(
    OutboxRow.platform == bindparam("platform"),
    OutboxRow.chat_id == bindparam("chat_id"),
    OutboxRow.status == PENDING,
)


def pending_item_ids(conn: Connection, platform: str, chat_id: str) -> set[int]:
    """Items already queued for a chat but not yet sent: a new digest must not repeat them."""
    rows = conn.execute(_PENDING_ITEMS, {"platform": platform, "chat_id": chat_id}).scalars()
    return {int(i) for ids in rows for i in ids}


#: The furthest a row is put off, whatever it was asked (a 429's wait of 10**12 s must not raise).
MAX_DEFER = timedelta(days=7)


def _later(now: datetime, seconds: float) -> datetime:
    if not seconds > 0:
        return now
    return now + (MAX_DEFER if seconds >= MAX_DEFER.total_seconds() else timedelta(seconds=seconds))


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
    maybe_count: int = 0  # earlier tries that may have been delivered
    deadline: float = 0.0  # time.monotonic() past which the lease may be someone else's


def claim(
    conn: Connection,
    worker_id: str,
    platforms: Iterable[str],
    limit: int,
    lease: timedelta,
    now: datetime | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows for ``worker_id`` until ``now + lease``.

    Correct with several workers on PostgreSQL (``FOR UPDATE SKIP LOCKED``) and with one on
    SQLite (one atomic statement). Run it in a short transaction of its own.
    """
    now = now or utcnow()
    row = aliased(OutboxRow, name="due")
    other = aliased(OutboxRow, name="other")
    busy_elsewhere = exists().where(
        other.platform == row.platform,
        other.chat_id == row.chat_id,
        other.status == PENDING,
        other.claimed_until >= now,
        other.claimed_by != worker_id,
    )
    due = (
        select(row.id)
        .where(
            row.status == PENDING,
            row.not_before <= now,
            row.platform.in_(list(platforms)),
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
        .returning(
            OutboxRow.id,
            OutboxRow.platform,
            OutboxRow.chat_id,
            OutboxRow.chat_kind,
            OutboxRow.purpose,
            OutboxRow.message,
            OutboxRow.item_ids,
            OutboxRow.attempts,
            OutboxRow.message_ids,
            OutboxRow.maybe_count,
        )
    )
    claimed = [
        Claimed(
            r.id,
            r.platform,
            r.chat_id,
            r.chat_kind,
            r.purpose,
            r.message,
            [int(i) for i in r.item_ids],
            r.attempts,
            [str(i) for i in r.message_ids],
            r.maybe_count,
        )
        for r in conn.execute(stmt)
    ]
    claimed.sort(key=lambda c: c.id)
    return claimed


# -- outcomes -----------------------------------------------------------------------------------


class Ledger:
    """One worker's side of the outbox table: heartbeats, leases, and the outcomes of sends.

    Every method is synchronous and runs in a worker thread; each is one transaction.
    """

    def __init__(
        self,
        engine: Engine,
        worker_id: str,
        *,
        platforms: Iterable[str],
        admins: Iterable[tuple[str, str]],
        lease: timedelta,
        beat_seconds: float,
        direct_kinds: Mapping[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.platforms = sorted(platforms)
        #: The chat kind of a direct chat with a user, by platform (for admin notices).
        self.direct_kinds = dict(direct_kinds or {})
        self.admins = sorted(admins)
        self.lease = lease
        self.beat_seconds = beat_seconds
        self._apply_one: dict[OutcomeKind, Callable[[Connection, Outcome, datetime], None]] = {
            OutcomeKind.RATE_LIMITED: self._apply_rate_limited,
            OutcomeKind.TRANSIENT: self._apply_transient,
            OutcomeKind.MAYBE_DELIVERED: self._apply_maybe,
            OutcomeKind.MOVED: self._apply_moved,
            OutcomeKind.GONE: self._apply_gone,
            OutcomeKind.REJECTED: self._apply_rejected,
            OutcomeKind.RELEASE: self._apply_release,
        }

    def beat(self, ids: Sequence[int], first: bool) -> int:
        """Record that the worker lives and renew the leases of ``ids``; returns how many
        workers live (seen within three heartbeats)."""
        now = utcnow()
        with self.engine.begin() as conn:
            upsert = dialect_insert(conn)(OutboxWorkerRow).values(
                worker_id=self.worker_id, started_at=now, seen_at=now
            )
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[OutboxWorkerRow.worker_id], set_={"seen_at": now}
                )
            )
            if ids:
                conn.execute(
                    update(OutboxRow)
                    .where(
                        OutboxRow.id.in_(ids),
                        OutboxRow.claimed_by == self.worker_id,
                        OutboxRow.status == PENDING,
                    )
                    .values(claimed_until=now + self.lease)
                )
            live = conn.execute(
                select(func.count())
                .select_from(OutboxWorkerRow)
                .where(OutboxWorkerRow.seen_at >= now - timedelta(seconds=3 * self.beat_seconds))
            ).scalar_one()
            if first:
                conn.execute(
                    delete(OutboxWorkerRow).where(OutboxWorkerRow.seen_at < now - timedelta(days=1))
                )
        return int(live)

    def leave(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(OutboxRow)
                .where(OutboxRow.claimed_by == self.worker_id, OutboxRow.status == PENDING)
                .values(claimed_by=None, claimed_until=None)
            )
            conn.execute(delete(OutboxWorkerRow).where(OutboxWorkerRow.worker_id == self.worker_id))

    def due_count(self) -> int:
        now = utcnow()
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.status == PENDING,
                    OutboxRow.not_before <= now,
                    OutboxRow.platform.in_(list(self.platforms)),
                    or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now),
                )
            ).scalar_one()

    def apply(self, batch: Sequence[Outcome]) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            self._apply_all_sent(conn, [o for o in batch if o.kind is OutcomeKind.SENT], now)
            for outcome in batch:
                if outcome.kind is not OutcomeKind.SENT:
                    self._apply_one[outcome.kind](conn, outcome, now)

    def apply_each(self, batch: Sequence[Outcome]) -> list[Outcome]:
        """Record ``batch`` one outcome a transaction (after the batch as a whole failed);
        returns the outcomes that could not be recorded."""
        failed = []
        for outcome in batch:
            try:
                self.apply([outcome])
            except Exception as exc:
                log.warning(
                    "outbox: row %s: its outcome cannot be recorded (%s)", outcome.row.id, exc
                )
                failed.append(outcome)
        return failed

    def _apply_all_sent(self, conn: Connection, sent: Sequence[Outcome], now: datetime) -> None:
        """Mark rows sent (one executemany) and write their deliveries (one insert)."""
        if not sent:
            return
        # Pending is enough: whoever marks first wins, and the deliveries are written once.
        still = set(
            conn.execute(
                select(OutboxRow.id).where(
                    OutboxRow.id.in_([o.row.id for o in sent]), OutboxRow.status == PENDING
                )
            ).scalars()
        )
        for o in sent:
            if o.row.id not in still:
                log.warning("outbox: row %s was already finished elsewhere (sent twice)", o.row.id)
        table = OutboxRow.__table__  # Core executemany: one statement, many rows
        assert isinstance(table, Table)
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.status == PENDING)
            .values(
                status=SENT,
                message_ids=bindparam("ids"),
                sent_at=now,
                claimed_until=None,
                last_error=None,
            ),
            [
                {"row_id": o.row.id, "ids": o.row.message_ids + o.ids}
                for o in sent
                if o.row.id in still
            ],
        )
        deliveries = [
            {
                "platform": o.row.platform,
                "chat_id": o.row.chat_id,
                "item_id": item,
                "outbox_id": o.row.id,
                "delivered_at": now,
            }
            for o in sent
            if o.row.id in still
            for item in dict.fromkeys(o.row.item_ids)
        ]
        if deliveries:
            # One cached statement, executed for many rows (a multi-VALUES insert is compiled
            # anew for every batch: most of a small batch's cost).
            conn.execute(_delivery_insert(conn.dialect.name), deliveries)

    def _mine(self, row_id: int) -> Any:
        return and_(
            OutboxRow.id == row_id,
            OutboxRow.status == PENDING,
            OutboxRow.claimed_by == self.worker_id,
        )

    def _apply_release(self, conn: Connection, o: Outcome, now: datetime) -> None:
        conn.execute(
            update(OutboxRow)
            .where(self._mine(o.row.id))
            .values(claimed_by=None, claimed_until=None)
        )

    def _apply_rate_limited(self, conn: Connection, o: Outcome, now: datetime) -> None:
        conn.execute(
            update(OutboxRow)
            .where(self._mine(o.row.id))
            .values(
                claimed_by=None,
                claimed_until=None,
                last_error=o.error,
                message_ids=o.row.message_ids + o.ids,
                not_before=_later(now, o.retry_in or 0.0),
            )
        )

    def _apply_transient(self, conn: Connection, o: Outcome, now: datetime) -> None:
        row = o.row
        attempts = row.attempts + 1
        values: dict[str, Any] = {
            "claimed_by": None,
            "claimed_until": None,
            "attempts": attempts,
            "last_error": o.error,
            "message_ids": row.message_ids + o.ids,
        }
        if o.retry_in is None:
            values.update(status=DEAD, dead_at=now)
        else:
            values["not_before"] = _later(now, o.retry_in)
        if (
            conn.execute(update(OutboxRow).where(self._mine(row.id)).values(**values)).rowcount
            and o.retry_in is None
        ):
            self._notify(
                conn,
                row,
                f"Gave up on a {row.purpose} to {row.platform} chat "
                f"{row.chat_id} after {attempts} attempt{'' if attempts == 1 else 's'}: {o.error}",
            )

    def _apply_maybe(self, conn: Connection, o: Outcome, now: datetime) -> None:
        """The send may have gone through: its items count as delivered now (next week must not
        repeat them), and it is tried again only while the policy allows (``retry_in``)."""
        row = o.row
        values: dict[str, Any] = {
            "claimed_by": None,
            "claimed_until": None,
            "maybe_count": row.maybe_count + 1,
            "last_error": f"maybe delivered: {o.error}"[:1000],
            "message_ids": row.message_ids + o.ids,
        }
        if o.retry_in is None:
            values.update(status=MAYBE, sent_at=now)
        else:
            values["not_before"] = _later(now, o.retry_in)
        if not conn.execute(update(OutboxRow).where(self._mine(row.id)).values(**values)).rowcount:
            return
        deliveries = [
            {
                "platform": row.platform,
                "chat_id": row.chat_id,
                "item_id": item,
                "outbox_id": row.id,
                "delivered_at": now,
            }
            for item in dict.fromkeys(row.item_ids)
        ]
        if deliveries:
            conn.execute(
                dialect_insert(conn)(DeliveryRow).values(deliveries).on_conflict_do_nothing()
            )
        if o.retry_in is None:
            log.warning(
                "outbox: %s to %s:%s may have been delivered (%d unreadable answers); not retried",
                row.purpose,
                row.platform,
                row.chat_id,
                row.maybe_count + 1,
            )

    def _apply_rejected(self, conn: Connection, o: Outcome, now: datetime) -> None:
        row = o.row
        if conn.execute(
            update(OutboxRow)
            .where(self._mine(row.id))
            .values(
                status=DEAD,
                dead_at=now,
                claimed_until=None,
                last_error=o.error,
                attempts=row.attempts + 1,
                message_ids=row.message_ids + o.ids,
            )
        ).rowcount:
            self._notify(
                conn,
                row,
                f"{row.platform} refused a {row.purpose} to chat "
                f"{row.chat_id}; it will not be retried: {o.error}",
            )

    def _apply_gone(self, conn: Connection, o: Outcome, now: datetime) -> None:
        row = o.row
        conn.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(message_ids=row.message_ids + o.ids)
        )
        gone = mark_gone(conn, row.platform, row.chat_id, o.error, now)
        if gone.dropped:
            self._notify(
                conn,
                row,
                f"{row.platform} chat {row.chat_id} is gone ({o.error[:250]}): "
                f"{gone.subscriptions} subscription(s) deactivated, {gone.dropped} message(s) "
                "dropped.",
            )

    def _apply_moved(self, conn: Connection, o: Outcome, now: datetime) -> None:
        row = o.row
        if not conn.execute(select(OutboxRow.id).where(self._mine(row.id))).first():
            return
        follow_move(conn, row.platform, row.chat_id, o.new_chat_id, now)
        conn.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row.id)
            .values(
                claimed_by=None,
                claimed_until=None,
                not_before=now,
                last_error=o.error,
                message_ids=row.message_ids + o.ids,
            )
        )

    def _notify(self, conn: Connection, row: Claimed, text: str) -> None:
        """Queue a notice to every admin we can reach, in the transaction that caused it."""
        if row.purpose == NOTICE:
            return  # an admin's own chat failing must not start a loop of notices
        log.warning("outbox: %s", text)
        for platform, user in self.admins:
            if platform not in self.platforms:
                continue
            enqueue(
                conn,
                platform=platform,
                chat_id=user,
                message=Message.text(text),
                purpose=NOTICE,
                dedup_key=f"notice:{row.id}:{platform}:{user}"[:200],
                chat_kind=self.direct_kinds.get(platform, ""),
            )
