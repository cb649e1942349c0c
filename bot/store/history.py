"""Pruning the delivery history: finished outbox rows and deliveries digests no longer consult.

- ``outbox``: rows ``sent``, ``maybe`` (finished without a readable answer) or ``dead`` finished
  before the cutoff. Pending rows are never touched, however old.
- ``deliveries``: what a chat was sent, so that digests never send it there again. A digest only
  looks at an item's newest copy (the theme's item of the latest month with that key) while it
  is not removed; a delivery of an item that is removed or has a newer copy is history no digest
  reads, and goes once older than the cutoff. Deliveries of current items stay whatever their
  age: pruning them would send those items again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, exists, false, or_, select, true
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
    """Delete deliveries older than ``cutoff`` of items no digest can choose any more."""
    superseded = exists().where(
        _newer.theme == ItemRow.theme,
        _newer.key == ItemRow.key,
        _newer.removed == false(),
        _newer.period > ItemRow.period,
    )
    stale = select(ItemRow.id).where(or_(ItemRow.removed == true(), superseded))
    statement = delete(DeliveryRow).where(
        DeliveryRow.delivered_at < cutoff, DeliveryRow.item_id.in_(stale)
    )
    return conn.execute(statement).rowcount or 0
