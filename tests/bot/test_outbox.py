"""The outbox worker against an in-test fake of the platform edge, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.commands.status import status_gauges
from bot.delivery.worker import DEAD, NOTICE, SENT, OutboxWorker, claim, enqueue
from bot.settings import Settings
from bot.store.db import make_engine
from bot.store.models import ChatRow, DeliveryRow, ItemRow, OutboxRow, SubscriptionRow
from bot.store.status import OutboxStatus, outbox_status
from bot.store.store import Store
from channels.base import (
    ChatGone,
    ChatMoved,
    EveryPart,
    RetryLater,
    SendError,
    TransientSendError,
)
from digests import parse_report
from digests.message import Message
from tests.conftest import SAMPLES

ADMIN = "900"


class FakeChannel:
    """The platform edge: records sends, answers ``parts`` ids, raises what ``plan`` says."""

    def __init__(self, name: str = "telegram", parts: int = 1) -> None:
        self.name = name
        self.parts = parts
        self.calls: list[tuple[str, int, float]] = []
        self.plan: dict[str, list[BaseException]] = {}
        self.fail_always: dict[str, Callable[[], BaseException]] = {}
        self.delivered: Counter[str] = Counter()
        self._ids = 0

    def fail(self, chat_id: str, *errors: BaseException) -> None:
        self.plan.setdefault(chat_id, []).extend(errors)

    async def send(
        self,
        chat_id: str,
        message: Message,
        skip: int = 0,
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> list[str]:
        if isinstance(pace, EveryPart):  # as a channel's sender: the first part's turn too
            await pace()
        self.calls.append((chat_id, skip, time.monotonic()))
        await asyncio.sleep(0)
        if chat_id in self.fail_always:
            raise self.fail_always[chat_id]()
        if self.plan.get(chat_id):
            raise self.plan[chat_id].pop(0)
        self.delivered[chat_id] += 1
        ids = []
        for _ in range(skip, self.parts):
            if ids and pace is not None:
                await pace()
            self._ids += 1
            ids.append(str(self._ids))
        return ids

    def chats(self) -> list[str]:
        return [c for c, _, _ in self.calls]


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_chat_interval": 0,
        "slack_channel_interval": 0,
        "telegram_global_rate": 1000,
        "admins": f"telegram:{ADMIN}",
        "send_max_attempts": 3,
        "console": False,
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def running(
    engine: Engine, channel: FakeChannel, **kwargs: Any
) -> AsyncIterator[OutboxWorker]:
    kwargs = {"poll_seconds": 0.02, "backoff_base": 0.05, **kwargs}
    worker = OutboxWorker(engine, [channel], kwargs.pop("settings", settings()), **kwargs)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def add(
    store: Store,
    chat_id: str,
    *,
    items: list[int] | None = None,
    kind: str = "private",
    platform: str = "telegram",
    key: str | None = None,
) -> int:
    with store.engine.begin() as conn:
        row_id = enqueue(
            conn,
            platform=platform,
            chat_id=chat_id,
            message=Message.text("digest"),
            item_ids=items or [],
            chat_kind=kind,
            dedup_key=key,
        )
    assert row_id is not None
    return row_id


def rows(store: Store) -> dict[int, OutboxRow]:
    with store.engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(OutboxRow))}  # type: ignore[misc]


def subscribe(store: Store, chat_id: str, theme: str = "models") -> None:
    from datetime import UTC, datetime

    with store.engine.begin() as conn:
        conn.execute(
            SubscriptionRow.__table__.insert().values(
                platform="telegram",
                chat_id=chat_id,
                theme=theme,
                day="mon",
                at_time="09:00",
                timezone="UTC",
                size=5,
                active=True,
                created_by="1",
                created_at=datetime.now(UTC),
            )
        )


@pytest.fixture
def item_ids(store: Store) -> list[int]:
    sample = sorted(SAMPLES.glob("*.md"))[-1]
    text = sample.read_text(encoding="utf-8")
    store.ingest(parse_report(text, sample.name), text, uploaded_by="test")
    with store.engine.connect() as conn:
        return list(conn.execute(select(ItemRow.id).order_by(ItemRow.id).limit(3)).scalars())


# -- the happy path -----------------------------------------------------------------------------


async def test_sends_every_part_and_records_deliveries(store: Store, item_ids: list[int]) -> None:
    channel = FakeChannel(parts=2)
    first = add(store, "11", items=item_ids)
    second = add(store, "12")
    async with running(store.engine, channel) as worker:
        await worker.drain()
    assert sorted(channel.chats()) == ["11", "12"]
    done = rows(store)
    assert {r.status for r in done.values()} == {SENT}
    assert len(done[first].message_ids) == 2
    assert done[first].sent_at is not None
    with store.engine.connect() as conn:
        delivered = conn.execute(
            select(DeliveryRow.chat_id, DeliveryRow.item_id, DeliveryRow.outbox_id)
        ).all()
    assert sorted(delivered) == sorted(("11", i, first) for i in item_ids)
    assert second in done


# -- failures -----------------------------------------------------------------------------------


async def test_retry_after_is_honoured_without_counting_an_attempt(store: Store) -> None:
    channel = FakeChannel()
    channel.fail("21", RetryLater(0.4))
    row_id = add(store, "21")
    async with running(store.engine, channel):
        await until(lambda: rows(store)[row_id].status == SENT)
    (_, _, t1), (_, _, t2) = channel.calls
    assert t2 - t1 >= 0.4
    assert rows(store)[row_id].attempts == 0


async def test_telegram_flood_pauses_every_chat(store: Store) -> None:
    channel = FakeChannel()
    channel.fail("31", RetryLater(0.5))
    add(store, "31")
    async with running(store.engine, channel, max_in_flight=1) as worker:
        await until(lambda: len(channel.calls) == 1)
        add(store, "32")
        worker.wake()
        await until(lambda: len(channel.calls) == 3)
    started = channel.calls[0][2]
    assert all(t - started >= 0.45 for _, _, t in channel.calls[1:])


async def test_transient_errors_back_off_then_succeed(store: Store) -> None:
    channel = FakeChannel()
    channel.fail("41", TransientSendError("502 Bad Gateway"), TimeoutError())
    row_id = add(store, "41")
    async with running(store.engine, channel):
        await until(lambda: rows(store)[row_id].status == SENT)
    row = rows(store)[row_id]
    # The 502 is an attempt; the timeout came after the request left: "maybe delivered",
    # counted apart (issue 16), with its own backoff.
    assert (row.attempts, row.maybe_count) == (1, 1)
    assert len(channel.calls) == 3
    gaps = [b[2] - a[2] for a, b in zip(channel.calls, channel.calls[1:], strict=False)]
    assert gaps[0] >= 0.05 * 0.5
    assert gaps[1] >= 0.05 * 0.5


async def test_transient_forever_dead_letters_and_tells_the_admins(store: Store) -> None:
    channel = FakeChannel()
    channel.fail_always["51"] = lambda: TransientSendError("500 Internal Server Error")
    row_id = add(store, "51")
    async with running(store.engine, channel):
        await until(lambda: channel.delivered[ADMIN] == 1)
    all_rows = rows(store)
    dead = all_rows[row_id]
    assert dead.status == DEAD
    assert dead.attempts == 3
    assert dead.dead_at is not None
    assert "500" in (dead.last_error or "")
    notice = next(r for r in all_rows.values() if r.purpose == NOTICE)
    assert notice.chat_id == ADMIN
    assert notice.status == SENT
    assert "51" in str(notice.message)
    assert "3 attempts" in str(notice.message)
    assert channel.chats().count("51") == 3


async def test_refused_message_is_dead_lettered_at_once(store: Store) -> None:
    channel = FakeChannel()
    channel.fail("52", SendError("Bad Request: can't parse entities"))
    row_id = add(store, "52")
    async with running(store.engine, channel):
        await until(lambda: channel.delivered[ADMIN] == 1)
    assert rows(store)[row_id].status == DEAD
    assert channel.chats().count("52") == 1


async def test_gone_chat_deactivates_subscriptions_and_tells_the_admins(store: Store) -> None:
    channel = FakeChannel()
    subscribe(store, "-61", "models")
    subscribe(store, "-61", "papers")
    subscribe(store, "62", "models")
    channel.fail_always["-61"] = lambda: ChatGone("Forbidden: bot was kicked from the group chat")
    gone = [add(store, "-61", kind="group"), add(store, "-61", kind="group")]
    kept = add(store, "62")
    async with running(store.engine, channel):
        await until(lambda: channel.delivered[ADMIN] == 1)
    all_rows = rows(store)
    assert [all_rows[i].status for i in gone] == [DEAD, DEAD]
    assert all_rows[kept].status == SENT
    assert channel.chats().count("-61") == 1  # the second row is dropped, not tried
    with store.engine.connect() as conn:
        subs = {(s.chat_id, s.theme): s for s in conn.execute(select(SubscriptionRow))}
        chat = conn.execute(select(ChatRow).where(ChatRow.chat_id == "-61")).one()
    assert not subs[("-61", "models")].active
    assert not subs[("-61", "papers")].active
    assert "kicked" in (subs[("-61", "models")].deactivated_reason or "")
    assert subs[("62", "models")].active
    assert not chat.active
    assert "kicked" in (chat.gone_reason or "")
    notices = [r for r in all_rows.values() if r.purpose == NOTICE]
    assert len(notices) == 1
    assert "2 subscription(s) deactivated" in str(notices[0].message)
    figures = _status(store)
    assert (figures.dead, figures.failed_24h, figures.deactivated_chats) == (2, 2, 1)
    assert figures.deactivated_subscriptions == 2


async def test_migrated_group_is_followed(store: Store, item_ids: list[int]) -> None:
    channel = FakeChannel()
    subscribe(store, "-71")
    channel.fail_always["-71"] = lambda: ChatMoved("-10071")
    first = add(store, "-71", items=item_ids[:1], kind="group")
    second = add(store, "-71", items=item_ids[1:], kind="group")
    async with running(store.engine, channel):
        await until(lambda: {r.status for r in rows(store).values()} == {SENT})
    all_rows = rows(store)
    assert all_rows[first].chat_id == all_rows[second].chat_id == "-10071"
    assert channel.delivered == Counter({"-10071": 2})
    with store.engine.connect() as conn:
        sub = conn.execute(select(SubscriptionRow)).one()
        old = conn.execute(select(ChatRow).where(ChatRow.chat_id == "-71")).one()
        delivered = set(conn.execute(select(DeliveryRow.chat_id)).scalars())
    assert sub.chat_id == "-10071"
    assert sub.active
    assert old.moved_to == "-10071"
    assert delivered == {"-10071"}


async def test_partial_send_resends_only_the_remaining_parts(store: Store) -> None:
    channel = FakeChannel(parts=3)
    partial = TransientSendError("timed out")
    partial.sent_ids = ("p1",)
    channel.fail("81", partial)
    row_id = add(store, "81")
    async with running(store.engine, channel):
        await until(lambda: rows(store)[row_id].status == SENT)
    assert [skip for _, skip, _ in channel.calls] == [0, 1]
    ids = rows(store)[row_id].message_ids
    assert len(ids) == 3
    assert ids[0] == "p1"


# -- claims, leases, several workers ------------------------------------------------------------


async def test_lease_expiry_reclaims_the_rows_of_a_dead_worker(store: Store) -> None:
    row_ids = [add(store, str(100 + i)) for i in range(3)]
    with store.engine.begin() as conn:
        taken = claim(conn, "dead-worker", ["telegram"], 10, timedelta(seconds=0.6))
    assert [r.id for r in taken] == row_ids
    channel = FakeChannel()
    async with running(store.engine, channel):
        await asyncio.sleep(0.3)
        assert channel.calls == []  # the lease still holds
        await until(lambda: all(r.status == SENT for r in rows(store).values()), within=5)
    assert sorted(channel.chats()) == ["100", "101", "102"]


@pytest.mark.postgres
def test_concurrent_claims_on_postgres_are_disjoint(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    for i in range(400):
        add(store, str(1000 + i))
    engines = [make_engine(postgres_url) for _ in range(4)]
    got: list[list[int]] = [[] for _ in engines]
    barrier = threading.Barrier(len(engines))

    def grab(n: int) -> None:
        barrier.wait()
        while True:
            with engines[n].begin() as conn:
                rows_ = claim(conn, f"w{n}", ["telegram"], 7, timedelta(seconds=30))
            if not rows_:
                return
            got[n].extend(r.id for r in rows_)

    threads = [threading.Thread(target=grab, args=(n,)) for n in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in got for i in ids]
    assert len(every) == len(set(every)) == 400
    assert sum(1 for ids in got if ids) >= 2
    for engine in engines:
        engine.dispose()
    store.close()


@pytest.mark.postgres
async def test_two_workers_on_postgres_never_send_a_row_twice(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    for i in range(300):
        add(store, str(2000 + i))
    channel = FakeChannel()
    engines = [make_engine(postgres_url) for _ in range(2)]
    workers = [
        OutboxWorker(e, [channel], settings(), poll_seconds=0.02, max_in_flight=20) for e in engines
    ]
    for w in workers:
        await w.start()
    await until(lambda: all(r.status == SENT for r in rows(store).values()), within=20)
    counts = {w.worker_id: 0 for w in workers}
    with store.engine.connect() as conn:
        for who in conn.execute(select(OutboxRow.claimed_by)).scalars():
            counts[str(who)] += 1
    for w in workers:
        await w.stop()
    assert len(channel.calls) == 300
    assert max(channel.delivered.values()) == 1
    assert all(n > 0 for n in counts.values()), counts
    for engine in engines:
        engine.dispose()
    store.close()


# -- /status and gauges -------------------------------------------------------------------------


async def test_status_command_and_gauges(store: Store) -> None:
    from bot.commands.dispatch import Dispatcher
    from bot.commands.services import Services
    from channels.base import Incoming

    channel = FakeChannel()
    channel.fail_always["92"] = lambda: SendError("refused")
    add(store, "91")
    add(store, "92")
    add(store, "93", platform="slack")  # no slack worker: stays pending
    async with running(store.engine, channel):
        await until(lambda: channel.delivered[ADMIN] == 1)
    core = Dispatcher(Services(store, admins=frozenset({("telegram", ADMIN)})))
    reply = await core.on_command(Incoming("telegram", ADMIN, ADMIN, "/status"))
    assert reply is not None
    text = reply.plain()
    assert "1 pending" in text
    assert "2 sent, 1 failed" in text
    assert "Dead letters: 1" in text
    denied = await core.on_command(Incoming("telegram", "5", "5", "/status"))
    assert denied is not None
    assert "admins only" in denied.plain()
    gauges = status_gauges(store.engine)()
    assert gauges["digestbot_outbox_pending"][1] == 1.0
    assert gauges["digestbot_outbox_dead"][1] == 1.0
    assert gauges["digestbot_outbox_sent_24h"][1] == 2.0


def test_status_on_an_empty_database(store: Store) -> None:
    figures = _status(store)
    assert figures.pending == figures.dead == figures.sent_24h == 0


def _status(store: Store) -> OutboxStatus:
    with store.engine.connect() as conn:
        return outbox_status(conn)
