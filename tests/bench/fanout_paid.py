"""The ``paid`` scenario of :mod:`tests.bench.fanout` (issue 28): one gateway's outbox worker
(python-telegram-bot's TelegramChannel, a subprocess) sends one digest to many chats through a
fake Bot API that answers in 5-20 ms, as the real one does, and limits free messages to 30 a
second and those with ``allow_paid_broadcast`` to 1,000.

Two runs: ``free`` (paid broadcasts off, a limit of 30/s: the baseline) and ``paid``
(``DIGESTBOT_TELEGRAM_PAID_BROADCAST`` on, a limit of 1,000/s). Each reports the achieved rate
as a fraction of its limit, lost and duplicated digests, 429s, and the gateway's CPU time per
message (process CPU from the worker's start to the empty outbox, over the messages sent).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from typing import Any

from tests.bench.fanout import TOKEN, _wait_exit, prepare, spawn_worker, tally

FREE_RATE = 30.0
PAID_RATE = 1000.0


def _fake() -> Any:
    from tests.fakes.telegram import FakeTelegram

    class SlowTelegram(FakeTelegram):
        """Answers each sendMessage after 5-20 ms; records when it accepted each."""

        async def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(random.uniform(0.005, 0.020))
            result = await super()._m_sendMessage(p)
            self.times.append(time.monotonic())
            return result

    fake = SlowTelegram(TOKEN, rate=FREE_RATE, paid_rate=PAID_RATE)
    fake.times = []  # type: ignore[attr-defined]
    return fake


async def _one(fake: Any, url: str, chats: int, paid: bool, run: str) -> dict[str, Any]:
    fake.reset()
    fake.times = []
    limit = PAID_RATE if paid else FREE_RATE
    await asyncio.to_thread(prepare, url, chats, run)
    proc = spawn_worker(url, fake.url, limit, 10.0, paid=paid)
    report = await _wait_exit(proc, within=280)
    times: list[float] = fake.times
    span = (times[-1] - times[0]) if len(times) > 1 else float("nan")
    achieved = (len(times) - 1) / span if span else 0.0
    lost, duplicated = tally(dict(fake.stats.per_chat_accepted), chats)
    sent = max(1, fake.stats.accepted)
    return {
        "chats": chats,
        "limit": limit,
        "achieved_rate": round(achieved, 1),
        "ratio": round(achieved / limit, 3),
        "lost": lost,
        "duplicated": duplicated,
        "rate_limited_429": fake.stats.rate_limited,
        "seconds": round(span, 2),
        "send_cpu_s": report.get("send_cpu_s"),
        "cpu_ms_per_message": round(1000 * float(report.get("send_cpu_s") or 0) / sent, 2),
        "peak_rss_mb": report.get("peak_rss_mb"),
        "paid_messages": fake.paid,
    }


async def paid_run(database_url: str | None, quick: bool) -> dict[str, Any]:
    tmp = tempfile.TemporaryDirectory()
    url = database_url or f"sqlite:///{tmp.name}/paid.db"
    fake = _fake()
    await fake.start()
    try:
        free = await _one(fake, url, 90 if quick else 300, False, "free")
        paid = await _one(fake, url, 1000 if quick else 3000, True, "paid")
    finally:
        await fake.stop()
        tmp.cleanup()
    return {
        "free": free,
        "paid": paid,
        "rate_ratio": round(paid["achieved_rate"] / max(free["achieved_rate"], 1e-9), 1),
        "cpu_ratio": round(paid["cpu_ms_per_message"] / max(free["cpu_ms_per_message"], 1e-9), 2),
    }
