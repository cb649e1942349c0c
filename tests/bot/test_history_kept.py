"""Nothing sent is sent again (issue 24), on SQLite and PostgreSQL, over the bundled samples
stored as real reports: a month removed, its deliveries older than the history setting pruned,
and the month stored again (or the paper in a later month); and ``digestbot reparse`` merging the
same paper stored twice in one month, which moves the copy's deliveries, votes and watch hits to
the item that stays."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from bot.cli import main
from bot.scheduling.housekeeping import prune
from bot.store.models import DeliveryRow, FeedbackRow, ItemRow, WatchHitRow, WatchRow
from bot.store.store import Store
from digests.text import normalize_name
from tests.stored import insert_vote

SAMPLES = Path(__file__).resolve().parents[2] / "digests" / "samples"
FEB = "GAD: Black-Box On-Policy Distillation of Large Language Models"
AGAIN = "GAD again"
LONG_AGO = datetime(2026, 2, 2, tzinfo=UTC)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Store]:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    assert main(["ingest", str(SAMPLES / "2026-02.md")]) == 0  # as a real report
    s = Store.open(db_url)
    yield s
    s.close()


def _id(store: Store, title: str) -> int:
    with store.engine.connect() as conn:
        found: int = conn.execute(select(ItemRow.id).where(ItemRow.title == title)).scalar_one()
    return found


def _deliver(store: Store, item_id: int, chat: str = "7") -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(DeliveryRow).values(
                platform="telegram",
                chat_id=chat,
                item_id=item_id,
                outbox_id=None,
                delivered_at=LONG_AGO,
            )
        )


def _digest(capsys: pytest.CaptureFixture[str], chat: str = "telegram:7") -> str:
    capsys.readouterr()
    assert main(["digest", "chisel", "--chat", chat]) == 0
    return capsys.readouterr().out


def test_a_removed_month_pruned_and_stored_again_is_not_sent_again(
    opened: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    _deliver(opened, _id(opened, FEB))
    assert FEB not in _digest(capsys)
    assert main(["reports", "remove", "2026-02"]) == 0
    # a year on, the leader prunes the history (90 days)
    prune(opened, LONG_AGO + timedelta(days=365), timedelta(days=7), timedelta(days=90))
    with opened.engine.connect() as conn:
        kept = conn.execute(select(DeliveryRow.item_id)).scalars().all()
    assert kept == [_id(opened, FEB)]
    assert main(["ingest", str(SAMPLES / "2026-02.md")]) == 0  # the month back
    out = _digest(capsys)
    assert "GAD" not in out
    assert FEB in _digest(capsys, "telegram:8")  # a chat that never had it does get it


def test_a_chat_keeps_one_delivery_per_item_whatever_is_pruned(opened: Store) -> None:
    feb = _id(opened, FEB)
    with opened.engine.begin() as conn:  # the same paper in a later month, sent there too
        row = conn.execute(select(ItemRow).where(ItemRow.id == feb)).mappings().one()
        values = {k: v for k, v in row.items() if k != "id"}
        later = conn.execute(
            insert(ItemRow).values({**values, "period": "2026-03"}).returning(ItemRow.id)
        ).scalar_one()
    _deliver(opened, feb)
    _deliver(opened, later)
    pruned = prune(opened, LONG_AGO + timedelta(days=365), timedelta(days=7), timedelta(days=90))
    assert pruned.deliveries == 1
    with opened.engine.connect() as conn:
        assert conn.execute(select(DeliveryRow.item_id)).scalars().all() == [later]
    again = prune(opened, LONG_AGO + timedelta(days=365), timedelta(days=7), timedelta(days=90))
    assert again.deliveries == 0


def test_reparse_moves_a_merged_copys_history_to_the_item_that_stays(
    opened: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    feb = _id(opened, FEB)
    with opened.engine.begin() as conn:
        # as a database from before stored them: the paper twice in February, each by its name
        row = conn.execute(select(ItemRow).where(ItemRow.id == feb)).mappings().one()
        values = {k: v for k, v in row.items() if k != "id"}
        data = {**values["data"], "title": AGAIN, "aliases": [AGAIN]}
        copy = conn.execute(
            insert(ItemRow)
            .values(
                {
                    **values,
                    "title": AGAIN,
                    "name_norm": normalize_name(AGAIN),
                    "key": f"paper:{normalize_name(AGAIN)}",
                    "data": data,
                    "position": values["position"] + 1,
                }
            )
            .returning(ItemRow.id)
        ).scalar_one()
        conn.execute(
            update(ItemRow).where(ItemRow.id == feb).values(key=f"paper:{normalize_name(FEB)}")
        )
        insert_vote(conn, copy, LONG_AGO)
        watch = conn.execute(
            insert(WatchRow)
            .values(
                platform="telegram",
                chat_id="7",
                words="GAD",
                words_key="gad",
                language="en",
                created_by="u",
                created_at=LONG_AGO,
            )
            .returning(WatchRow.id)
        ).scalar_one()
        conn.execute(insert(WatchHitRow).values(watch_id=watch, item_id=copy, matched_at=LONG_AGO))
    _deliver(opened, copy)  # chat 7 had the copy; chat 8 had both
    _deliver(opened, copy, "8")
    _deliver(opened, feb, "8")

    assert main(["reparse"]) == 0
    with opened.engine.connect() as conn:
        delivered = sorted(conn.execute(select(DeliveryRow.chat_id, DeliveryRow.item_id)).all())
        votes = conn.execute(select(FeedbackRow.item_id)).scalars().all()
        hits = conn.execute(select(WatchHitRow.item_id)).scalars().all()
        removed = conn.execute(select(ItemRow.removed).where(ItemRow.id == copy)).scalar_one()
    assert removed
    assert delivered == [("7", feb), ("8", feb)]
    assert votes == [feb]
    assert hits == [feb]
    out = _digest(capsys)
    assert "Details: GAD" not in out  # chat 7 had the paper: not sent again
    assert "you liked GAD" in out  # and its vote counts, on the item that stays
    assert FEB in _digest(capsys, "telegram:9")
