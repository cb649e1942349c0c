"""Ambiguous sends: the platform took the message but the answer could not be read.

The real TelegramChannel and SlackChannel talk to the fakes, which deliver the message and then
answer a 200 that is not JSON, or answer too late for the client's timeout. Such a send is
"maybe delivered": tried once more at most (``send_maybe_attempts``), never more than two copies
in a chat, its items count as delivered, and ``/status`` says so.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.delivery.worker import MAYBE, NOTICE, PENDING, SENT, OutboxWorker, enqueue
from bot.gateway import Gateway
from bot.settings import Settings, load_settings
from bot.store.models import DeliveryRow, OutboxRow
from bot.store.store import Store
from channels.base import Channel, Incoming
from channels.slack.adapter import SlackChannel
from channels.telegram.adapter import TelegramChannel
from digests.message import Message
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram


class _NoCommands:
    async def on_command(self, incoming: object) -> None:
        return None

    async def on_upload(self, upload: object) -> Message:
        raise AssertionError("no uploads in this test")


async def until(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def row(store: Store, row_id: int) -> Any:
    with store.engine.connect() as conn:
        return conn.execute(select(OutboxRow).where(OutboxRow.id == row_id)).one()


def delivered(store: Store, chat: str) -> set[int]:
    with store.engine.connect() as conn:
        return set(
            conn.execute(select(DeliveryRow.item_id).where(DeliveryRow.chat_id == chat)).scalars()
        )


def queue(store: Store, platform: str, chat: str, items: list[int], purpose: str = "digest") -> int:
    with store.engine.begin() as conn:
        row_id = enqueue(
            conn,
            platform=platform,
            chat_id=chat,
            message=Message.text(f"digest for {chat}"),
            item_ids=items,
            purpose=purpose,
            chat_kind="private",
        )
    assert row_id is not None
    return row_id


def item_ids(store: Store, n: int) -> list[int]:
    from bot.store.models import ItemRow

    with store.engine.connect() as conn:
        return list(conn.execute(select(ItemRow.id).order_by(ItemRow.id).limit(n)).scalars())


@pytest.fixture
def samples(store: Store) -> Store:
    from tests.bot.test_subscriptions import ingest_samples

    ingest_samples(store)
    return store


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegram, TelegramChannel]]:
    async with FakeTelegram() as fake:
        channel = TelegramChannel(
            DEFAULT_TOKEN,
            base_url=fake.base_url,
            base_file_url=fake.base_file_url,
            poll_timeout=0.2,
            request_timeout=0.5,
        )
        await channel.start(_NoCommands())  # type: ignore[arg-type]
        try:
            yield fake, channel
        finally:
            await channel.stop()


def _settings(**extra: Any) -> Settings:
    return Settings(
        telegram_chat_interval=0,
        slack_channel_interval=0,
        admins="telegram:900",
        send_max_attempts=5,
        console=False,
        **extra,
    )


async def _worker(store: Store, channel: Channel, **extra: Any) -> OutboxWorker:
    worker = OutboxWorker(
        store.engine, [channel], _settings(**extra), poll_seconds=0.02, backoff_base=0.05
    )
    await worker.start()
    return worker


async def test_a_non_json_200_is_tried_once_more_and_counts_as_delivered(
    samples: Store, telegram: tuple[FakeTelegram, TelegramChannel]
) -> None:
    store = samples
    fake, channel = telegram
    worker = await _worker(store, channel)
    try:
        items = item_ids(store, 3)
        # Every answer unreadable: two copies reach the chat, then the row is left as "maybe".
        fake.deliver_then_garble("sendMessage", times=10)
        garbled = queue(store, "telegram", "11", items)
        worker.wake()
        await until(lambda: row(store, garbled).status == MAYBE)
        await asyncio.sleep(0.3)  # no third try comes
        assert [s.chat_id for s in fake.sent].count(11) == 2
        finished = row(store, garbled)
        assert finished.maybe_count == 2
        assert "maybe delivered" in finished.last_error
        assert delivered(store, "11") == set(items)  # next week's digest skips them
        # Not refused: no dead letter, no admin notice about a refusal.
        with store.engine.connect() as conn:
            notices = conn.execute(select(OutboxRow.id).where(OutboxRow.purpose == NOTICE)).all()
        assert notices == []

        # One unreadable answer, then a good one: two copies, sent.
        fake.faults.clear()
        fake.deliver_then_garble("sendMessage", times=1)
        once = queue(store, "telegram", "12", items)
        worker.wake()
        await until(lambda: row(store, once).status == SENT)
        assert [s.chat_id for s in fake.sent].count(12) == 2
        assert row(store, once).maybe_count == 1

        # The client's timeout fires after the fake took the message: the same rule.
        fake.deliver_then_garble("sendMessage", times=10, delay=1.0)
        late = queue(store, "telegram", "13", items)
        worker.wake()
        await until(lambda: row(store, late).status == MAYBE, within=20)
        assert [s.chat_id for s in fake.sent].count(13) == 2
    finally:
        await worker.stop()

    services = Services(store=store, admins=frozenset({("telegram", "900")}))
    reply = await Dispatcher(services).on_command(Incoming("telegram", "900", "900", "/status"))
    assert reply is not None
    assert "Maybe delivered (no readable answer): 2 in 24 h" in reply.plain()


async def test_no_retry_of_an_ambiguous_send_when_the_setting_says_none(
    samples: Store, telegram: tuple[FakeTelegram, TelegramChannel]
) -> None:
    store = samples
    fake, channel = telegram
    worker = await _worker(store, channel, send_maybe_attempts=0)
    try:
        fake.deliver_then_garble("sendMessage", times=10)
        only = queue(store, "telegram", "21", item_ids(store, 1))
        worker.wake()
        await until(lambda: row(store, only).status == MAYBE)
        await asyncio.sleep(0.3)
        assert [s.chat_id for s in fake.sent].count(21) == 1
    finally:
        await worker.stop()


async def test_admin_notices_follow_the_same_rule(
    samples: Store, telegram: tuple[FakeTelegram, TelegramChannel]
) -> None:
    store = samples
    fake, channel = telegram
    worker = await _worker(store, channel)
    try:
        fake.deliver_then_garble("sendMessage", times=10)
        notice = queue(store, "telegram", "900", [], purpose=NOTICE)
        worker.wake()
        await until(lambda: row(store, notice).status == MAYBE)
        await asyncio.sleep(0.3)
        assert [s.chat_id for s in fake.sent].count(900) == 2
    finally:
        await worker.stop()


async def test_slack_non_json_200_is_maybe_delivered_not_refused(samples: Store) -> None:
    store = samples
    async with FakeSlack() as fake:
        channel = SlackChannel(fake.bot_token, signing_secret="s3cr3t", api_url=fake.api_url)
        await channel.start(_NoCommands())  # type: ignore[arg-type]
        worker = await _worker(store, channel)
        try:
            fake.deliver_then_garble("chat.postMessage", times=10)
            garbled = queue(store, "slack", "C42", item_ids(store, 2))
            worker.wake()
            await until(lambda: row(store, garbled).status == MAYBE)
            await asyncio.sleep(0.3)
            assert [p.channel for p in fake.sent].count("C42") == 2
            assert delivered(store, "C42") == set(item_ids(store, 2))
        finally:
            await worker.stop()
            await channel.stop()


async def test_shutdown_is_quick_whatever_is_paused_or_in_flight(
    samples: Store,
) -> None:
    # The systemd unit gives 30 s; the gateway's parts must stop well within 10 s together.
    store = samples
    async with FakeTelegram() as fake:
        channel = TelegramChannel(
            DEFAULT_TOKEN,
            base_url=fake.base_url,
            base_file_url=fake.base_file_url,
            request_timeout=120,
        )
        await channel.start(_NoCommands())  # type: ignore[arg-type]
        try:
            await _quick_stop(store, fake, channel)
        finally:
            await channel.stop()


async def _quick_stop(store: Store, fake: FakeTelegram, channel: TelegramChannel) -> None:
    worker = OutboxWorker(
        store.engine,
        [channel],
        _settings(),
        poll_seconds=0.02,
        send_timeout=120.0,  # the send below would hang for a minute
    )
    await worker.start()
    fake.fail_next("sendMessage", None, delay=60.0)
    hanging = queue(store, "telegram", "31", [])
    worker.wake()
    await until(lambda: len(fake.calls) > 0 and fake.calls[-1][0] == "sendMessage")
    worker.limiter.pause("telegram", None, 600.0)  # and a long 429 pause on everything else
    for n in range(20):
        queue(store, "telegram", str(400 + n), [])
    worker.wake()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await worker.stop()
    assert time.monotonic() - started < 6.0
    # Cut off on the wire: maybe delivered, so the next worker tries it once more at most.
    cut = row(store, hanging)
    assert cut.status == "pending"
    assert cut.maybe_count == 1
    assert "maybe delivered" in cut.last_error


def _gateway_env(fake: FakeTelegram, db_url: str, attempts: int) -> dict[str, str]:
    return {
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_TELEGRAM_TOKEN": fake.token,
        "DIGESTBOT_TELEGRAM_API_URL": fake.base_url,
        "DIGESTBOT_TELEGRAM_FILE_URL": fake.base_file_url,
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": "0",
        "DIGESTBOT_ADMINS": "telegram:900",
        "DIGESTBOT_SEND_MAYBE_ATTEMPTS": str(attempts),
    }


def _sends_to(fake: FakeTelegram, chat: int) -> int:
    """sendMessage requests to ``chat`` that reached the fake, answered or not."""
    return sum(1 for m, p in fake.calls if m == "sendMessage" and p.get("chat_id") == chat)


@pytest.mark.parametrize("attempts", [0, 1])
async def test_a_send_cut_off_by_shutdown_is_maybe_delivered(
    sqlite_url: str, attempts: int
) -> None:
    from tests.bot.test_subscriptions import ingest_samples

    store = Store.open(sqlite_url)
    ingest_samples(store)
    items = item_ids(store, 2)
    digest = queue(store, "telegram", "71", items)
    async with FakeTelegram(max_poll_wait=0.2) as fake:
        settings = load_settings(env=_gateway_env(fake, sqlite_url, attempts))
        fake.fail_next("sendMessage", None, delay=120.0)  # the platform never answers it
        gateway = Gateway(settings, stdout=io.StringIO())
        run = asyncio.create_task(gateway.run())
        await until(lambda: _sends_to(fake, 71) == 1, within=30)
        started = time.monotonic()
        gateway.stopping.set()
        assert await asyncio.wait_for(run, 30) == 0
        assert time.monotonic() - started < 10.0  # within the systemd unit's stop timeout
        # The request was out: maybe delivered, its items too, not released as never sent.
        cut = row(store, digest)
        assert cut.maybe_count == 1
        assert "maybe delivered" in cut.last_error
        assert cut.status == (MAYBE if attempts == 0 else PENDING)
        assert delivered(store, "71") == set(items)
        services = Services(store=store, admins=frozenset({("telegram", "900")}))
        status = await Dispatcher(services).on_command(
            Incoming("telegram", "900", "900", "/status")
        )
        assert status is not None
        assert (
            f"Maybe delivered (no readable answer): {1 - attempts} in 24 h, "
            f"{attempts} being tried once more" in status.plain()
        )

        # Restarted: one more try when the setting allows it, none otherwise.
        gateway = Gateway(settings, stdout=io.StringIO())
        run = asyncio.create_task(gateway.run())
        try:
            if attempts:
                await until(lambda: row(store, digest).status == SENT, within=30)
            else:
                # A later digest goes out, so this worker is sending; the cut one is not due.
                later = queue(store, "telegram", "72", [])
                await until(lambda: row(store, later).status == SENT, within=30)
                assert row(store, digest).status == MAYBE
            assert _sends_to(fake, 71) == 1 + attempts
        finally:
            gateway.stopping.set()
            assert await asyncio.wait_for(run, 30) == 0
    store.close()
