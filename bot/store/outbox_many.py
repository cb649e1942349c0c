"""Many outbox rows in one statement: a fan-out composed at once (a watch's matches at ingest).

Split from :mod:`bot.store.outbox`, whose :func:`~bot.store.outbox.enqueue` records one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, insert

from bot.clock import utcnow
from bot.store.models import OutboxRow
from bot.store.outbox import PENDING
from digests.message import Message, message_to_json


@dataclass(frozen=True)
class Outgoing:
    """One message for :func:`enqueue_many`; the fields mean what
    :func:`bot.store.outbox.enqueue`'s do."""

    platform: str
    chat_id: str
    message: Message
    item_ids: Sequence[int] = ()
    purpose: str = "digest"
    chat_kind: str = ""


def enqueue_many(conn: Connection, outgoing: Sequence[Outgoing]) -> int:
    """Record many messages in one statement (in the caller's transaction); returns how many.

    For fan-outs composed at once (a watch's matches at ingest): ten thousand single inserts
    cost seconds, one executemany a fraction. A message shared by several rows is serialized once.
    """
    if not outgoing:
        return 0
    now = utcnow()
    serialized: dict[int, dict[str, object]] = {}
    values = []
    for out in outgoing:
        body = serialized.get(id(out.message))
        if body is None:
            body = serialized[id(out.message)] = message_to_json(out.message)
        values.append(
            {
                "platform": out.platform,
                "chat_id": out.chat_id,
                "chat_kind": out.chat_kind,
                "subscription_id": None,
                "purpose": out.purpose,
                "dedup_key": None,
                "message": body,
                "item_ids": list(out.item_ids),
                "status": PENDING,
                "attempts": 0,
                "not_before": now,
                "message_ids": [],
                "created_at": now,
            }
        )
    # No RETURNING: with it SQLite inserts one row a statement. In batches: one batch's JSON is
    # held at a time.
    for start in range(0, len(values), _BATCH):
        conn.execute(insert(OutboxRow), values[start : start + _BATCH])
    return len(values)


_BATCH = 1000
