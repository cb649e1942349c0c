"""Probes of issue 30: no wait a platform asks for stops delivery or holds a reply.

A 429 with ``retry_after: 999999999999`` raised OverflowError in the ledger, so the flush loop
retried its batch forever and nothing more was sent; ``RateLimiter.pause`` had no bound; and a
digest's 429 held a command reply in that chat for as long as the digest waited.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery.ratelimit import BULK, INTERACTIVE, MAX_PAUSE, RateLimiter
from bot.delivery.worker import PENDING, SENT, OutboxWorker, enqueue
from bot.settings import Settings
from bot.store.store import Store
from channels.base import MAX_RETRY_AFTER, RateLimits, RetryLater
from digests.message import Message
from tests.bot.test_delivery_probes import PLATFORMS
from tests.bot.test_maybe_delivered import row, until

HUGE = 999_999_999_999


def _ask_to_wait(fake: object, platform: str) -> None:
    """The next post of ``platform``'s fake answers 429 asking for :data:`HUGE` seconds."""
    if platform == "slack":
        fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=HUGE)  # type: ignore[attr-defined]
    elif platform == "discord":
        fake.rate_limit(float(HUGE))  # type: ignore[attr-defined]
    elif platform == "lark":
        fake.fail_next("send", 99991400, "too many", status=429, reset=HUGE)  # type: ignore[attr-defined]
    else:
        fake.fail_next(  # type: ignore[attr-defined]
            "sendMessage",
            429,
            f"Too Many Requests: retry after {HUGE}",
            parameters={"retry_after": HUGE},
        )


@pytest.mark.parametrize("platform", ["slack", "discord", "lark", "telegram"])
async def test_a_wait_of_ten_to_the_twelve_seconds_is_clamped_and_delivery_goes_on(
    sqlite_url: str, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(sqlite_url)
    async with PLATFORMS[platform]() as (fake, channel, _method, _copies):
        settings = Settings(
            telegram_chat_interval=0,
            slack_channel_interval=0,
            lark_chat_interval=0,
            discord_channel_interval=0,
            console=False,
        )
        worker = OutboxWorker(store.engine, [channel], settings, poll_seconds=0.02)
        await worker.start()
        try:
            _ask_to_wait(fake, platform)
            with store.engine.begin() as conn:
                waits = enqueue(
                    conn,
                    platform=platform,
                    chat_id="41",
                    message=Message.text("a"),
                    chat_kind="private",
                )
            assert waits is not None
            with caplog.at_level(logging.WARNING):
                worker.wake()
                await until(lambda: row(store, waits).last_error is not None)
            # Put off by the longest wait we keep, not ten thousand years (nor an error).
            pending = row(store, waits)
            assert pending.status == PENDING
            not_before = pending.not_before.replace(tzinfo=UTC)
            soon = datetime.now(UTC) + timedelta(seconds=MAX_RETRY_AFTER)
            assert soon - timedelta(minutes=1) < not_before <= soon + timedelta(seconds=1)
            clamped = [r for r in caplog.records if "asked to wait" in r.getMessage()]
            assert len(clamped) == 1
            # Telegram's and Lark's 429s pause all their bulk sends (by design): an hour.
            if platform in ("slack", "discord"):
                with store.engine.begin() as conn:
                    other = enqueue(
                        conn,
                        platform=platform,
                        chat_id="42",
                        message=Message.text("b"),
                        chat_kind="private",
                    )
                assert other is not None
                worker.wake()
                await until(lambda: row(store, other).status == SENT)
            assert worker.alive
        finally:
            await worker.stop()
    store.close()


def test_every_wait_is_clamped_where_it_is_made() -> None:
    assert RetryLater(HUGE).retry_after == MAX_RETRY_AFTER
    assert RetryLater(float("inf")).retry_after == MAX_RETRY_AFTER
    assert RetryLater(float("nan")).retry_after == MAX_RETRY_AFTER
    assert RetryLater(-5).retry_after == 0.0
    assert RetryLater(4).retry_after == 4.0


async def test_a_pause_has_an_upper_bound() -> None:
    now = [1000.0]
    limiter = RateLimiter({"slack": RateLimits(chat_interval=0.0)}, clock=lambda: now[0])
    limiter.pause("slack", "C1", float(HUGE))
    limiter.pause("slack", None, float("inf"))
    now[0] += MAX_PAUSE + 1  # an hour later, not ten thousand years
    async with asyncio.timeout(1.0):
        await limiter.acquire("slack", "C1", "channel", BULK)


async def test_a_digest_429_holds_a_reply_in_that_chat_no_longer_than_the_reply_cap() -> None:
    limiter = RateLimiter({"slack": RateLimits(chat_interval=0.0)}, reply_pause_cap=0.3)
    limiter.pause("slack", "C1", 112.0)  # the digest to C1 got a 429
    started = time.monotonic()
    async with asyncio.timeout(2.0):
        await limiter.acquire("slack", "C1", "channel", INTERACTIVE)
    assert time.monotonic() - started < 1.0
    # The digests themselves keep waiting.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await limiter.acquire("slack", "C1", "channel", BULK)
