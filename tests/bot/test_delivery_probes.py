"""Probes of issue 30: an answer the client cannot read, after the platform took the message, on
every platform. The real adapters talk to the fakes, which deliver the digest and then answer a
200 that is not JSON, drop the connection, answer too late, or answer 502. Each such send is
"maybe delivered": at most two copies reach the chat, the row finishes as ``maybe`` (not dead:
no admin notice), and its items count as delivered so next week's digest does not repeat them.

Every case here failed before: Discord sent 5 copies (25 for a 502: discord.py retried inside
each try), Lark 5 then dead, Slack 4 for a dropped connection (slack_sdk's own retry) and 5 for a
502, Telegram 5 for a 502.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select

from bot.delivery.worker import MAYBE, NOTICE, OutboxWorker, enqueue
from bot.settings import Settings
from bot.store.models import DeliveryRow, OutboxRow
from bot.store.store import Store
from channels.base import Channel
from digests.message import Message
from tests.bot.test_maybe_delivered import item_ids, row, until
from tests.fakes import FakeServer

#: The client's (or the outbox's) timeout in these probes, and how late a "late" answer is.
TIMEOUT = 1.0
LATE = 2.5


class _NoCommands:
    async def on_command(self, incoming: object) -> None:
        return None

    async def on_upload(self, upload: object) -> Message:
        raise AssertionError("no uploads here")


@asynccontextmanager
async def _telegram() -> AsyncIterator[tuple[FakeServer, Channel, str, Callable[[], int]]]:
    from channels.telegram.adapter import TelegramChannel
    from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram

    async with FakeTelegram() as fake:
        channel = TelegramChannel(
            DEFAULT_TOKEN,
            base_url=fake.base_url,
            base_file_url=fake.base_file_url,
            poll_timeout=0.2,
            request_timeout=TIMEOUT,
        )
        await channel.start(_NoCommands())  # type: ignore[arg-type]
        try:
            yield fake, channel, "sendMessage", lambda: sum(s.chat_id == 41 for s in fake.sent)
        finally:
            await channel.stop()


@asynccontextmanager
async def _slack() -> AsyncIterator[tuple[FakeServer, Channel, str, Callable[[], int]]]:
    from channels.slack.adapter import SlackChannel
    from tests.fakes.slack import FakeSlack

    async with FakeSlack() as fake:
        channel = SlackChannel(fake.bot_token, signing_secret="s3cr3t", api_url=fake.api_url)
        await channel.start(_NoCommands())  # type: ignore[arg-type]
        try:
            yield (
                fake,
                channel,
                "chat.postMessage",
                lambda: sum(p.channel == "41" for p in fake.sent),
            )
        finally:
            await channel.stop()


@asynccontextmanager
async def _lark() -> AsyncIterator[tuple[FakeServer, Channel, str, Callable[[], int]]]:
    from channels.lark.adapter import LarkChannel
    from tests.fakes.lark import APP_ID, APP_SECRET, FakeLark

    async with FakeLark() as fake:
        channel = LarkChannel(
            APP_ID,
            APP_SECRET,
            verification_token="v-token",
            api_url=fake.url,
            request_timeout=TIMEOUT,
            drain_timeout=1.0,
        )
        await channel.start(_NoCommands())  # type: ignore[arg-type]
        try:
            yield fake, channel, "send", lambda: sum(s.chat_id == "41" for s in fake.sent)
        finally:
            await channel.stop()


@asynccontextmanager
async def _discord() -> AsyncIterator[tuple[FakeServer, Channel, str, Callable[[], int]]]:
    from channels.discord.adapter import DiscordChannel
    from tests.fakes.discord import TOKEN, FakeDiscord

    async with FakeDiscord() as fake:
        channel = DiscordChannel(
            TOKEN,
            api_url=fake.api_url,
            gateway_url=fake.gateway_url,
            guild_ready_timeout=0.05,
            drain_timeout=1.0,
        )
        await channel.start(_NoCommands())  # type: ignore[arg-type]
        try:
            yield fake, channel, "message", lambda: sum(p.channel_id == "41" for p in fake.sent)
        finally:
            await channel.stop()


NO_CLIENT_TIMEOUT = {"slack", "discord"}
PLATFORMS = {"telegram": _telegram, "slack": _slack, "lark": _lark, "discord": _discord}

#: The rows of the issue: each failed on main (Telegram's other three were already right), and
#: Discord's read timeout, which our own send timeout already made "maybe".
PROBES = [
    ("telegram", "non_json_200"),  # two copies already, but PTB logged a traceback a try
    ("telegram", "delivered_then_502"),
    ("slack", "dropped_connection"),
    ("slack", "delivered_then_502"),
    ("lark", "non_json_200"),
    ("lark", "dropped_connection"),
    ("lark", "read_timeout"),
    ("lark", "delivered_then_502"),
    ("discord", "non_json_200"),
    ("discord", "dropped_connection"),
    ("discord", "read_timeout"),
    ("discord", "delivered_then_502"),
]


@pytest.fixture
def samples(sqlite_url: str) -> Store:
    from tests.bot.test_subscriptions import ingest_samples

    store = Store.open(sqlite_url)
    ingest_samples(store)
    return store


def _settings() -> Settings:
    return Settings(
        telegram_chat_interval=0,
        slack_channel_interval=0,
        admins="telegram:900",
        send_max_attempts=5,
        console=False,
    )


@pytest.mark.parametrize(("platform", "kind"), PROBES)
async def test_an_unreadable_answer_after_sending_gives_two_copies_at_most(
    samples: Store, platform: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = samples
    items = item_ids(store, 3)
    async with PLATFORMS[platform]() as (fake, channel, method, copies):
        worker = OutboxWorker(
            store.engine,
            [channel],
            _settings(),
            poll_seconds=0.02,
            backoff_base=0.05,
            # Slack's and Discord's clients wait long: there the outbox's own timeout is the
            # read timeout. Elsewhere the client's fires first, as in production.
            send_timeout=TIMEOUT
            if (platform in NO_CLIENT_TIMEOUT and kind == "read_timeout")
            else 10.0,
        )
        await worker.start()
        try:
            fake.answer_badly(method, kind, times=10, delay=LATE)
            with store.engine.begin() as conn:
                row_id = enqueue(
                    conn,
                    platform=platform,
                    chat_id="41",
                    message=Message.text("digest for 41"),
                    item_ids=items,
                    chat_kind="private",
                )
            assert row_id is not None
            with caplog.at_level(logging.INFO):
                worker.wake()
                await until(lambda: row(store, row_id).status == MAYBE, within=30)
                await asyncio.sleep(0.3)  # no third try comes
        finally:
            await worker.stop()
        # Lark drops a repeated uuid within the hour: its second try posts nothing.
        assert 1 <= copies() <= 2
        finished = row(store, row_id)
        assert finished.maybe_count == 2
        assert finished.attempts == 0  # never taken for a plain failure
        with store.engine.connect() as conn:
            delivered = set(
                conn.execute(
                    select(DeliveryRow.item_id).where(DeliveryRow.chat_id == "41")
                ).scalars()
            )
            notices = conn.execute(select(OutboxRow.id).where(OutboxRow.purpose == NOTICE)).all()
        assert delivered == set(items)  # next week's digest skips them
        assert notices == []
        # One traceback for the row (its first unreadable answer); the second try is one line.
        ours = [r for r in caplog.records if r.name.startswith(("bot.", "channels."))]
        tracebacks = [r for r in caplog.records if r.exc_info]
        assert len(tracebacks) <= 1, [r.getMessage() for r in tracebacks]
        assert sum(1 for r in ours if f"row {row_id} " in r.getMessage()) == 2
    store.close()
