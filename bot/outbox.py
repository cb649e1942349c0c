"""The outbox: every digest is recorded here, one row per destination, before it is sent.

Rows go ``pending`` -> ``sent`` (with the platform's message ids) or ``dead`` (given up, admins
told). Items count as delivered to a chat only when their row is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.models import OutboxRow
from digests.message import Message, message_to_json

PENDING = "pending"
SENT = "sent"
DEAD = "dead"


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
    now = datetime.now(UTC)
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
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(OutboxRow).values(**values).on_conflict_do_nothing().returning(OutboxRow.id)
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
