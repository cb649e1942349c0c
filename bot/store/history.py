"""Pruning the delivery history: finished outbox rows and deliveries digests no longer consult.

- ``outbox``: rows ``sent``, ``maybe`` (finished without a readable answer) or ``dead`` finished
  before the cutoff. Pending rows are never touched, however old.
- ``deliveries``: what a chat was sent, so that digests never send it there again. A digest asks
  whether the chat had any copy of an item (any month's, removed or not: one item per key), and
  a key can come back (a removed month stored again, the paper in a later month), so a chat's
  only delivery of an item is kept whatever its age. What goes, once older than the cutoff, are
  the extra deliveries of an item the chat was sent in several months: the newest stays.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, exists, or_
from sqlalchemy.orm import aliased

from bot.store.models import DeliveryRow, ItemRow, OutboxRow
from bot.store.outbox import DEAD, MAYBE, SENT

_item = aliased(ItemRow, name="item")
_newer = aliased(ItemRow, name="newer")
_kept = aliased(DeliveryRow, name="kept")


def prune_outbox(conn: Connection, cutoff: datetime) -> int:
    """Delete outbox rows that finished (sent, maybe delivered, dead) before ``cutoff``."""
    finished = or_(
        (OutboxRow.status.in_([SENT, MAYBE])) & (OutboxRow.sent_at < cutoff),
        (OutboxRow.status == DEAD) & (OutboxRow.dead_at < cutoff),
    )
    return conn.execute(delete(OutboxRow).where(finished)).rowcount or 0


def prune_deliveries(conn: Connection, cutoff: datetime) -> int:
    """Delete deliveries older than ``cutoff`` of an item the chat has another delivery of,
    of a copy stored later (a higher item id): the one left answers "had it" for every copy."""
    later = exists().where(
        _item.id == DeliveryRow.item_id,
        _kept.platform == DeliveryRow.platform,
        _kept.chat_id == DeliveryRow.chat_id,
        _kept.item_id > DeliveryRow.item_id,
        _newer.id == _kept.item_id,
        _newer.kind == _item.kind,
        _newer.key == _item.key,
    )
    statement = delete(DeliveryRow).where(DeliveryRow.delivered_at < cutoff, later)
    return conn.execute(statement).rowcount or 0
