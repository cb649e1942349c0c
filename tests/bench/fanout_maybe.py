"""The fan-out benchmark's ambiguous-send scenario (run it with ``python -m tests.bench.fanout``).

The fake Telegram delivers every message, but answers a fraction of sendMessage calls so that
the client cannot tell: in turn a 200 that is not JSON, an answer later than the client's
timeout, and a connection dropped without an answer. One digest per chat goes through the real
outbox worker (a subprocess, ``DIGESTBOT_SEND_MAYBE_ATTEMPTS`` at its default); what counts is
the copies each chat got (goal: never more than two), how many rows were finished as "maybe
delivered", and the time against the same fan-out with every answer readable.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import random
import statistics
import tempfile
import time
from collections import Counter
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from tests.bench.fanout import TOKEN, _wait_exit, prepare, spawn_worker, tally
from tests.fakes import Fault, Faults
from tests.fakes.telegram import FakeTelegram

KINDS = ("non_json_200", "timeout_after_delivery", "dropped_connection")
#: The worker's Bot API timeout here, and how long a "timeout" answer is held back.
REQUEST_TIMEOUT = 2.0
HELD_BACK = REQUEST_TIMEOUT + 1.0
CLEAN_RUNS = 3

# Which ambiguous answer the current request gets; set where the fault is taken, read after
# the fake has handled the request (one request, one task: no other request sees it).
_KIND: contextvars.ContextVar[str | None] = contextvars.ContextVar("ambiguous_kind", default=None)


class _AmbiguousFaults(Faults):
    """Queued faults first; else ``fraction`` of sendMessage calls get the next kind in turn."""

    def __init__(self, fraction: float, seed: int) -> None:
        super().__init__()
        self.fraction = fraction
        self._rng = random.Random(seed)
        self._kinds = itertools.cycle(KINDS)
        self.served: Counter[str] = Counter()

    def take(self, method: str) -> Fault | None:
        fault = super().take(method)
        if fault is not None or method != "sendMessage" or self._rng.random() >= self.fraction:
            return fault
        kind = next(self._kinds)
        _KIND.set(kind)
        self.served[kind] += 1
        delay = HELD_BACK if kind == "timeout_after_delivery" else 0.0
        return Fault(200, "<html>502 Bad Gateway</html>", delay=delay, deliver=True)


class AmbiguousTelegram(FakeTelegram):
    """The fake Telegram, answering ``fraction`` of the messages it delivers ambiguously."""

    def __init__(self, token: str, *, rate: float, fraction: float, seed: int = 16) -> None:
        super().__init__(token, rate=rate)
        self.ambiguous_faults(fraction, seed)

    def ambiguous_faults(self, fraction: float, seed: int = 16) -> None:
        """From now on answer ``fraction`` of the delivered messages ambiguously."""
        self.faults = self._ambiguous = _AmbiguousFaults(fraction, seed)

    @property
    def ambiguous(self) -> Counter[str]:
        """Ambiguous answers served (or being served: a held-back one counts from its start)."""
        return self._ambiguous.served

    async def _api(self, request: web.Request) -> web.Response:
        _KIND.set(None)
        response = await super()._api(request)
        kind = _KIND.get()
        if kind is None:
            return response
        if response.status != 200:
            self._ambiguous.served[kind] -= 1  # rejected (a 429, say): nothing was delivered
        elif kind == "dropped_connection" and request.transport is not None:
            request.transport.abort()  # the message is in; the client sees the socket close
        return response


def outbox_figures(database_url: str) -> dict[str, int]:
    """Rows by status, rows that met an ambiguous answer (or a transient failure), chats with
    deliveries recorded."""
    from bot.store.db import make_engine
    from bot.store.models import DeliveryRow, OutboxRow

    engine = make_engine(database_url)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
        )
        ambiguous = conn.execute(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.maybe_count > 0)
        ).scalar_one()
        transient = conn.execute(
            select(func.count()).select_from(OutboxRow).where(OutboxRow.attempts > 0)
        ).scalar_one()
        delivered_chats = conn.execute(
            select(func.count(func.distinct(DeliveryRow.chat_id)))
        ).scalar_one()
    engine.dispose()
    return {
        "rows_sent": int(statuses.get("sent", 0)),
        "rows_maybe": int(statuses.get("maybe", 0)),
        "rows_dead": int(statuses.get("dead", 0)),
        "rows_ambiguous": int(ambiguous),
        # An ambiguous answer taken for a plain failure would be retried up to five times.
        "rows_retried_as_transient": int(transient),
        "chats_with_items_delivered": int(delivered_chats),
    }


async def _one(fake: AmbiguousTelegram, url: str, chats: int, rate: float, run: str) -> float:
    """Fan one digest out to ``chats`` through a worker; seconds from its first send to its exit."""
    await asyncio.to_thread(prepare, url, chats, run)
    proc = spawn_worker(url, fake.url, rate, lease=10.0, request_timeout=REQUEST_TIMEOUT)
    await _wait_exit(proc, within=300)
    return time.monotonic() - fake.sent[0].at


async def ambiguous_run(chats: int, rate: float, fraction: float) -> dict[str, Any]:
    """The clean fan-out (the baseline, median of ``CLEAN_RUNS``), then the same with
    ``fraction`` answered ambiguously."""
    tmp = tempfile.TemporaryDirectory()
    fake = AmbiguousTelegram(TOKEN, rate=rate, fraction=0.0)
    await fake.start()
    try:
        clean: list[float] = []
        clean_lost = clean_dup = 0
        for n in range(CLEAN_RUNS):  # the median of a few: one run is at the mercy of the machine
            fake.reset()
            url = f"sqlite:///{tmp.name}/clean.db"
            clean.append(await _one(fake, url, chats, rate, f"clean{n}"))
            lost, dup = tally(dict(fake.stats.per_chat_accepted), chats)
            clean_lost, clean_dup = clean_lost + lost, clean_dup + dup
        clean_s = statistics.median(clean)
        fake.reset()
        fake.ambiguous_faults(fraction)
        url = f"sqlite:///{tmp.name}/ambiguous.db"
        seconds = await _one(fake, url, chats, rate, "ambiguous")
        copies = [fake.stats.per_chat_accepted.get(str(c), 0) for c in range(1, chats + 1)]
        lost, _ = tally(dict(fake.stats.per_chat_accepted), chats)
        rows = await asyncio.to_thread(outbox_figures, url)
        answers = dict(fake.ambiguous)
        rate_limited = fake.stats.rate_limited
    finally:
        await fake.stop()
        tmp.cleanup()
    histogram = Counter(copies)
    return {
        "chats": chats,
        "fraction": fraction,
        "ambiguous_answers": sum(answers.values()),
        "ambiguous_by_kind": {kind: answers.get(kind, 0) for kind in KINDS},
        "copies_max": max(copies),
        "copies_mean": round(statistics.fmean(copies), 3),
        "chats_by_copies": {str(n): histogram[n] for n in sorted(histogram)},
        "lost": lost,
        **rows,
        "rate_limited_429": rate_limited,
        "seconds": round(seconds, 2),
        "clean_seconds": round(clean_s, 2),
        "clean_lost": clean_lost,
        "clean_duplicated": clean_dup,
        "ratio_to_clean": round(seconds / clean_s, 2),
    }
