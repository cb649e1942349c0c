"""The ``gateways`` scenario of :mod:`tests.bench.fanout` (issue 28): 1, 2 and 3 outbox worker
processes on one PostgreSQL database share one outbox, against a fake whose limit is per chat
only (Slack-like: one message a second per chat, no global limit), so only the gateways' own
CPU bounds the rate. Prints each count's messages a second and its ratio to one gateway's, lost
and duplicated digests; then three gateways of which one is killed with SIGKILL halfway: the
others take its claimed rows once their lease ends, nothing is lost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from tests.bench.fanout import TOKEN, _wait_exit, prepare, spawn_worker, tally

UNLIMITED = 100_000.0  # the gateways' global rate: the fake has none


def _fake() -> Any:
    from tests.fakes.telegram import FakeTelegram

    class TimedTelegram(FakeTelegram):
        async def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
            result = await super()._m_sendMessage(p)
            self.times.append(time.monotonic())
            return result

    fake = TimedTelegram(TOKEN, per_chat_rate=1.0)
    fake.times = []  # type: ignore[attr-defined]
    return fake


async def _run(fake: Any, url: str, chats: int, gateways: int, kill: bool) -> dict[str, Any]:
    fake.reset()
    fake.times = []
    await asyncio.to_thread(prepare, url, chats, f"gw{gateways}{'k' if kill else ''}")
    procs = [spawn_worker(url, fake.url, UNLIMITED, 3.0) for _ in range(gateways)]
    killed_at = None
    if kill:
        while fake.stats.accepted < chats // 2:  # noqa: ASYNC110 - the counter is the signal
            await asyncio.sleep(0.01)
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait()
        if procs[0].stdout:
            procs[0].stdout.close()
        killed_at = fake.stats.accepted
        procs = procs[1:]
    reports = [await _wait_exit(p, within=280) for p in procs]
    times: list[float] = fake.times
    span = (times[-1] - times[0]) if len(times) > 1 else float("nan")
    lost, duplicated = tally(dict(fake.stats.per_chat_accepted), chats)
    return {
        "gateways": gateways,
        "chats": chats,
        "rate": round((len(times) - 1) / span, 1) if span else 0.0,
        "lost": lost,
        "duplicated": duplicated,
        "killed_at": killed_at,
        "cpu_ms_per_message": round(
            1000 * sum(float(r.get("send_cpu_s") or 0) for r in reports) / max(1, len(times)), 2
        ),
    }


async def gateways_run(database_url: str, chats: int) -> dict[str, Any]:
    fake = _fake()
    await fake.start()
    try:
        runs = [await _run(fake, database_url, chats, n, False) for n in (1, 2, 3)]
        crash = await _run(fake, database_url, chats, 3, True)
    finally:
        await fake.stop()
    one = max(runs[0]["rate"], 1e-9)
    for r in runs:
        r["ratio"] = round(r["rate"] / one, 2)
    return {"runs": runs, "crash": crash}
