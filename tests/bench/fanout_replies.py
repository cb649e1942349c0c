"""The fan-out benchmark's reply-latency scenario (run it with ``python -m tests.bench.fanout``).

The real gateway (``python -m bot.cli run``, a subprocess, default settings: Telegram's 30
messages/s across chats, 1 s between two messages to a chat) polls the fake Telegram in this
process, which enforces the same 30/s. Commands arrive at random moments (a Poisson process with
a fixed seed) spread over many private chats; the latency of each is from the moment its update
is queued at the fake to the moment the fake accepts the reply's first message (replies to a chat
leave in arrival order, so the k-th message in a chat answers its k-th command).

Baselines, measured in the same run against the same gateway: a tenth of the commands at half
the limit (in other chats), and the idle latency of one command at a time.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.bench.common import free_port, healthz, percentile
from tests.bench.fanout import REPO, TOKEN
from tests.fakes.telegram import FakeTelegram, Sent

COMMAND = "/model GLM-4.7"
IDLE_SAMPLES = 20
#: Seconds without a message after which the replies still missing count as lost.
QUIET = 15.0
#: Private chat ids of the load; the idle samples use ids above them.
FIRST_CHAT = 100_000


def spawn_gateway(fake: FakeTelegram, database_url: str, port: int, log: Any) -> Any:
    """``digestbot run`` with Telegram pointed at ``fake`` and every other setting its default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")} | {
        "DIGESTBOT_DATABASE_URL": database_url,
        "DIGESTBOT_TELEGRAM_TOKEN": fake.token,
        "DIGESTBOT_TELEGRAM_API_URL": fake.base_url,
        "DIGESTBOT_TELEGRAM_FILE_URL": fake.base_file_url,
        "DIGESTBOT_CONSOLE": "false",
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": str(port),
        "DIGESTBOT_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "bot.cli", "run"]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log)


async def _until(check: Any, within: float, what: str, proc: Any = None) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(check):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the gateway exited (code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {within:g} s")
        await asyncio.sleep(0.02)


def _in_chat(fake: FakeTelegram, chat: int) -> list[Sent]:
    return [s for s in fake.sent if str(s.chat_id) == str(chat)]


async def idle_latency(fake: FakeTelegram, proc: Any) -> tuple[list[float], int]:
    """Seconds of each of ``IDLE_SAMPLES`` commands sent one at a time, and messages a reply."""
    latencies: list[float] = []
    for n in range(IDLE_SAMPLES):
        chat = FIRST_CHAT * 2 + n
        fake.user_message(chat, chat, COMMAND)
        queued = time.monotonic()
        await _until(lambda c=chat: _in_chat(fake, c), 30, "idle reply", proc)
        latencies.append(_in_chat(fake, chat)[0].at - queued)
    await asyncio.sleep(1.5)  # the last reply's further parts, if any
    parts = len(_in_chat(fake, FIRST_CHAT * 2 + IDLE_SAMPLES - 1))
    return latencies, parts


def _done_or_quiet(fake: FakeTelegram, wanted: int, quiet: float) -> Callable[[], bool]:
    """True once ``wanted`` messages were sent, or nothing more was for ``quiet`` seconds (a
    reply the gateway gave up on never comes)."""
    last = [len(fake.sent), time.monotonic()]

    def check() -> bool:
        now, sent = time.monotonic(), len(fake.sent)
        if sent != last[0]:
            last[:] = [sent, now]
        return sent >= wanted or now - last[1] > quiet

    return check


@dataclass
class Load:
    """What one burst of commands got: latencies in seconds, replies, what the fake saw."""

    latencies: list[float]
    behind_own_chat: list[float]
    replied: int
    chats_missing_replies: int
    arrival_seconds: float
    seconds_to_all_replied: float
    messages_sent: int
    send_rate: float
    rate_limited: int

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def behind_ms(self, q: float) -> float | None:
        if not self.behind_own_chat:
            return None
        return round(percentile(self.behind_own_chat, q) * 1000, 1)


async def load(
    fake: FakeTelegram,
    proc: Any,
    *,
    commands: int,
    seconds: float,
    chats: int,
    first_chat: int,
    parts: int,
    seed: int = 16,
) -> Load:
    """Queue ``commands`` updates at random moments over ``seconds`` in ``chats`` chats, wait
    for every reply, and pair each chat's commands with its replies in order."""
    rng = random.Random(seed)
    offsets = sorted(rng.uniform(0, seconds) for _ in range(commands))
    queued: dict[int, list[float]] = defaultdict(list)
    sent_before, limited_before = len(fake.sent), fake.stats.rate_limited
    start = time.monotonic()
    for offset in offsets:
        if (wait := start + offset - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        chat = first_chat + rng.randrange(chats)
        fake.user_message(chat, chat, COMMAND)
        queued[chat].append(time.monotonic())
    arrived = time.monotonic() - start
    wanted = sent_before + commands * parts
    await _until(_done_or_quiet(fake, wanted, QUIET), 300, "reply to every command", proc)
    await asyncio.sleep(1.0)  # anything sent beyond one reply a command
    latencies: list[float] = []
    behind: list[float] = []  # commands that came while the chat's previous one was unanswered
    replied = short_chats = 0
    for chat, times in queued.items():
        firsts = _in_chat(fake, chat)[::parts]
        replied += min(len(times), len(firsts))
        if len(firsts) < len(times):
            short_chats += 1  # which reply is missing is unknown: the chat's pairs are not timed
            continue
        for k, (reply, at) in enumerate(zip(firsts, times, strict=False)):
            latencies.append(reply.at - at)
            if k and firsts[k - 1].at > at:
                behind.append(reply.at - at)
    sent = fake.sent[sent_before:]
    span = sent[-1].at - sent[0].at if len(sent) > 1 else math.nan
    return Load(
        latencies,
        behind,
        replied,
        short_chats,
        arrived,
        sent[-1].at - start if sent else math.nan,
        len(sent),
        (len(sent) - 1) / span if span else math.nan,
        fake.stats.rate_limited - limited_before,
    )


async def reply_run(
    commands: int, seconds: float, chats: int, rate: float = 30.0
) -> dict[str, Any]:
    """Start the gateway; measure the idle latency, a tenth of the commands at half the limit
    (other chats), then the load itself; stop the gateway."""
    tmp = tempfile.TemporaryDirectory()
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    fake = FakeTelegram(TOKEN, rate=rate, max_poll_wait=1.0)
    await fake.start()
    port = free_port()
    proc = spawn_gateway(fake, f"sqlite:///{tmp.name}/replies.db", port, log)
    try:
        await _until(lambda: healthz(port, timeout=1) == 200, 60, "/healthz", proc)
        await _until(lambda: any(m == "getUpdates" for m, _ in fake.calls), 30, "polling", proc)
        idle, parts = await idle_latency(fake, proc)
        few = max(20, commands // 10)
        below = await load(
            fake,
            proc,
            commands=few,
            seconds=few / (rate / 2),
            chats=chats,
            first_chat=FIRST_CHAT + chats,
            parts=parts,
        )
        full = await load(
            fake,
            proc,
            commands=commands,
            seconds=seconds,
            chats=chats,
            first_chat=FIRST_CHAT,
            parts=parts,
        )
        stop_started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
        stop_s = time.monotonic() - stop_started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await fake.stop()
        tmp.cleanup()
    log.seek(0)
    lines = log.read().splitlines()
    errors = [line for line in lines if "ERROR" in line or "Traceback" in line]
    # A reply the gateway gave up on (after 429s, say) is logged as a warning, once.
    gave_up = [line for line in lines if "could not reply" in line]
    log.close()
    os.unlink(log.name)
    idle_ms = statistics.median(idle) * 1000
    return {
        "commands": commands,
        "chats": chats,
        "arrival_seconds": round(full.arrival_seconds, 2),
        "arrival_rate": round(commands / full.arrival_seconds, 1),
        "limit": rate,
        "messages_per_reply": parts,
        "replies": full.replied,
        "unanswered": commands - full.replied,
        "replies_given_up": len(gave_up),
        "chats_missing_replies_untimed": full.chats_missing_replies,
        "messages_sent": full.messages_sent,
        "rate_limited_429": full.rate_limited,
        "send_rate": round(full.send_rate, 1),
        "p50_ms": round(full.ms(50), 1),
        "p99_ms": round(full.ms(99), 1),
        "max_ms": round(full.ms(100), 1),
        # A queue fed faster than the limit: the last command waits this long at the least.
        "backlog_floor_ms": round(max(0.0, commands - rate * full.arrival_seconds) / rate * 1e3, 1),
        "seconds_to_all_replied": round(full.seconds_to_all_replied, 2),
        # Replies to one chat leave in order: these waited for their chat's previous reply.
        "behind_own_chat": len(full.behind_own_chat),
        "behind_own_chat_p50_ms": full.behind_ms(50),
        "behind_own_chat_max_ms": full.behind_ms(100),
        "below_commands": few,
        "below_rate": round(few / below.arrival_seconds, 1),
        "below_replies": below.replied,
        "below_p50_ms": round(below.ms(50), 1),
        "below_p99_ms": round(below.ms(99), 1),
        "p50_ratio_to_below": round(full.ms(50) / below.ms(50), 1),
        "p99_ratio_to_below": round(full.ms(99) / below.ms(99), 1),
        "idle_ms": round(idle_ms, 1),
        "shutdown_seconds": round(stop_s, 2),
        "gateway_errors": errors[:5],
        "gateway_gave_up": gave_up[:3],
    }
