"""The leader prunes the outbox and the deliveries, keeping what digests read (SQLite and
PostgreSQL): finished rows older than the history setting go, pending rows and the deliveries of
current items stay whatever their age, and a digest never sends an item twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import aliased

from bot.gateway import seed_samples
from bot.scheduling.housekeeping import prune
from bot.store.models import DeliveryRow, ItemRow, OutboxRow
from bot.store.outbox import enqueue
from bot.store.store import Store
from digests.message import Message, Paragraph, Span

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
HISTORY = timedelta(days=90)


def _row(store: Store, status: str, age_days: float) -> int:
    when = NOW - timedelta(days=age_days)
    with store.engine.begin() as conn:
        row_id = enqueue(
            conn,
            platform="telegram",
            chat_id="7",
            message=Message((Paragraph((Span(f"{status} {age_days}"),)),)),
        )
        assert row_id is not None
        finished = {"sent_at": when} if status in ("sent", "maybe") else {}
        if status == "dead":
            finished = {"dead_at": when}
        conn.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id)
            .values(status=status, created_at=when, not_before=when, **finished)
        )
    return row_id


def _deliver(store: Store, item_id: int, age_days: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(DeliveryRow).values(
                platform="telegram",
                chat_id="7",
                item_id=item_id,
                outbox_id=None,
                delivered_at=NOW - timedelta(days=age_days),
            )
        )


def test_finished_history_goes_and_what_digests_read_stays(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        seed_samples(store)
        newer = aliased(ItemRow)
        with store.engine.connect() as conn:
            old_copy, new_copy = conn.execute(
                select(ItemRow.id, newer.id)
                .join(newer, (newer.key == ItemRow.key) & (newer.theme == ItemRow.theme))
                .where(newer.period > ItemRow.period)
                .limit(1)
            ).one()
            current, removed = conn.execute(
                select(ItemRow.id).where(ItemRow.id.not_in([old_copy, new_copy])).limit(2)
            ).scalars()
        with store.engine.begin() as conn:  # an item a newer version of its month dropped
            conn.execute(update(ItemRow).where(ItemRow.id == removed).values(removed=True))
        gone = {_row(store, "sent", 200), _row(store, "dead", 100), _row(store, "maybe", 95)}
        kept = {_row(store, "sent", 10), _row(store, "pending", 400), _row(store, "dead", 30)}
        # the item in two months, both copies sent: one delivery answers "had it" for both
        _deliver(store, old_copy, 200)
        _deliver(store, new_copy, 200)
        _deliver(store, current, 300)
        # no current copy left, but its key may come back (the month stored again): it stays
        _deliver(store, removed, 200)

        result = prune(store, NOW, timedelta(days=7), HISTORY)

        assert (result.outbox, result.deliveries) == (3, 1)
        with store.engine.connect() as conn:
            left = set(conn.execute(select(OutboxRow.id)).scalars())
            delivered = set(conn.execute(select(DeliveryRow.item_id)).scalars())
        assert left == kept
        assert not gone & left
        assert delivered == {max(old_copy, new_copy), current, removed}
        again = prune(store, NOW, timedelta(days=7), HISTORY)
        assert (again.outbox, again.deliveries) == (0, 0)
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(OutboxRow)).scalar_one() == 3
    finally:
        store.close()
