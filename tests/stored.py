"""Test data in a store: the bundled sample reports stored as ordinary (real) reports.

``bot.gateway.seed_samples`` stores them marked as samples, which the first real report deletes;
tests that put more reports beside them store them as real ones instead.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, insert

from bot.store.ingest import IngestSummary, ingest_file
from bot.store.models import FeedbackRow
from bot.store.store import Store

SAMPLES = Path(__file__).resolve().parents[1] / "digests" / "samples"


def ingest_samples(store: Store) -> str:
    """Ingest ``digests/samples/*.md`` as real reports; returns the summary line."""
    summary = IngestSummary()
    for path in sorted(SAMPLES.glob("*.md")):
        summary.add(ingest_file(store, path, 5 * 1024 * 1024, "test"))
    return summary.line()


def insert_vote(conn: Connection, item_id: int, when: datetime, vote: int = 1) -> None:
    """User ``u``'s vote in Telegram chat ``7`` on an item, as a press of 👍 (or 👎) stores it."""
    conn.execute(
        insert(FeedbackRow).values(
            platform="telegram",
            chat_id="7",
            item_id=item_id,
            user_id="u",
            vote=vote,
            updated_at=when,
        )
    )
