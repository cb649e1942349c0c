"""The leader's housekeeping: tables that only grow are pruned, once a day, by one gateway.

- ``processed_updates``: the platform delivery ids (Telegram updates, Slack and Lark events)
  answered already. A platform redelivers for minutes, not days, so an id is forgotten after
  ``DIGESTBOT_DEDUP_KEEP_DAYS`` (default 7).
- ``action_tokens``: button commands too long for a platform's payload, once expired.
- ``outbox`` and ``deliveries``: finished outbox rows, and a chat's extra deliveries of an item
  it was sent in several months, after ``DIGESTBOT_HISTORY_KEEP_DAYS`` (default 90; see
  :mod:`bot.store.history`). A chat's last delivery of each item is kept, removed or not: it is
  what stops a digest sending the item twice.

The gateway starts :class:`Housekeeping` when it becomes the leader and stops it when it is no
longer; :func:`prune` is the plain function it calls, which tests call with a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock, utcnow
from bot.store.actions import purge_tokens
from bot.store.history import prune_deliveries, prune_outbox
from bot.store.store import Store

log = logging.getLogger(__name__)

#: How often the leader prunes (and once at once when it is elected).
PRUNE_EVERY = timedelta(days=1)
#: After a failed prune (say the database was briefly away), the next try.
RETRY_AFTER = timedelta(minutes=10)
#: How long finished outbox rows and extra deliveries are kept (DIGESTBOT_HISTORY_KEEP_DAYS).
HISTORY_KEEP = timedelta(days=90)


@dataclass(frozen=True)
class Pruned:
    """How many rows one prune deleted."""

    updates: int
    tokens: int
    outbox: int = 0
    deliveries: int = 0


def prune(
    store: Store, now: datetime, keep: timedelta, history: timedelta = HISTORY_KEEP
) -> Pruned:
    """Forget delivery ids seen before ``now - keep``, delete button tokens expired by ``now``,
    and outbox rows and extra deliveries (see :mod:`bot.store.history`) from before ``now - history``."""
    updates = store.forget_updates_before(now - keep)
    with store.engine.begin() as conn:
        tokens = purge_tokens(conn, now)
    with store.engine.begin() as conn:
        outbox = prune_outbox(conn, now - history)
        deliveries = prune_deliveries(conn, now - history)
    log.info(
        "housekeeping: pruned %d delivery id(s) older than %s, %d expired button token(s), "
        "%d finished outbox row(s) and %d extra deliveries older than %s",
        updates,
        _days(keep),
        tokens,
        outbox,
        deliveries,
        _days(history),
    )
    return Pruned(updates, tokens, outbox, deliveries)


class Housekeeping:
    """Runs :func:`prune` now and every ``every`` until stopped (on the leader only)."""

    def __init__(
        self,
        store: Store,
        *,
        keep: timedelta,
        history: timedelta = HISTORY_KEEP,
        clock: Clock = utcnow,
        every: timedelta = PRUNE_EVERY,
    ) -> None:
        self.store = store
        self.keep = keep
        self.history = history
        self.clock = clock
        self.every = every
        self.last: Pruned | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="housekeeping")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            wait = self.every
            try:
                self.last = await asyncio.to_thread(
                    prune, self.store, self.clock(), self.keep, self.history
                )
            except Exception as exc:
                # One line: the next try comes soon, and a database that is away shows elsewhere.
                log.warning(
                    "housekeeping: pruning failed (%s: %s); trying again in %s",
                    type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "",
                    RETRY_AFTER,
                )
                wait = min(self.every, RETRY_AFTER)
            await asyncio.sleep(wait.total_seconds())


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day(s)"
