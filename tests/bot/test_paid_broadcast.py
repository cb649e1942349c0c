"""Telegram paid broadcasts (issue 28): with ``DIGESTBOT_TELEGRAM_PAID_BROADCAST=true`` the
outbox's messages go with ``allow_paid_broadcast`` at the paid rate, command replies stay on the
free path, and ``/status`` and ``/metrics`` count the paid messages. The real gateway against
the fake Bot API, which limits free messages to 30 a second and paid ones to 1,000."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.delivery.worker import enqueue
from bot.gateway import Gateway, seed_samples
from bot.settings import SettingsError, load_settings
from bot.store.store import Store
from digests.message import Message
from tests.fakes import wait_for
from tests.fakes.telegram import FakeTelegram

ADMIN = 1001
CHATS = 200


@dataclass
class Running:
    gateway: Gateway
    telegram: FakeTelegram
    base: str
    db_url: str


def _env(tg: FakeTelegram, db_url: str, paid: bool) -> dict[str, str]:
    env = {
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_TELEGRAM_TOKEN": tg.token,
        "DIGESTBOT_TELEGRAM_API_URL": tg.base_url,
        "DIGESTBOT_TELEGRAM_FILE_URL": tg.base_file_url,
        "DIGESTBOT_ADMINS": f"telegram:{ADMIN}",
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": "0",
    }
    if paid:
        env["DIGESTBOT_TELEGRAM_PAID_BROADCAST"] = "true"
    return env


async def _start(paid: bool, db_url: str) -> AsyncIterator[Running]:
    # Free messages at Telegram's 30 a second; paid ones at up to 1,000.
    async with FakeTelegram(max_poll_wait=0.2, rate=30.0, paid_rate=1000.0) as tg:
        settings = load_settings(env=_env(tg, db_url, paid))
        store = Store.open(db_url)
        seed_samples(store)
        store.close()
        gateway = Gateway(settings, stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        await wait_for(
            lambda: (
                gateway.http is not None
                and gateway.http.port != 0
                and gateway.outbox is not None
                and all(c.connected() for c in gateway.channels)
            ),
            within=30,
        )
        assert gateway.http is not None
        yield Running(gateway, tg, f"http://127.0.0.1:{gateway.http.port}", db_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


@pytest.fixture
async def paid(db_url: str) -> AsyncIterator[Running]:
    async for running in _start(True, db_url):
        yield running


@pytest.fixture
async def free(sqlite_url: str) -> AsyncIterator[Running]:
    async for running in _start(False, sqlite_url):
        yield running


def _enqueue_digests(db_url: str, chats: int) -> None:
    store = Store.open(db_url)
    with store.engine.begin() as conn:
        for chat in range(1, chats + 1):
            enqueue(
                conn,
                platform="telegram",
                chat_id=str(5000 + chat),
                chat_kind="private",
                message=Message.text("Weekly digest", "Something worth reading"),
                dedup_key=f"paid-test:{chat}",
            )
    store.close()


async def _all_recorded(db_url: str) -> None:
    """Wait until every digest is recorded as sent (the worker commits outcomes in batches,
    after the fake took the messages)."""
    from sqlalchemy import func, select

    from bot.store.db import make_engine
    from bot.store.models import OutboxRow

    engine = make_engine(db_url)

    def pending() -> int:
        with engine.connect() as conn:
            query = select(func.count()).select_from(OutboxRow)
            return int(conn.execute(query.where(OutboxRow.status == "pending")).scalar_one())

    try:
        deadline = time.monotonic() + 15
        while await asyncio.to_thread(pending):
            assert time.monotonic() < deadline, "digests not recorded in time"
            await asyncio.sleep(0.05)
    finally:
        engine.dispose()


async def _metrics(base: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
        return await resp.text()


async def test_digests_go_paid_at_the_paid_rate_and_replies_stay_free(paid: Running) -> None:
    tg = paid.telegram
    await asyncio.to_thread(_enqueue_digests, paid.db_url, CHATS)
    started = time.monotonic()
    assert paid.gateway.outbox is not None
    paid.gateway.outbox.wake()
    await wait_for(lambda: tg.stats.accepted >= CHATS, within=60)
    took = time.monotonic() - started
    digests = [s for s in tg.sent if int(s.chat_id) > 5000]
    assert len(digests) == CHATS
    assert all(s.options.get("allow_paid_broadcast") is True for s in digests)
    assert tg.paid == CHATS
    assert tg.stats.rate_limited == 0  # at the free rate the fake would have refused most
    # 200 messages at the free 30 a second take 6 s at least; the paid rate is far above it.
    assert took < 6.0, took
    await _all_recorded(paid.db_url)

    tg.user_message(ADMIN, ADMIN, "/status")
    await wait_for(lambda: any(str(s.chat_id) == str(ADMIN) for s in tg.sent), within=15)
    reply = next(s for s in tg.sent if str(s.chat_id) == str(ADMIN))
    assert "allow_paid_broadcast" not in reply.options  # a reply is never paid for
    assert (
        f"Paid broadcasts on Telegram: {CHATS} messages in 24 h, at most {CHATS * 0.1:.1f} Stars"
    ) in reply.plain
    assert tg.paid == CHATS

    text = await _metrics(paid.base)
    assert f'digestbot_paid_messages_total{{platform="telegram"}} {float(CHATS)}' in text


async def test_without_the_setting_nothing_is_paid(free: Running) -> None:
    tg = free.telegram
    await asyncio.to_thread(_enqueue_digests, free.db_url, 3)
    assert free.gateway.outbox is not None
    free.gateway.outbox.wake()
    await wait_for(lambda: tg.stats.accepted >= 3, within=30)
    assert all("allow_paid_broadcast" not in s.options for s in tg.sent)
    tg.user_message(ADMIN, ADMIN, "/status")
    await wait_for(lambda: any(str(s.chat_id) == str(ADMIN) for s in tg.sent), within=15)
    reply = next(s for s in tg.sent if str(s.chat_id) == str(ADMIN))
    assert "Paid broadcasts" not in reply.plain
    assert 'digestbot_paid_messages_total{platform="telegram"}' not in await _metrics(free.base)


@pytest.mark.parametrize("value", ["0", "1001", "-5"])
def test_the_paid_rate_has_bounds(tmp_path: Path, value: str) -> None:
    env = {
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
        "DIGESTBOT_TELEGRAM_TOKEN": "123:abc",
        "DIGESTBOT_TELEGRAM_PAID_BROADCAST": "true",
        "DIGESTBOT_TELEGRAM_PAID_RATE": value,
    }
    with pytest.raises(SettingsError) as info:
        load_settings(env=env)
    assert "DIGESTBOT_TELEGRAM_PAID_RATE" in str(info.value)
    assert "\n" not in str(info.value)
