"""The rate limiter: global, per-chat and per-group limits, pauses, priorities, shares."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.delivery.gate import OldestFirst
from bot.delivery.ratelimit import BULK, INTERACTIVE, RateLimiter
from bot.settings import Settings
from bot.store.store import Store
from channels.base import Incoming, replying
from channels.sender import ErrorTable, Sender
from channels.telegram import is_group


def limiter(**kwargs: Any) -> RateLimiter:
    """A limiter with the limits the platforms declare for these settings."""
    values: dict[str, Any] = {
        "telegram_global_rate": 1000.0,
        "telegram_chat_interval": 0.0,
        "telegram_group_per_minute": 6000,
        "slack_channel_interval": 0.0,
    }
    return RateLimiter.from_settings(Settings(**(values | kwargs)))


async def timed(*acquires: Any) -> float:
    start = time.monotonic()
    await asyncio.gather(*acquires)
    return time.monotonic() - start


async def test_global_rate_holds_across_chats() -> None:
    rl = limiter(telegram_global_rate=50.0)
    elapsed = await timed(*(rl.acquire("telegram", str(i), "private", BULK) for i in range(80)))
    # 50 saved up (less the headroom bulk leaves), then 50/s: about (80 - 45) / 50 s.
    assert 0.55 <= elapsed <= 1.5


async def test_one_message_per_interval_to_a_chat() -> None:
    rl = limiter(telegram_chat_interval=0.2)
    elapsed = await timed(*(rl.acquire("telegram", "7", "private", BULK) for _ in range(3)))
    assert 0.38 <= elapsed <= 1.0
    other = await timed(rl.acquire("telegram", "8", "private", BULK))
    assert other < 0.1


async def test_groups_get_a_per_minute_budget() -> None:
    rl = limiter(telegram_group_per_minute=120)  # bursts of 120, then none for a minute
    assert await timed(*(rl.acquire("telegram", "-5", "", BULK) for _ in range(120))) < 0.3
    late = asyncio.create_task(rl.acquire("telegram", "-5", "", BULK))
    await asyncio.sleep(0.3)
    assert not late.done()
    late.cancel()
    # A private chat (positive id) is not a group.
    assert await timed(*(rl.acquire("telegram", "5", "", BULK) for _ in range(121))) < 0.3


async def _sent_in(seconds: int, chat_id: str, priority: int) -> int:
    """How many messages the default Telegram limits let into one chat when one is offered every
    second of a clock that only moves when told to."""
    now = [1000.0]
    rl = RateLimiter.from_settings(Settings(), clock=lambda: now[0])
    sent = 0
    for second in range(seconds):
        now[0] = 1000.0 + second
        task = asyncio.create_task(rl.acquire("telegram", chat_id, "", priority))
        await asyncio.wait({task}, timeout=0.05)
        if task.done():
            sent += 1
        else:
            task.cancel()
    return sent


async def test_a_group_gets_no_more_than_twenty_messages_a_minute() -> None:
    # Telegram's limit is 20 a minute to one group: a burst of 20 goes, then nothing until the
    # first of them is a minute old (a pacer with a burst let 30 in within 30 s).
    for priority in (BULK, INTERACTIVE):
        assert await _sent_in(30, "-100123", priority) == 20
        assert await _sent_in(75, "-100123", priority) == 35
        assert await _sent_in(30, "42", priority) == 30  # a private chat: one a second


def test_group_detection() -> None:
    assert is_group("-100123")
    assert is_group("5", "supergroup")
    assert is_group("-5", "group")
    assert not is_group("5")
    assert not is_group("-1001", "channel")


async def test_slack_paces_each_channel_and_has_no_global_limit() -> None:
    rl = limiter(slack_channel_interval=0.2, telegram_global_rate=1.0)
    assert await timed(*(rl.acquire("slack", f"C{i}", "channel", BULK) for i in range(50))) < 0.2
    assert await timed(*(rl.acquire("slack", "C1", "channel", BULK) for _ in range(2))) >= 0.15


async def test_a_reply_is_not_stuck_behind_a_fanout() -> None:
    rl = limiter(telegram_global_rate=10.0)
    fanout = [
        asyncio.create_task(rl.acquire("telegram", str(i), "private", BULK)) for i in range(40)
    ]
    await asyncio.sleep(0.1)
    assert sum(t.done() for t in fanout) < 12  # the fan-out is queued behind the limit
    reply = await timed(rl.acquire("telegram", "999", "private", INTERACTIVE))
    assert reply < 0.1
    for task in fanout:
        task.cancel()
    await asyncio.gather(*fanout, return_exceptions=True)


async def test_pauses_stop_a_chat_or_the_platforms_bulk_sends() -> None:
    rl = limiter()
    rl.pause("telegram", "1", 0.3)
    assert await timed(rl.acquire("telegram", "2", "private")) < 0.1
    assert await timed(rl.acquire("telegram", "1", "private")) >= 0.28
    assert await timed(rl.acquire("telegram", "1", "private", BULK)) < 0.1  # the pause ended
    # A 429 on bulk sends pauses bulk sends only (issue 16): replies continue.
    rl.pause("telegram", None, 0.3)
    assert await timed(rl.acquire("telegram", "3", "private")) < 0.1
    assert await timed(rl.acquire("telegram", "3", "private", BULK)) >= 0.2
    assert await timed(rl.acquire("slack", "C1", "channel", BULK)) < 0.1


async def test_replies_to_a_chat_leave_in_arrival_order() -> None:
    rl = limiter(telegram_chat_interval=0.05, telegram_global_rate=5.0)
    order: list[int] = []

    async def reply(n: int, chat: str) -> None:
        await rl.acquire("telegram", chat, "private", INTERACTIVE)
        order.append(n)

    # More replies than the global bucket holds, to two chats, arriving in this order.
    tasks = []
    for n in range(12):
        tasks.append(asyncio.create_task(reply(n, "1" if n % 3 else "2")))
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert [n for n in order if n % 3] == sorted(n for n in range(12) if n % 3)
    assert [n for n in order if not n % 3] == sorted(n for n in range(12) if not n % 3)


async def test_replies_to_many_chats_get_global_tokens_oldest_first() -> None:
    # Issue 16, "oldest first overall": with the global bucket empty, replies to ten chats
    # are granted in the order they asked, whatever their chats.
    rl = limiter(telegram_global_rate=20.0)
    rl.charge("telegram", "0", "private", 25)  # the bucket is overdrawn: every reply waits
    order: list[int] = []

    async def reply(n: int) -> None:
        await rl.acquire("telegram", str(100 + (n * 7) % 10), "private", INTERACTIVE)
        order.append(n)

    tasks = []
    for n in range(10):
        tasks.append(asyncio.create_task(reply(n)))
        await asyncio.sleep(0.01 if n % 2 else 0)  # some arrive while the first waits
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert order == list(range(10))


async def test_a_chats_second_reply_goes_before_later_replies_to_other_chats() -> None:
    # Issue 16: A2 may ask for a token only once A1 has gone out, after B asked; it arrived
    # first, so it goes first.
    rl = limiter(telegram_global_rate=20.0)
    rl.charge("telegram", "0", "private", 25)  # the bucket is overdrawn: every reply waits
    order: list[str] = []
    base = time.monotonic()

    async def reply(name: str, chat: str, arrived: float) -> None:
        with replying(arrival=base + arrived):
            await rl.acquire("telegram", chat, "private", INTERACTIVE)
            order.append(name)

    tasks = []
    for name, chat, arrived in (("A1", "1", 0.0), ("A2", "1", 1.0), ("B", "2", 2.0)):
        tasks.append(asyncio.create_task(reply(name, chat, arrived)))
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert order == ["A1", "A2", "B"]


async def test_replies_in_scopes_get_tokens_in_arrival_order_across_chats() -> None:
    # Each chat's next reply is ready (its interval passed) before the next token comes, so
    # the replies leave exactly in the order their updates came, within and across chats.
    rl = limiter(telegram_global_rate=10.0, telegram_chat_interval=0.01)
    rl.charge("telegram", "0", "private", 12)
    chats = ["1", "1", "2", "1", "3", "2", "3", "1", "2", "3"]
    order: list[int] = []
    base = time.monotonic()

    async def reply(n: int) -> None:
        with replying(arrival=base + n):
            for _ in range(2 if n == 3 else 1):  # reply 3 has two parts, which stay together
                await rl.acquire("telegram", chats[n], "private", INTERACTIVE)
                order.append(n)

    tasks = [asyncio.create_task(reply(n)) for n in range(len(chats))]
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert order == [0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9]


async def test_a_cancelled_reply_does_not_hold_up_the_token_queue() -> None:
    rl = limiter(telegram_global_rate=20.0)
    rl.charge("telegram", "0", "private", 22)  # the next token comes in 0.15 s
    base = time.monotonic()
    order: list[str] = []

    async def reply(name: str, chat: str, arrived: float) -> None:
        with replying(arrival=base + arrived):
            await rl.acquire("telegram", chat, "private", INTERACTIVE)
            order.append(name)

    first = asyncio.create_task(reply("first", "1", 1.0))
    await asyncio.sleep(0)
    oldest = asyncio.create_task(reply("oldest", "2", 0.0))  # waits behind the first's wait
    later = asyncio.create_task(reply("later", "3", 2.0))
    await asyncio.sleep(0.01)
    oldest.cancel()
    await asyncio.wait_for(asyncio.gather(first, later), 10)
    assert order == ["first", "later"]
    assert oldest.cancelled()
    # The queue is free again: with tokens in the bucket, a reply goes at once.
    await asyncio.sleep(0.2)
    assert await timed(rl.acquire("telegram", "4", "private")) < 0.1


async def test_a_waiter_granted_as_it_is_cancelled_passes_the_gate_on() -> None:
    gate = OldestFirst()
    await gate.acquire(0.0)
    granted: list[str] = []

    async def wait(name: str, arrival: float) -> None:
        await gate.acquire(arrival)
        granted.append(name)
        gate.release()

    cancelled = asyncio.create_task(wait("cancelled", 1.0))
    other = asyncio.create_task(wait("other", 2.0))
    await asyncio.sleep(0)  # both wait
    gate.release()  # the lock goes to "cancelled"...
    cancelled.cancel()  # ...which is cancelled before it runs
    await asyncio.wait_for(other, 10)
    assert granted == ["other"]
    assert cancelled.cancelled()
    assert not gate.locked()


async def test_a_reply_keeps_its_chats_turn_across_its_parts() -> None:
    rl = limiter(telegram_chat_interval=0.01)
    sent: list[str] = []
    first_out = asyncio.Event()
    go_on = asyncio.Event()

    async def reply(name: str, parts: int) -> None:
        with replying():
            for n in range(parts):
                await rl.acquire("telegram", "7", "private", INTERACTIVE)
                sent.append(f"{name}{n}")
                if name == "a" and n == 0:
                    first_out.set()
                    await go_on.wait()  # a slow send of the first part

    a = asyncio.create_task(reply("a", 3))
    await asyncio.wait_for(first_out.wait(), 10)
    b = asyncio.create_task(reply("b", 2))
    with replying():  # another chat is not held up
        await asyncio.wait_for(rl.acquire("telegram", "8", "private", INTERACTIVE), 10)
    assert sent == ["a0"]  # b waits for a's turn
    go_on.set()
    await asyncio.wait_for(asyncio.gather(a, b), 10)
    assert sent == ["a0", "a1", "a2", "b0", "b1"]


async def test_a_cancelled_reply_gives_up_its_chats_turn() -> None:
    rl = limiter(telegram_chat_interval=0.0)
    holding = asyncio.Event()

    async def slow_reply() -> None:
        with replying():
            await rl.acquire("telegram", "7", "private", INTERACTIVE)
            holding.set()
            await asyncio.sleep(3600)  # its send hangs

    slow = asyncio.create_task(slow_reply())
    await asyncio.wait_for(holding.wait(), 10)

    async def next_reply() -> None:
        with replying():
            await rl.acquire("telegram", "7", "private", INTERACTIVE)

    waiting = asyncio.create_task(next_reply())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the turn is the slow reply's
    slow.cancel()
    await asyncio.wait_for(waiting, 10)  # and ends with it
    assert rl._turns == {}  # no lock is kept for a chat nobody is replying to


async def test_a_platform_pause_does_not_hold_replies_behind_a_fanout() -> None:
    rl = limiter(telegram_global_rate=20.0)
    rl.pause("telegram", None, 5.0)  # a 429 on the fan-out
    fanout = [
        asyncio.create_task(rl.acquire("telegram", str(i), "private", BULK)) for i in range(50)
    ]
    await asyncio.sleep(0.05)
    # The reply goes out at once; the fan-out still waits out the pause.
    assert await timed(rl.acquire("telegram", "9999", "private", INTERACTIVE)) < 0.2
    assert not any(task.done() for task in fanout)
    for task in fanout:
        task.cancel()
    await asyncio.gather(*fanout, return_exceptions=True)


async def test_share_divides_the_global_rate_among_workers() -> None:
    rl = limiter(telegram_global_rate=60.0)
    rl.set_share(3)
    assert rl.global_rate("telegram") == 20.0
    elapsed = await timed(*(rl.acquire("telegram", str(i), "private", BULK) for i in range(40)))
    assert elapsed >= 0.9  # 20 saved up at most, then 20/s
    rl.set_share(1)
    assert rl.global_rate("telegram") == 60.0


async def test_extra_parts_are_charged() -> None:
    rl = limiter(telegram_global_rate=10.0)
    rl.charge("telegram", "1", "private", 12)  # a long message went out in 12 parts
    assert await timed(rl.acquire("telegram", "2", "private")) >= 0.2


async def test_replies_through_a_sender_take_a_turn_with_the_limiter(tmp_path: Any) -> None:
    """A command's reply leaves through its channel's Sender, which takes the turn of each of
    its messages, the first included (no middleware paces replies any more)."""
    rl = limiter(telegram_chat_interval=0.3)
    store = Store.open(f"sqlite:///{tmp_path / 'pace.db'}")
    dispatcher = Dispatcher(Services(store=store))
    sender = Sender("telegram", ErrorTable("telegram", ()), pace=rl.reply_turn)
    posted: list[float] = []

    async def post(n: int, part: str) -> str:
        posted.append(time.monotonic())
        return str(len(posted))

    ping = Incoming("telegram", "42", "42", "/help")
    assert await dispatcher.on_command(Incoming("telegram", "-1", "5", "hello", "group")) is None
    for _ in range(2):
        reply = await dispatcher.on_command(ping)
        assert reply is not None
        assert "/model" in reply.plain()
        with replying():
            await sender.reply("42", "private", [reply.plain()], post)
    store.close()
    assert posted[1] - posted[0] >= 0.28  # the second reply waited for the chat's interval


async def test_paid_broadcasts_raise_the_outbox_rate_but_not_the_replies() -> None:
    rl = limiter(telegram_global_rate=20.0, telegram_paid_broadcast=True, telegram_paid_rate=1000.0)
    bulk = await timed(*(rl.acquire("telegram", str(i), "private", BULK) for i in range(300)))
    assert bulk < 0.6  # 300 at the free 20 a second would take 14 s

    async def reply(chat: int) -> None:
        with replying():
            await rl.reply_turn("telegram", f"r{chat}", "private")

    # Replies keep the free rate: 20 saved up, then 20 a second.
    replies = await timed(*(reply(i) for i in range(30)))
    assert 0.4 <= replies <= 1.5
