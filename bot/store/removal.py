"""Taking months out: the bundled samples (gone for good once a real report is stored) and a
report an admin removes (``digestbot reports remove``, ``/reports remove``).

- Samples are deleted with everything that points at them: they were a demo on the console, and
  nothing of theirs may show in an answer, digest, page or feed of real reports.
- A real month removed keeps its rows: its report versions stop being current and its items are
  marked removed (out of every answer, page, feed and search), while the deliveries, votes and
  watch hits that point at them stay. A month ingested again takes its items' old ids back (by
  key), so a digest never sends a chat what it had before the removal.
- A copy merged into another item of its month (the same paper stored twice, by two names, before
  an item's link was its identity) gives its deliveries, votes and watch hits to the item that
  stays (:func:`move_history`, run by ``digestbot reparse`` and any new version of the month).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Integer, delete, func, literal, select, text, update

from bot.store.db import dialect_insert
from bot.store.models import (
    DeliveryRow,
    FeedbackRow,
    ItemNameRow,
    ItemRow,
    ReportRow,
    WatchHitRow,
)


def _drop_search(conn: Connection, ids: Sequence[int]) -> None:
    if not ids:
        return
    conn.execute(delete(ItemNameRow).where(ItemNameRow.item_id.in_(ids)))
    if conn.dialect.name == "sqlite":
        conn.execute(
            text("DELETE FROM item_search WHERE rowid IN ({})".format(",".join(map(str, ids))))
        )
    else:
        conn.execute(text("DELETE FROM item_search WHERE item_id = ANY(:ids)"), {"ids": list(ids)})


def sample_periods(conn: Connection) -> list[str]:
    """The months whose current report is a bundled sample, newest first."""
    return list(
        conn.execute(
            select(ReportRow.period)
            .where(ReportRow.sample.is_(True), ReportRow.is_current.is_(True))
            .order_by(ReportRow.period.desc())
        ).scalars()
    )


def drop_samples(conn: Connection) -> list[str]:
    """Delete every sample report with its items and what points at them; returns the months."""
    periods = sample_periods(conn)
    report_ids = list(
        conn.execute(select(ReportRow.id).where(ReportRow.sample.is_(True))).scalars()
    )
    if not report_ids:
        return []
    ids = list(
        conn.execute(
            select(ItemRow.id).where(
                ItemRow.report_id.in_(report_ids)
                | ItemRow.period.in_(select(ReportRow.period).where(ReportRow.id.in_(report_ids)))
            )
        ).scalars()
    )
    if ids:
        _drop_search(conn, ids)
        for table in (DeliveryRow, FeedbackRow, WatchHitRow):
            conn.execute(delete(table).where(table.item_id.in_(ids)))
        conn.execute(delete(ItemRow).where(ItemRow.id.in_(ids)))
    conn.execute(delete(ReportRow).where(ReportRow.id.in_(report_ids)))
    return periods


def remove_period(conn: Connection, period: str, now: datetime) -> int | None:
    """Take month ``period`` out; returns how many items it had (None: no current report)."""
    current = conn.execute(
        select(ReportRow.id, ReportRow.sample).where(
            ReportRow.period == period, ReportRow.is_current.is_(True)
        )
    ).first()
    if current is None:
        return None
    if current.sample:
        # a sample month goes like every sample: entirely
        count = conn.execute(
            select(func.count())
            .select_from(ItemRow)
            .where(ItemRow.period == period, ItemRow.removed.is_(False))
        ).scalar_one()
        ids = list(conn.execute(select(ItemRow.id).where(ItemRow.period == period)).scalars())
        _drop_search(conn, ids)
        for table in (DeliveryRow, FeedbackRow, WatchHitRow):
            conn.execute(delete(table).where(table.item_id.in_(ids)))
        conn.execute(delete(ItemRow).where(ItemRow.id.in_(ids)))
        conn.execute(delete(ReportRow).where(ReportRow.period == period))
        return int(count)
    ids = list(
        conn.execute(
            select(ItemRow.id).where(ItemRow.period == period, ItemRow.removed.is_(False))
        ).scalars()
    )
    if ids:
        conn.execute(
            update(ItemRow).where(ItemRow.id.in_(ids)).values(removed=True, updated_at=now)
        )
        _drop_search(conn, ids)
    conn.execute(update(ReportRow).where(ReportRow.period == period).values(is_current=False))
    return len(ids)


def move_history(conn: Connection, moves: dict[int, int]) -> None:
    """Point what points at the items ``moves`` takes from (copies merged into another item of
    their month) at the items it gives: deliveries, votes and watch hits. Where the item that
    stays has its own row already (the chat had both, the person voted on both), that is kept."""
    for old, new in moves.items():
        for table, columns in _HISTORY:
            rows = select(
                *(
                    literal(new, Integer) if c == "item_id" else table.__table__.c[c]
                    for c in columns
                )
            ).where(table.item_id == old)
            conn.execute(
                dialect_insert(conn)(table)
                .from_select(list(columns), rows)
                .on_conflict_do_nothing()
            )
            conn.execute(delete(table).where(table.item_id == old))


_HISTORY = (
    (DeliveryRow, ("platform", "chat_id", "item_id", "outbox_id", "delivered_at")),
    (FeedbackRow, ("platform", "chat_id", "item_id", "user_id", "vote", "updated_at")),
    (WatchHitRow, ("watch_id", "item_id", "matched_at")),
)
