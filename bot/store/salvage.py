"""Rows whose outcome cannot be recorded: set aside so the rest of their batch goes on.

The outbox worker commits outcomes in batches (:meth:`~bot.store.outbox.Ledger.apply`). When a
batch fails it records them one by one (:meth:`~bot.store.outbox.Ledger.apply_each`); if the
database answers (:func:`reachable`) the outcomes that still fail are the rows' own trouble, and
:func:`bury` finishes those rows plainly instead of retrying the batch forever.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, and_, select, update

from bot.clock import utcnow
from bot.store.models import OutboxRow
from bot.store.outbox import DEAD, MAYBE, PENDING
from bot.store.outcomes import Outcome, OutcomeKind

log = logging.getLogger(__name__)


def reachable(engine: Engine) -> bool:
    """Whether the database answers at all."""
    try:
        with engine.connect() as conn:
            conn.execute(select(1))
    except Exception:
        return False
    return True


def bury(engine: Engine, worker_id: str, outcome: Outcome) -> None:
    """Finish a row whose outcome cannot be recorded: ``maybe`` if it was (or may have been)
    delivered, never to be sent again as if it had not, else ``dead``; with a plain error."""
    delivered = outcome.kind in (OutcomeKind.SENT, OutcomeKind.MAYBE_DELIVERED)
    now = utcnow()
    values: dict[str, Any] = {
        "status": MAYBE if delivered else DEAD,
        "claimed_by": None,
        "claimed_until": None,
        "last_error": f"its outcome ({outcome.kind}) could not be recorded",
    }
    values["sent_at" if delivered else "dead_at"] = now
    mine = and_(
        OutboxRow.id == outcome.row.id,
        OutboxRow.status == PENDING,
        OutboxRow.claimed_by == worker_id,
    )
    with engine.begin() as conn:
        conn.execute(update(OutboxRow).where(mine).values(**values))
    log.error(
        "outbox: row %s to %s:%s finished as %s: its outcome (%s) could not be recorded",
        outcome.row.id,
        outcome.row.platform,
        outcome.row.chat_id,
        values["status"],
        outcome.kind,
    )
