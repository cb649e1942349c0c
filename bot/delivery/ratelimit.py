"""Platform rate limits, enforced before a message leaves, so the platform never has to.

Limits come from :class:`~bot.settings.Settings`:

================  =====================================================================
Telegram          ``telegram_global_rate`` messages/s across all chats (a token bucket),
                  one message per ``telegram_chat_interval`` s to one chat, and at most
                  ``telegram_group_per_minute`` a minute to a group (``chat_kind`` group or
                  supergroup, or a negative chat id)
Slack             one message per ``slack_channel_interval`` s to one channel or DM
Lark, Discord     their packages' ``chat_interval`` / ``channel_interval`` and ``global_rate``
                  (:meth:`RateLimiter.add_platform`)
anything else     no limit (the console)
================  =====================================================================

Per-chat limits are GCRA pacers (a token bucket kept as one "theoretical arrival time"); the
global limit is a token bucket of one second's capacity.

Priorities. Command replies (:data:`INTERACTIVE`) must never wait behind a digest fan-out
(:data:`BULK`, the outbox worker). Bulk acquirers queue one behind another on a per-platform lock
and may take a global token only while :attr:`RateLimiter.headroom` tokens stay in the bucket;
interactive acquirers skip that queue and may spend the headroom. So a reply waits at most for its
own chat's interval, never for the fan-out's backlog; the total stays within the limit because
every send, of either priority, takes its token from the same bucket.

A 429 pauses what it must (:meth:`RateLimiter.pause`): the chat, and for Telegram and Lark, whose
429s do not say which limit was hit and whose per-chat limits we already keep, the whole platform.

Several gateways on one database (issue 8). Per-chat limits need no sharing: the outbox claim
never hands a chat to a worker while another worker holds a row of that chat, and only the
gateway that received a command replies to it. The global limit is **divided among the live
workers**: every outbox worker writes a heartbeat row (``outbox_workers``) every two seconds and
calls :meth:`RateLimiter.set_share` with the number of workers seen in the last three heartbeats,
so each sends at ``telegram_global_rate / n``. This was chosen over keeping the buckets in the
database because it costs no database round trip per message, cannot make sends wait on a slow
database, and is exactly right in the steady state; while a gateway joins or dies the sum may be
off for a few seconds (a joining worker is counted within a heartbeat, a dead one is forgotten
after three), which the 429 handling absorbs. Command replies of all gateways share the same
divided budget and its headroom.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.settings import Settings
from channels.base import Handler, Incoming, Upload
from digests.message import Message

INTERACTIVE = 0
BULK = 1

GROUP_KINDS = ("group", "supergroup")
_PRUNE_AT = 4096


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved; the balance may go negative when
    a send turned out to be several messages (:meth:`charge`)."""

    def __init__(self, rate: float, capacity: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self.tokens = capacity
        self._stamp = clock()

    def _refill(self) -> float:
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return now

    def wait_time(self, need: float) -> float:
        """Seconds until ``need`` tokens are in the bucket (0.0 if they are now)."""
        self._refill()
        if self.tokens >= need:
            return 0.0
        return (need - self.tokens) / self.rate

    def charge(self, n: float = 1.0) -> None:
        self._refill()
        self.tokens -= n

    def set_rate(self, rate: float, capacity: float) -> None:
        self._refill()
        self.rate, self.capacity = rate, capacity
        self.tokens = min(self.tokens, capacity)


@dataclass
class Pacer:
    """GCRA: one message per ``interval`` seconds with bursts of ``burst``."""

    interval: float
    burst: int = 1
    tat: float = 0.0  # theoretical arrival time of the next conforming message

    def allowed_at(self, now: float) -> float:
        return max(now, self.tat - (self.burst - 1) * self.interval)

    def commit(self, at: float, n: int = 1) -> None:
        self.tat = max(self.tat, at) + n * self.interval


class _ChatLimit:
    """The pacers of one chat (per chat, and per group where that applies)."""

    __slots__ = ("pacers",)

    def __init__(self, pacers: list[Pacer]) -> None:
        self.pacers = pacers

    def allowed_at(self, now: float) -> float:
        return max((p.allowed_at(now) for p in self.pacers), default=now)

    def commit(self, at: float, n: int = 1) -> None:
        for p in self.pacers:
            p.commit(at, n)

    def idle(self, now: float) -> bool:
        return all(p.tat <= now for p in self.pacers)


class RateLimiter:
    """Per-platform limits, shared by the outbox worker and command replies of one gateway.

    Args:
        telegram_global_rate: Messages/s across all Telegram chats (for this whole bot).
        telegram_chat_interval: Seconds between two messages to one Telegram chat.
        telegram_group_per_minute: Messages a minute to one Telegram group.
        slack_channel_interval: Seconds between two messages to one Slack channel.
        headroom: Fraction of the global bucket that bulk sends leave to interactive replies.
        clock: A monotonic clock (tests pass a fake one).
    """

    def __init__(
        self,
        *,
        telegram_global_rate: float = 30.0,
        telegram_chat_interval: float = 1.0,
        telegram_group_per_minute: int = 20,
        slack_channel_interval: float = 1.0,
        headroom: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._global_rates = {"telegram": telegram_global_rate}
        self._global: dict[str, TokenBucket] = {
            p: TokenBucket(rate, max(1.0, rate), clock) for p, rate in self._global_rates.items()
        }
        self._headroom_fraction = headroom
        self._chat_interval = {"telegram": telegram_chat_interval, "slack": slack_channel_interval}
        self._group_per_minute = telegram_group_per_minute
        self._chats: dict[tuple[str, str], _ChatLimit] = {}
        self._paused: dict[tuple[str, str | None], float] = {}
        self._bulk_locks: dict[str, asyncio.Lock] = {}
        self.share = 1

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> RateLimiter:
        limiter = cls(
            telegram_global_rate=settings.telegram_global_rate,
            telegram_chat_interval=settings.telegram_chat_interval,
            telegram_group_per_minute=settings.telegram_group_per_minute,
            slack_channel_interval=settings.slack_channel_interval,
            **kwargs,
        )
        if settings.lark is not None:
            limiter.add_platform("lark", settings.lark.chat_interval, settings.lark.global_rate)
        if settings.discord is not None:
            limiter.add_platform(
                "discord", settings.discord.channel_interval, settings.discord.global_rate
            )
        return limiter

    def add_platform(self, platform: str, chat_interval: float, global_rate: float) -> None:
        """Limit ``platform`` to one message per ``chat_interval`` s a chat, ``global_rate``/s."""
        self._chat_interval[platform] = chat_interval
        self._global_rates[platform] = global_rate
        rate = global_rate / self.share
        self._global[platform] = TokenBucket(rate, max(1.0, rate), self._clock)

    # -- configuration ----------------------------------------------------------------------

    def set_share(self, workers: int) -> None:
        """Divide the global limits among ``workers`` live workers (see the module docstring)."""
        workers = max(1, workers)
        if workers == self.share:
            return
        self.share = workers
        for platform, bucket in self._global.items():
            rate = self._global_rates[platform] / workers
            bucket.set_rate(rate, max(1.0, rate))

    def global_rate(self, platform: str) -> float | None:
        bucket = self._global.get(platform)
        return bucket.rate if bucket else None

    def headroom(self, platform: str) -> float:
        bucket = self._global.get(platform)
        if bucket is None:
            return 0.0
        return max(1.0, bucket.capacity * self._headroom_fraction)

    # -- pauses -----------------------------------------------------------------------------

    def pause(self, platform: str, chat_id: str | None, seconds: float) -> None:
        """Send nothing to ``chat_id`` (or, with None, to the whole platform) for ``seconds``."""
        key = (platform, chat_id)
        until = self._clock() + max(0.0, seconds)
        self._paused[key] = max(self._paused.get(key, 0.0), until)

    def _pause_left(self, platform: str, chat_id: str | None, now: float) -> float:
        left = self._paused.get((platform, chat_id), 0.0) - now
        if left <= 0 and (platform, chat_id) in self._paused:
            del self._paused[(platform, chat_id)]
        return max(0.0, left)

    # -- acquiring --------------------------------------------------------------------------

    async def acquire(
        self, platform: str, chat_id: str, kind: str = "", priority: int = INTERACTIVE
    ) -> None:
        """Wait until one message to ``chat_id`` may be sent, and account for it.

        Args:
            platform: ``telegram``, ``slack``, … (platforms without limits return at once).
            chat_id: The destination chat (Slack: channel or user id).
            kind: The chat kind (``private``, ``group``, ``supergroup``, ``channel``…).
            priority: :data:`INTERACTIVE` for command replies, :data:`BULK` for the outbox.
        """
        chat = self._chat(platform, chat_id, kind)
        await self._wait_chat(platform, chat_id, chat)
        if platform in self._global:
            if priority == BULK:
                lock = self._bulk_locks.setdefault(platform, asyncio.Lock())
                async with lock:
                    await self._take_global(platform, self.headroom(platform))
            else:
                await self._take_global(platform, 0.0)
        # Rarely, another sender to this chat went first while we waited for the global token.
        await self._wait_chat(platform, chat_id, chat)
        if chat is not None:
            chat.commit(self._clock())

    def charge(self, platform: str, chat_id: str, kind: str = "", n: int = 1) -> None:
        """Account for ``n`` more messages already sent (the extra parts of a long message)."""
        if n <= 0:
            return
        if platform in self._global:
            self._global[platform].charge(n)
        chat = self._chat(platform, chat_id, kind)
        if chat is not None:
            chat.commit(self._clock(), n)

    async def _wait_chat(self, platform: str, chat_id: str, chat: _ChatLimit | None) -> None:
        while True:
            now = self._clock()
            wait = max(
                self._pause_left(platform, chat_id, now), self._pause_left(platform, None, now)
            )
            if chat is not None:
                wait = max(wait, chat.allowed_at(now) - now)
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _take_global(self, platform: str, reserve: float) -> None:
        bucket = self._global[platform]
        while True:
            now = self._clock()
            wait = max(self._pause_left(platform, None, now), bucket.wait_time(1.0 + reserve))
            if wait <= 0:
                bucket.charge(1.0)
                return
            await asyncio.sleep(wait)

    def _chat(self, platform: str, chat_id: str, kind: str) -> _ChatLimit | None:
        interval = self._chat_interval.get(platform)
        if interval is None:
            return None
        key = (platform, chat_id)
        chat = self._chats.get(key)
        if chat is None:
            if len(self._chats) >= _PRUNE_AT:
                self._prune()
            pacers = [Pacer(interval)] if interval > 0 else []
            if platform == "telegram" and is_group(chat_id, kind):
                pacers.append(Pacer(60.0 / self._group_per_minute, self._group_per_minute))
            chat = self._chats[key] = _ChatLimit(pacers)
        return chat

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, c in self._chats.items() if c.idle(now - 60.0)]:
            del self._chats[key]


def is_group(chat_id: str, kind: str = "") -> bool:
    """A Telegram group or supergroup: by its kind, or else by its negative id (not a channel)."""
    if kind:
        return kind in GROUP_KINDS
    return chat_id.startswith("-")


class PacedHandler:
    """Wraps the gateway's handler so a command reply takes its turn with the limiter.

    Channels send the returned reply at once, so waiting here, just before returning, is waiting
    before sending. Replies use :data:`INTERACTIVE` priority: they skip the fan-out's queue.
    """

    def __init__(self, inner: Handler, limiter: RateLimiter) -> None:
        self.inner = inner
        self.limiter = limiter

    async def on_command(self, incoming: Incoming) -> Message | None:
        reply = await self.inner.on_command(incoming)
        if reply is not None:
            await self.limiter.acquire(
                incoming.platform, incoming.chat_id, incoming.chat_kind, INTERACTIVE
            )
        return reply

    async def on_upload(self, upload: Upload) -> Message:
        reply = await self.inner.on_upload(upload)
        await self.limiter.acquire(upload.platform, upload.chat_id, "", INTERACTIVE)
        return reply
