"""Pruning the delivery history: finished outbox rows and deliveries digests no longer consult.

- ``outbox``: rows ``sent``, ``maybe`` (finished without a readable answer) or ``dead`` finished
  before the cutoff. Pending rows are never touched, however old.
- ``deliveries``: what a chat was sent, so that digests never send it there again. A digest only
  looks at an item's newest copy (the theme's item of the latest month with that key) while it
  is not removed, and asks whether the chat had any copy of it (any month's: one item per key);
  a delivery of an item with no current copy left is history no digest reads, and goes once
  older than the cutoff. Deliveries of items with a current copy stay whatever their age:
  pruning them would send those items again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, exists, false, or_, select
from sqlalchemy.orm import aliased

from bot.store.models import DeliveryRow, ItemRow, OutboxRow
from bot.store.outbox import DEAD, MAYBE, SENT

_newer = aliased(ItemRow, name="newer")


def prune_outbox(conn: Connection, cutoff: datetime) -> int:
    """Delete outbox rows that finished (sent, maybe delivered, dead) before ``cutoff``."""
    finished = or_(
        (OutboxRow.status.in_([SENT, MAYBE])) & (OutboxRow.sent_at < cutoff),
        (OutboxRow.status == DEAD) & (OutboxRow.dead_at < cutoff),
    )
    return conn.execute(delete(OutboxRow).where(finished)).rowcount or 0


def prune_deliveries(conn: Connection, cutoff: datetime) -> int:
    """Delete deliveries older than ``cutoff`` of items no digest can choose any more: no
    current copy of the item (its key, in any month) is left."""
    alive = exists().where(
        _newer.kind == ItemRow.kind,
        _newer.key == ItemRow.key,
        _newer.removed == false(),
    )
    stale = select(ItemRow.id).where(~alive)
    statement = delete(DeliveryRow).where(
        DeliveryRow.delivered_at < cutoff, DeliveryRow.item_id.in_(stale)
    )
    return conn.execute(statement).rowcount or 0
