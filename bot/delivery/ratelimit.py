"""Platform rate limits, enforced before a message leaves, so the platform never has to.

Each platform declares its limits (:class:`~channels.base.RateLimits`, from its settings): a
global rate across all its chats (a token bucket), an interval between two messages to one chat,
and a number of messages a minute to one group. Telegram's are 30/s, 1 s and 20/min; Slack's one
message a second to a channel; the console has none.

Per-chat limits are GCRA pacers (a token bucket kept as one "theoretical arrival time"); the
global limit is a token bucket of one second's capacity.

Priorities. Command replies (:data:`INTERACTIVE`) must never wait behind a digest fan-out
(:data:`BULK`, the outbox worker). Bulk acquirers queue one behind another on a per-platform lock
and may take a global token only while :attr:`RateLimiter.headroom` tokens stay in the bucket;
interactive acquirers skip that queue and may spend the headroom. So a reply waits at most for its
own chat's interval, never for the fan-out's backlog; the total stays within the limit because
every send, of either priority, takes its token from the same bucket.

A 429 pauses what it must (:meth:`RateLimiter.pause`): the chat, and the platform's **bulk** sends
where the platform declares ``pause_platform_on_429`` (Telegram, whose 429s do not say which
limit was hit and whose per-chat limits we already keep). Command replies keep going through a
platform pause, within their chats' limits: a fan-out that hit the limit must not silence the bot.

Order. Replies to one chat leave in arrival order, whole: a reply takes its chat's turn (a FIFO
lock) for its first part and keeps it in the :func:`~channels.base.replying` scope that the
channel's :class:`~channels.sender.Inflight` opens for the update until its last part is sent
(every part of a reply asks through :meth:`RateLimiter.reply_turn`, called by the channel's
:class:`~channels.sender.Sender`), so two replies to one chat never interleave their parts; the turn
ends with the scope, also when the reply fails or is cancelled. A chat's lock lives only while a
reply holds or waits for it. Across chats, replies get the platform's tokens **oldest arrival
first** (:class:`~bot.delivery.gate.OldestFirst`, one per platform): a reply's arrival is when
its update came (the scope's :attr:`~channels.base.ReplyScope.arrival`; now, outside a scope),
and its later parts and retries keep it. So a chat's second reply, which may ask for a token only
once the first has gone out and the chat's interval has passed, goes before the replies to other
chats that came after it: the one waiting for a token gives way to an older reply that asked
meanwhile. Arrivals are only compared with one another, so they are always on
:func:`time.monotonic`'s clock, whatever clock paces the limits (tests pass a fake one).

Several gateways on one database (issue 8). Per-chat limits need no sharing: the outbox claim
never hands a chat to a worker while another worker holds a row of that chat, and only the
gateway that received a command replies to it. The global limit is **divided among the live
workers**: every outbox worker writes a heartbeat row (``outbox_workers``) every two seconds and
calls :meth:`RateLimiter.set_share` with the number of workers seen in the last three heartbeats,
so each sends at its platform's global rate divided by ``n``. This was chosen over keeping the buckets in the
database because it costs no database round trip per message, cannot make sends wait on a slow
database, and is exactly right in the steady state; while a gateway joins or dies the sum may be
off for a few seconds (a joining worker is counted within a heartbeat, a dead one is forgotten
after three), which the 429 handling absorbs. Command replies of all gateways share the same
divided budget and its headroom.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.delivery.gate import OldestFirst
from bot.platforms import specs
from bot.settings import Settings
from channels.base import MAX_RETRY_AFTER, RateLimits, reply_scope, sane_wait

INTERACTIVE = 0
BULK = 1
#: The longest a pause lasts, whatever a platform asked (:data:`~channels.base.MAX_RETRY_AFTER`).
MAX_PAUSE = MAX_RETRY_AFTER
#: The longest a command reply waits for its chat's pause (a digest's 429): the reply's own cap
#: (:data:`channels.sender.REPLY_MAX_WAIT`); past it the reply goes and meets the platform's
#: answer itself.
REPLY_PAUSE_CAP = 30.0

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


class Window:
    """At most ``limit`` messages in any ``seconds`` (Telegram: 20 a minute to one group).

    A burst of ``limit`` goes at once; the next waits until the oldest of them is ``seconds``
    old. (A GCRA pacer with a burst lets ``burst`` plus one per interval through in a window.)
    """

    __slots__ = ("limit", "seconds", "sent")

    def __init__(self, limit: int, seconds: float = 60.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self.sent: deque[float] = deque(maxlen=limit)

    @property
    def tat(self) -> float:
        """When the window holds nothing any more (the pacers' idle test)."""
        return self.sent[-1] + self.seconds if self.sent else 0.0

    def allowed_at(self, now: float) -> float:
        return now if len(self.sent) < self.limit else max(now, self.sent[0] + self.seconds)

    def commit(self, at: float, n: int = 1) -> None:
        self.sent.extend([at] * n)


class _ChatLimit:
    """The pacers of one chat (per chat, and per group where that applies)."""

    __slots__ = ("pacers",)

    def __init__(self, pacers: list[Pacer | Window]) -> None:
        self.pacers = pacers

    def allowed_at(self, now: float) -> float:
        return max((p.allowed_at(now) for p in self.pacers), default=now)

    def commit(self, at: float, n: int = 1) -> None:
        for p in self.pacers:
            p.commit(at, n)

    def idle(self, now: float) -> bool:
        return all(p.tat <= now for p in self.pacers)


class _Turn:
    """A chat's reply lock, and how many replies hold it or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class RateLimiter:
    """Per-platform limits, shared by the outbox worker and command replies of one gateway.

    Args:
        limits: Each platform's :class:`~channels.base.RateLimits`; platforms not named here
            have no limits (the console).
        headroom: Fraction of the global bucket that bulk sends leave to interactive replies.
        clock: A monotonic clock for the limits (tests pass a fake one); the order of replies is
            by arrival on :func:`time.monotonic`'s clock whatever this is (see the module
            docstring).
        reply_pause_cap: The longest a reply waits for its chat's pause.
    """

    def __init__(
        self,
        limits: Mapping[str, RateLimits],
        *,
        headroom: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        reply_pause_cap: float = REPLY_PAUSE_CAP,
    ) -> None:
        self._clock = clock
        self.reply_pause_cap = reply_pause_cap
        self._limits = dict(limits)
        self._global_rates = {
            p: lim.global_rate for p, lim in self._limits.items() if lim.global_rate is not None
        }
        self._global: dict[str, TokenBucket] = {
            p: TokenBucket(rate, max(1.0, rate), clock) for p, rate in self._global_rates.items()
        }
        # Replies' own, lower global rate where a platform declares one (paid broadcasts).
        self._reply_rates = {
            p: lim.reply_rate
            for p, lim in self._limits.items()
            if lim.reply_rate is not None and p in self._global
        }
        self._reply_global: dict[str, TokenBucket] = {
            p: TokenBucket(rate, max(1.0, rate), clock) for p, rate in self._reply_rates.items()
        }
        self._headroom_fraction = headroom
        self._chats: dict[tuple[str, str], _ChatLimit] = {}
        self._paused: dict[tuple[str, str | None], float] = {}
        self._bulk_locks: dict[str, asyncio.Lock] = {}
        self._turns: dict[tuple[str, str], _Turn] = {}
        self._reply_gates: dict[str, OldestFirst] = {}
        self.share = 1

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> RateLimiter:
        """The limits every registered platform declares, from the settings."""
        return cls({spec.name: spec.rate_limits(settings) for spec in specs()}, **kwargs)

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
        for platform, bucket in self._reply_global.items():
            rate = self._reply_rates[platform] / workers
            bucket.set_rate(rate, max(1.0, rate))

    def pauses_platform(self, platform: str) -> bool:
        """Whether a 429 from ``platform`` pauses all of it (see the module docstring)."""
        limits = self._limits.get(platform)
        return limits is not None and limits.pause_platform_on_429

    def fastest_rate(self) -> float | None:
        """The highest global rate of any platform (how many sends may usefully be in flight)."""
        return max((b.rate for b in self._global.values()), default=None)

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
        """Send nothing to ``chat_id`` for ``seconds`` (at most :data:`MAX_PAUSE`); with None, no
        bulk sends of the platform (command replies continue, and wait for a chat's pause at
        most ``reply_pause_cap``)."""
        key = (platform, chat_id)
        until = self._clock() + min(sane_wait(seconds), MAX_PAUSE)
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

        A reply inside a :func:`~channels.base.replying` scope keeps the chat's turn until the
        scope ends, so its later parts go before any other reply to the chat.
        """
        chat = self._chat(platform, chat_id, kind)
        if priority == BULK:
            await self._wait_chat(platform, chat_id, chat, priority)
            if platform in self._global:
                lock = self._bulk_locks.setdefault(platform, asyncio.Lock())
                async with lock:
                    await self._take_global(platform, self.headroom(platform), priority)
            # Rarely, another sender to this chat went first while we waited for the token.
            await self._wait_chat(platform, chat_id, chat, priority)
            if chat is not None:
                chat.commit(self._clock())
            return
        # Replies: in arrival order per chat, a reply's parts together; then oldest first for
        # the platform's tokens.
        key = (platform, chat_id)
        scope = reply_scope()
        arrival = scope.arrival if scope is not None else time.monotonic()
        if scope is not None and scope.holds(key):
            # A later part of the same reply.
            await self._reply_tokens(platform, chat_id, chat, arrival)
            return
        if scope is not None:
            scope.let_go()  # a reply moving on to another chat is done with the first
        release = await self._take_turn(key)
        kept = scope is not None and scope.hold(key, release)
        try:
            await self._reply_tokens(platform, chat_id, chat, arrival)
        except BaseException:
            if kept and scope is not None:
                scope.let_go()  # nothing of it went out: the next reply's turn
            raise
        finally:
            if not kept:
                release()

    async def _reply_tokens(
        self, platform: str, chat_id: str, chat: _ChatLimit | None, arrival: float
    ) -> None:
        await self._wait_chat(platform, chat_id, chat, INTERACTIVE)
        if platform in self._global:
            await self._take_reply_token(platform, arrival)
        await self._wait_chat(platform, chat_id, chat, INTERACTIVE)
        if chat is not None:
            chat.commit(self._clock())

    async def _take_reply_token(self, platform: str, arrival: float) -> None:
        """A global token for a reply, oldest arrival first (see the module docstring)."""
        gate = self._reply_gates.setdefault(platform, OldestFirst())
        shared = self._global[platform]
        # A reply's own bucket where the platform has one (it is charged to the shared one too).
        bucket = self._reply_global.get(platform, shared)
        while True:
            await gate.acquire(arrival)
            try:
                while (wait := bucket.wait_time(1.0)) > 0:
                    await asyncio.sleep(wait)
                    if gate.older_waiting(arrival):
                        break  # an older reply asked meanwhile: it takes this token
                else:
                    bucket.charge(1.0)
                    if bucket is not shared:
                        shared.charge(1.0)
                    return
            finally:
                gate.release()

    async def _take_turn(self, key: tuple[str, str]) -> Callable[[], None]:
        """Wait for the chat's reply turn; returns what ends it (call it once)."""
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        turn.users += 1
        try:
            await turn.lock.acquire()
        except BaseException:
            self._leave(key, turn)
            raise

        def release() -> None:
            turn.lock.release()
            self._leave(key, turn)

        return release

    def _leave(self, key: tuple[str, str], turn: _Turn) -> None:
        turn.users -= 1
        if turn.users <= 0 and self._turns.get(key) is turn:
            del self._turns[key]

    async def reply_turn(self, platform: str, chat_id: str, kind: str = "") -> None:
        """One message of a command reply waits for its turn (the channels' ``Sender`` calls
        this through ``BuildContext.pace`` before each part of a reply)."""
        await self.acquire(platform, chat_id, kind, INTERACTIVE)

    def charge(self, platform: str, chat_id: str, kind: str = "", n: int = 1) -> None:
        """Account for ``n`` more messages already sent (the extra parts of a long message)."""
        if n <= 0:
            return
        if platform in self._global:
            self._global[platform].charge(n)
        chat = self._chat(platform, chat_id, kind)
        if chat is not None:
            chat.commit(self._clock(), n)

    async def _wait_chat(
        self, platform: str, chat_id: str, chat: _ChatLimit | None, priority: int
    ) -> None:
        # A reply waits for its chat's pause only so long (a digest's 429 must not hold it).
        paused_until = self._clock() + self.reply_pause_cap if priority != BULK else math.inf
        while True:
            now = self._clock()
            wait = min(self._pause_left(platform, chat_id, now), max(0.0, paused_until - now))
            if priority == BULK:
                wait = max(wait, self._pause_left(platform, None, now))
            if chat is not None:
                wait = max(wait, chat.allowed_at(now) - now)
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def _take_global(self, platform: str, reserve: float, priority: int) -> None:
        bucket = self._global[platform]
        while True:
            now = self._clock()
            wait = bucket.wait_time(1.0 + reserve)
            if priority == BULK:
                wait = max(wait, self._pause_left(platform, None, now))
            if wait <= 0:
                bucket.charge(1.0)
                return
            await asyncio.sleep(wait)

    def _chat(self, platform: str, chat_id: str, kind: str) -> _ChatLimit | None:
        limits = self._limits.get(platform)
        interval = limits.chat_interval if limits is not None else None
        if limits is None or interval is None:
            return None
        # The chat's limits, shared by its forum topics (``chat/topic``) where a platform has them.
        key = (platform, limits.chat_key(chat_id))
        chat = self._chats.get(key)
        if chat is None:
            if len(self._chats) >= _PRUNE_AT:
                self._prune()
            pacers: list[Pacer | Window] = [Pacer(interval)] if interval > 0 else []
            per_minute = limits.group_per_minute
            if per_minute is not None and limits.is_group(chat_id, kind):
                pacers.append(Window(per_minute, 60.0))
            chat = self._chats[key] = _ChatLimit(pacers)
        return chat

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, c in self._chats.items() if c.idle(now - 60.0)]:
            del self._chats[key]
