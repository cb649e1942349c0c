"""The ambiguous-send scenario on every platform (part of ``python -m tests.bench.fanout
--scenario ambiguous``).

For each platform's real adapter against its fake, and each database (SQLite, and PostgreSQL
when ``DIGESTBOT_TEST_POSTGRES_URL`` or ``--postgres-url`` names one), one digest per chat goes
through an outbox worker in this process while the fake answers ``fraction`` of the posts it
delivers in a way the client cannot read: in turn a 200 that is not JSON, a dropped connection,
an answer later than the client's timeout, and a 502 (:data:`tests.fakes.BAD_ANSWERS`). What
counts: copies per chat (max, mean; the rule: never more than two), chats that got none (lost),
rows finished as "maybe delivered", and the time against the same fan-out answered cleanly.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import delete, func, select

from tests.fakes import BAD_ANSWERS, FakeServer, Fault, Faults, bad_answer

#: The client's timeout (the outbox's where the client has none), and how late a late answer is.
TIMEOUT = 1.0
LATE = 1.5
#: The posting method of each fake, as its faults name it.
METHODS = {"telegram": "sendMessage", "slack": "chat.postMessage", "lark": "send"}
METHODS["discord"] = "message"


class _SomeBadly(Faults):
    """``fraction`` of the posting method's calls get the next bad answer in turn."""

    def __init__(self, method: str, fraction: float, seed: int = 30) -> None:
        super().__init__()
        self.method = method
        self.fraction = fraction
        self._rng = random.Random(seed)
        self._kinds = itertools.cycle(BAD_ANSWERS)
        self.served: Counter[str] = Counter()

    def take(self, method: str) -> Fault | None:
        fault = super().take(method)
        if fault is not None or method != self.method or self._rng.random() >= self.fraction:
            return fault
        kind = next(self._kinds)
        self.served[kind] += 1
        return bad_answer(kind, delay=LATE)


class _Quiet:
    async def on_command(self, incoming: object) -> None:
        return None

    async def on_upload(self, upload: object) -> Any:
        raise RuntimeError("no uploads here")


Fixture = tuple[FakeServer, Any, Callable[[str], int]]


@asynccontextmanager
async def _platform(name: str) -> AsyncIterator[Fixture]:
    """The fake, the started channel, and copies by chat id."""
    fake: Any
    channel: Any
    if name == "telegram":
        from channels.telegram.adapter import TelegramChannel
        from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram

        fake = FakeTelegram()
        await fake.start()
        channel = TelegramChannel(
            DEFAULT_TOKEN,
            base_url=fake.base_url,
            base_file_url=fake.base_file_url,
            poll_timeout=0.5,
            request_timeout=TIMEOUT,
        )
        copies = lambda chat: sum(str(s.chat_id) == chat for s in fake.sent)  # noqa: E731
    elif name == "slack":
        from channels.slack.adapter import SlackChannel
        from tests.fakes.slack import FakeSlack

        fake = FakeSlack()
        await fake.start()
        channel = SlackChannel(fake.bot_token, signing_secret="s", api_url=fake.api_url)
        copies = lambda chat: sum(p.channel == chat for p in fake.sent)  # noqa: E731
    elif name == "lark":
        from channels.lark.adapter import LarkChannel
        from tests.fakes.lark import APP_ID, APP_SECRET, FakeLark

        fake = FakeLark()
        await fake.start()
        channel = LarkChannel(
            APP_ID, APP_SECRET, verification_token="v", api_url=fake.url, request_timeout=TIMEOUT
        )
        copies = lambda chat: sum(s.chat_id == chat for s in fake.sent)  # noqa: E731
    else:
        from channels.discord.adapter import DiscordChannel
        from tests.fakes.discord import TOKEN, FakeDiscord

        fake = FakeDiscord()
        await fake.start()
        channel = DiscordChannel(
            TOKEN, api_url=fake.api_url, gateway_url=fake.gateway_url, guild_ready_timeout=0.05
        )
        copies = lambda chat: sum(p.channel_id == chat for p in fake.sent)  # noqa: E731
    await channel.start(_Quiet())
    try:
        yield fake, channel, copies
    finally:
        await channel.stop()
        await fake.stop()


def _prepare(url: str, platform: str, chats: int) -> None:
    from bot.delivery.worker import enqueue
    from bot.store.models import DeliveryRow, ItemRow, OutboxRow
    from bot.store.store import Store
    from digests import parse_report
    from digests.message import Message
    from tests.bench.fanout import REPO

    store = Store.open(url)
    if not store.reports():
        sample = sorted((REPO / "digests" / "samples").glob("*.md"))[-1]
        text = sample.read_text(encoding="utf-8")
        store.ingest(parse_report(text, sample.name), text, uploaded_by="bench")
    with store.engine.begin() as conn:
        items = list(conn.execute(select(ItemRow.id).order_by(ItemRow.id).limit(5)).scalars())
        conn.execute(delete(OutboxRow))
        conn.execute(delete(DeliveryRow))
        message = Message.text("Weekly digest", *(f"Item {i}" for i in items))
        for chat in range(1, chats + 1):
            enqueue(
                conn,
                platform=platform,
                chat_id=str(1000 + chat),
                chat_kind="private",
                message=message,
                item_ids=items,
            )
    store.close()


def _rows(url: str) -> dict[str, int]:
    from bot.store.db import make_engine
    from bot.store.models import OutboxRow

    engine = make_engine(url)
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
        )
    engine.dispose()
    return {f"rows_{k}": int(v) for k, v in statuses.items()}


async def _fan_out(url: str, platform: str, chats: int, fraction: float) -> dict[str, Any]:
    from bot.delivery.worker import OutboxWorker
    from bot.settings import Settings
    from bot.store.db import make_engine

    await asyncio.to_thread(_prepare, url, platform, chats)
    settings = Settings(
        telegram_chat_interval=0,
        slack_channel_interval=0,
        lark_chat_interval=0,
        discord_channel_interval=0,
        telegram_global_rate=200,
        lark_global_rate=200,
        discord_global_rate=200,
        console=False,
    )
    engine = make_engine(url)
    async with _platform(platform) as (fake, channel, copies):
        faults = _SomeBadly(METHODS[platform], fraction)
        fake.faults = faults  # type: ignore[attr-defined]
        worker = OutboxWorker(
            engine,
            [channel],
            settings,
            poll_seconds=0.05,
            backoff_base=0.2,
            # Slack's and Discord's clients wait long: our own timeout is their read timeout.
            send_timeout=TIMEOUT if platform in ("slack", "discord") else 10.0,
            send_concurrency=8,
        )
        started = time.monotonic()
        await worker.start()
        try:
            await worker.drain(within=600)
        finally:
            await worker.stop()
        seconds = time.monotonic() - started
        per_chat = [copies(str(1000 + c)) for c in range(1, chats + 1)]
    engine.dispose()
    return {
        "copies_max": max(per_chat),
        "copies_mean": round(statistics.fmean(per_chat), 3),
        "lost": sum(1 for n in per_chat if n == 0),
        "bad_answers": dict(faults.served),
        **await asyncio.to_thread(_rows, url),
        "seconds": round(seconds, 2),
    }


async def platforms_run(
    chats: int, fraction: float, databases: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """``{database: {platform: figures}}``, each against a clean run of the same fan-out."""
    out: dict[str, dict[str, Any]] = {}
    for db, url in databases.items():
        out[db] = {}
        for platform in ("telegram", "slack", "lark", "discord"):
            clean = await _fan_out(url, platform, chats, 0.0)
            figures = await _fan_out(url, platform, chats, fraction)
            figures["clean_seconds"] = clean["seconds"]
            figures["clean_copies_max"] = clean["copies_max"]
            figures["ratio_to_clean"] = round(figures["seconds"] / max(clean["seconds"], 1e-3), 2)
            out[db][platform] = figures
    return out


def print_platforms(result: dict[str, dict[str, Any]], fraction: float) -> None:
    for db, platforms in result.items():
        for platform, r in platforms.items():
            print(
                f"ambiguous sends on {platform} ({db}), {fraction:.0%} of answers unreadable "
                f"({sum(r['bad_answers'].values())} served): copies max {r['copies_max']}, "
                f"mean {r['copies_mean']}, lost {r['lost']}; maybe {r.get('rows_maybe', 0)}, "
                f"sent {r.get('rows_sent', 0)}, dead {r.get('rows_dead', 0)}; "
                f"{r['seconds']} s vs {r['clean_seconds']} s clean ({r['ratio_to_clean']}x)"
            )
