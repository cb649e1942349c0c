"""The leader prunes delivery ids and expired button tokens; the Telegram webhook refuses hostile
bodies. The real gateway in webhook mode against the fake Bot API, on a real database."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.gateway import Gateway, seed_samples
from bot.scheduling.housekeeping import Housekeeping, Pruned, prune
from bot.scheduling.leader import LOCK_KEY
from bot.settings import load_settings
from bot.store.actions import keep_command
from bot.store.models import ActionTokenRow, ProcessedUpdateRow
from bot.store.store import Store
from channels.telegram.adapter import SECRET_HEADER
from tests.fakes import wait_for
from tests.fakes.telegram import FakeTelegram

HOOK = "https://bot.example/tg/hook"
SECRET = "hook-secret-of-the-test"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after`:telegram.warnings.PTBDeprecationWarning"
)


def update_key(tg: FakeTelegram, update_id: int) -> str:
    """The delivery id the Telegram adapter gives a webhook update."""
    return f"telegram:{tg.token.split(':', 1)[0]}:{update_id}"


def seed(url: str, tg: FakeTelegram, now: datetime) -> None:
    """Update 500 answered eight days ago, 501 yesterday; a button token expired ten days ago."""
    store = Store.open(url)
    try:
        seed_samples(store)
        assert store.first_seen(update_key(tg, 500), now - timedelta(days=8))
        assert store.first_seen(update_key(tg, 501), now - timedelta(days=1))
        with store.engine.begin() as conn:
            keep_command(conn, "/old button", now - timedelta(days=40))
    finally:
        store.close()


def count(url: str, column: object) -> int:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count(column))).scalar_one())
    finally:
        store.close()


@dataclass
class Hooked:
    gateway: Gateway
    tg: FakeTelegram
    http: aiohttp.ClientSession
    url: str

    async def post(self, body: bytes) -> int:
        headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        async with self.http.post(self.url, data=body, headers=headers) as resp:
            return resp.status

    async def post_update(self, update_id: int, text: str, chat_id: int = 700) -> int:
        message = self.tg.message_dict(chat_id, chat_id, "private", text=text)
        body = aiohttp.JsonPayload({"update_id": update_id, "message": message})
        headers = {SECRET_HEADER: SECRET}
        async with self.http.post(self.url, data=body, headers=headers) as resp:
            return resp.status

    def texts(self, chat_id: int = 700) -> list[str]:
        return [s.plain for s in self.tg.sent if s.chat_id == chat_id]


@asynccontextmanager
async def hooked(url: str, tg: FakeTelegram, **env: str) -> AsyncIterator[Hooked]:
    """A gateway in webhook mode on ``url``, its channels started."""
    settings = load_settings(
        env={
            "DIGESTBOT_DATABASE_URL": url,
            "DIGESTBOT_TELEGRAM_TOKEN": tg.token,
            "DIGESTBOT_TELEGRAM_API_URL": tg.base_url,
            "DIGESTBOT_TELEGRAM_FILE_URL": tg.base_file_url,
            "DIGESTBOT_TELEGRAM_WEBHOOK_URL": HOOK,
            "DIGESTBOT_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_HTTP_PORT": "0",
        }
        | env
    )
    gateway = Gateway(settings, stdout=io.StringIO())
    task = asyncio.create_task(gateway.run())
    try:
        await wait_for(lambda: tg.webhook and gateway.outbox is not None, within=30)
        assert gateway.http is not None
        async with aiohttp.ClientSession() as http:
            yield Hooked(gateway, tg, http, f"http://127.0.0.1:{gateway.http.port}/tg/hook")
    finally:
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


def pruned(gateway: Gateway) -> bool:
    return gateway.housekeeping is not None and gateway.housekeeping.last is not None


async def test_the_leader_forgets_old_delivery_ids_and_expired_tokens(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.scheduling.housekeeping")
    async with FakeTelegram() as tg:
        seed(sqlite_url, tg, datetime.now(UTC))
        async with hooked(sqlite_url, tg) as bot:
            # SQLite: this gateway is the leader, and prunes once elected.
            await wait_for(lambda: pruned(bot.gateway), within=10)
            assert count(sqlite_url, ActionTokenRow.token) == 0
            # Telegram redelivering update 500 now is a new update; 501 is still answered once.
            assert await bot.post_update(500, "/help") == 200
            await wait_for(lambda: len(bot.texts()) == 1, within=15)
            assert await bot.post_update(501, "/help") == 200
            await asyncio.sleep(0.5)
            assert len(bot.texts()) == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.scheduling.housekeeping"]
    assert lines == [
        "housekeeping: pruned 1 delivery id(s) older than 7 day(s), 1 expired button token(s), "
        "0 finished outbox row(s) and 0 extra deliveries older than 90 day(s)"
    ]


async def test_delivery_ids_are_kept_as_long_as_the_setting_says(sqlite_url: str) -> None:
    async with FakeTelegram() as tg:
        seed(sqlite_url, tg, datetime.now(UTC))
        async with hooked(sqlite_url, tg, DIGESTBOT_DEDUP_KEEP_DAYS="10") as bot:
            await wait_for(lambda: pruned(bot.gateway), within=10)
            assert bot.gateway.housekeeping is not None
            assert bot.gateway.housekeeping.last is not None
            assert bot.gateway.housekeeping.last.updates == 0
            assert await bot.post_update(500, "/help") == 200
            assert await bot.post_update(502, "/help", chat_id=701) == 200
            await wait_for(lambda: bot.texts(701), within=15)
            assert bot.texts() == []  # 500 was answered eight days ago: still remembered
    assert count(sqlite_url, ProcessedUpdateRow.key) == 3  # 500, 501 and 502: none pruned


@pytest.mark.postgres
async def test_only_the_leader_prunes(postgres_url: str) -> None:
    async with FakeTelegram() as tg:
        seed(postgres_url, tg, datetime.now(UTC))
        # Another gateway, stood in for by the test, holds the election lock.
        dsn = make_url(postgres_url).set(drivername="postgresql")
        holder = await psycopg.AsyncConnection.connect(
            dsn.render_as_string(hide_password=False), autocommit=True
        )
        try:
            cursor = await holder.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            assert (await cursor.fetchone()) == (True,)
            async with hooked(postgres_url, tg, DIGESTBOT_LEADER_TAKEOVER_SECONDS="1.2") as bot:
                await asyncio.sleep(1.0)  # five election rounds lost
                assert bot.gateway.election is not None
                assert not bot.gateway.election.is_leader
                assert bot.gateway.housekeeping is None
                assert count(postgres_url, ProcessedUpdateRow.key) == 2
                await holder.close()  # the other gateway is gone: this one leads, and prunes
                await wait_for(lambda: pruned(bot.gateway), within=10)
                assert count(postgres_url, ProcessedUpdateRow.key) == 1
                assert count(postgres_url, ActionTokenRow.token) == 0
        finally:
            await holder.close()


def test_prune_keeps_what_is_younger_than_the_cutoff(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        for key, age in (("old", 8), ("edge", 7), ("new", 1)):
            assert store.first_seen(key, NOW - timedelta(days=age))
        # The cutoff itself is kept; a time in another zone counts as the same instant.
        assert store.first_seen("zoned", (NOW - timedelta(days=7, hours=1)).astimezone(TOKYO))
        with store.engine.begin() as conn:
            keep_command(conn, "/expired", NOW - timedelta(days=31))
            keep_command(conn, "/valid", NOW - timedelta(days=29))
        result = prune(store, NOW, timedelta(days=7))
        assert (result.updates, result.tokens) == (2, 1)
        assert store.first_seen("old", NOW)  # forgotten: seen again as new
        assert store.first_seen("zoned", NOW)
        assert not store.first_seen("edge", NOW)
        assert not store.first_seen("new", NOW)
        assert prune(store, NOW, timedelta(days=7)) == Pruned(0, 0)
    finally:
        store.close()


@pytest.mark.parametrize(
    "kind",
    ["deep array", "deep object", "a JSON list", "invalid UTF-8"],
)
async def test_hostile_webhook_bodies_get_400_and_the_gateway_answers_on(
    sqlite_url: str, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    body = {
        "deep array": b"[" * 100_000 + b"]" * 100_000,
        "deep object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        "a JSON list": b'[{"update_id": 1}]',
        "invalid UTF-8": b'{"update_id": 1, "x": "\xff"}',
    }[kind]
    async with FakeTelegram() as tg, hooked(sqlite_url, tg) as bot:
        assert await bot.post(body) == 400
        assert await bot.post_update(900, "/help") == 200
        await wait_for(lambda: bot.texts(), within=15)
        assert (await bot.gateway.health())["channel_telegram"]
    assert not [r for r in caplog.records if r.exc_info is not None or r.levelno >= logging.ERROR]
    refused = [r for r in caplog.records if "refused a request" in r.getMessage()]
    assert len(refused) == 1


@pytest.mark.postgres
def test_a_delivery_id_is_recorded_on_a_connection_the_server_just_dropped(
    postgres_url: str,
) -> None:
    store = Store.open(postgres_url)
    try:
        with store.engine.connect() as conn:  # the one pooled connection, used just now
            backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        dsn = make_url(postgres_url).set(drivername="postgresql")
        with psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [backend])
        # The pool pings the dead connection at checkout and replaces it.
        assert store.first_seen("telegram:1:1")
        assert not store.first_seen("telegram:1:1")
    finally:
        store.close()


async def test_a_failed_prune_is_one_warning_and_is_tried_again(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(sqlite_url)
    try:
        assert store.first_seen("old", NOW - timedelta(days=30))
        with store.engine.begin() as conn:  # the table is away for a moment
            conn.exec_driver_sql("ALTER TABLE processed_updates RENAME TO away")
        housekeeping = Housekeeping(
            store, keep=timedelta(days=7), clock=lambda: NOW, every=timedelta(seconds=0.1)
        )
        await housekeeping.start()
        try:
            await wait_for(lambda: "pruning failed" in caplog.text)
            assert housekeeping.last is None
            assert housekeeping.running
            with store.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE away RENAME TO processed_updates")
            await wait_for(lambda: housekeeping.last is not None)
        finally:
            await housekeeping.stop()
        assert not housekeeping.running
        assert housekeeping.last == Pruned(1, 0)
        failures = [r for r in caplog.records if "pruning failed" in r.getMessage()]
        assert failures
        assert all(r.levelno == logging.WARNING and r.exc_info is None for r in failures)
        assert all("\n" not in r.getMessage() for r in failures)
    finally:
        store.close()
