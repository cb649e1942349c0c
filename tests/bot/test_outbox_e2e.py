"""The outbox worker with the real TelegramChannel against the fake Telegram Bot API server:
429, 5xx, timeouts, 403 and migration, then a worker process killed with SIGKILL mid-fan-out."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.delivery.worker import DEAD, SENT, OutboxWorker, enqueue
from bot.settings import Settings
from bot.store.models import OutboxRow, SubscriptionRow
from bot.store.store import Store
from channels.telegram.adapter import TelegramChannel
from digests.message import Message
from tests.bench.fanout import _wait_exit, in_flight, prepare, spawn_worker, tally
from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram


class _NoCommands:
    async def on_command(self, incoming: object) -> None:
        return None

    async def on_upload(self, upload: object) -> Message:
        raise AssertionError("no uploads in this test")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def limited_fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(rate=150.0) as server:
        yield server


async def until(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def status(store: Store, chat_id: str) -> str:
    with store.engine.connect() as conn:
        return str(
            conn.execute(
                select(OutboxRow.status).where(
                    OutboxRow.chat_id == chat_id, OutboxRow.purpose == "digest"
                )
            ).scalar_one()
        )


async def test_faults_of_the_fake_telegram_server(fake: FakeTelegram, sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    channel = TelegramChannel(
        DEFAULT_TOKEN,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        poll_timeout=0.2,
        request_timeout=0.5,
    )
    await channel.start(_NoCommands())  # type: ignore[arg-type]
    settings = Settings(
        telegram_chat_interval=0, admins="telegram:900", send_max_attempts=4, console=False
    )
    worker = OutboxWorker(store.engine, [channel], settings, poll_seconds=0.02, backoff_base=0.05)
    await worker.start()

    def send(chat: str) -> float:
        with store.engine.begin() as conn:
            enqueue(
                conn,
                platform="telegram",
                chat_id=chat,
                message=Message.text(f"digest {chat}"),
                chat_kind="group" if chat.startswith("-") else "private",
            )
        worker.wake()
        return time.monotonic()

    try:
        # 429 with retry_after: the row waits that long, no attempt counted.
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", {"retry_after": 1})
        started = send("1")
        await until(lambda: status(store, "1") == SENT)
        assert time.monotonic() - started >= 1.0
        assert fake.stats.rate_limited == 1

        # A 502 (it may follow a post: maybe delivered, tried once more), then success.
        fake.fail_next("sendMessage", 502, "Bad Gateway")
        send("2")
        await until(lambda: status(store, "2") == SENT)
        assert [s.chat_id for s in fake.sent].count(2) == 1
        fake.fail_next("sendMessage", None, delay=1.0)  # a timeout after the request left
        send("22")
        await until(lambda: status(store, "22") == SENT)
        assert [s.chat_id for s in fake.sent].count(22) >= 1

        # 403: the subscription is deactivated and the admin told.
        with store.engine.begin() as conn:
            conn.execute(
                SubscriptionRow.__table__.insert().values(
                    platform="telegram",
                    chat_id="-3",
                    theme="models",
                    day="mon",
                    at_time="09:00",
                    timezone="UTC",
                    size=5,
                    active=True,
                    created_by="1",
                    created_at=datetime.now(UTC),
                )
            )
        fake.chat_gone(-3)
        send("-3")
        await until(lambda: any(s.chat_id == 900 for s in fake.sent))
        assert status(store, "-3") == DEAD
        with store.engine.connect() as conn:
            sub = conn.execute(select(SubscriptionRow)).one()
        assert not sub.active
        assert "kicked" in (sub.deactivated_reason or "")
        notice = next(s for s in fake.sent if s.chat_id == 900)
        assert "-3" in notice.plain
        assert "kicked" in notice.plain

        # A group upgraded to a supergroup: the digest follows it.
        fake.migrate(-4, -1004)
        send("-4")
        await until(lambda: any(s.chat_id == -1004 for s in fake.sent))
        with store.engine.connect() as conn:
            row = conn.execute(select(OutboxRow).where(OutboxRow.chat_id == "-1004")).one()
        assert row.status in (SENT, "pending")
        assert fake.stats.duplicates == 0
    finally:
        await worker.stop()
        await channel.stop()
        store.close()


@pytest.mark.slow
async def test_sigkill_mid_fanout_loses_nothing(
    limited_fake: FakeTelegram, sqlite_url: str
) -> None:
    fake = limited_fake
    chats, rate = 300, 150.0
    await asyncio.to_thread(prepare, sqlite_url, chats, "kill")
    proc = spawn_worker(sqlite_url, fake.url, rate, lease=1.0)
    try:
        await until(lambda: fake.stats.accepted >= chats // 2, within=30)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
    flying = await asyncio.to_thread(in_flight, sqlite_url)
    assert fake.stats.accepted < chats  # it really was mid-fan-out
    second = spawn_worker(sqlite_url, fake.url, rate, lease=1.0)
    await _wait_exit(second, within=60)
    lost, duplicated = tally(dict(fake.stats.per_chat_accepted), chats)
    assert lost == 0
    assert duplicated <= flying
    store = Store.open(sqlite_url)
    with store.engine.connect() as conn:
        statuses = set(conn.execute(select(OutboxRow.status)).scalars())
    store.close()
    assert statuses == {SENT}
