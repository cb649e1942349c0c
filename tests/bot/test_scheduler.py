"""Scheduled digests: runs with a fixed clock, restarts, misfires, DST and re-uploads.

``make_digest_due`` (through :func:`due`) is called with fixed datetimes; a real AsyncIOScheduler runs briefly to prove
the wiring (jobs persisted in the database, a job due in about a second, missed runs on start-up).
The outbox worker is not here yet: a row is "sent" by inserting its items into ``deliveries``, as
the worker will.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select, text, update

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.scheduling.scheduler import Scheduler, SubscriptionChanges
from bot.scheduling.weekly import DAYS, Schedule
from bot.store.digests import dedup_key, make_digest_due
from bot.store.models import DeliveryRow, ItemRow, OutboxRow
from bot.store.store import Store
from bot.store.subscriptions import deactivate, save_subscription
from channels.base import Incoming
from digests import parse_report
from digests.message import message_from_json
from tests.bot.test_subscriptions import ingest_samples
from tests.conftest import SAMPLES

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Tuesday 3 March 2026, 08:30 in Shanghai.
TUE = datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
CHAT = "-100"


def due(store: Store, sub: int, scheduled_for: datetime, now: datetime, **kw: Any) -> int | None:
    """Make a subscription's run due at ``scheduled_for`` as the scheduler's job does."""
    with store.engine.begin() as conn:
        return make_digest_due(conn, sub, scheduled_for, now, **kw)


def unsubscribe(store: Store, theme: str, chat: str = CHAT) -> None:
    with store.engine.begin() as conn:
        deactivate(conn, "telegram", chat, theme, "test")


def subscribe(
    store: Store,
    theme: str,
    day: str = "tue",
    at: str = "08:30",
    tz: str = "Asia/Shanghai",
    size: int = 5,
    chat: str = CHAT,
    created: datetime = NOW,
) -> int:
    with store.engine.begin() as conn:
        sub, _ = save_subscription(
            conn,
            platform="telegram",
            chat_id=chat,
            chat_kind="supergroup",
            theme=theme,
            schedule=Schedule(day, at, tz),
            size=size,
            created_by="test",
            now=created,
        )
    return sub.id


def outbox(store: Store) -> list[OutboxRow]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(OutboxRow).order_by(OutboxRow.id)))  # type: ignore[arg-type]


def titles(store: Store, item_ids: list[int]) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(ItemRow.id, ItemRow.title).where(ItemRow.id.in_(item_ids)))
        by_id = {row.id: row.title for row in rows}
    return [by_id[i] for i in item_ids]


def mark_sent(store: Store, outbox_id: int) -> None:
    """What the outbox worker does once the platform accepted every part."""
    with store.engine.begin() as conn:
        row = conn.execute(
            select(OutboxRow.platform, OutboxRow.chat_id, OutboxRow.item_ids).where(
                OutboxRow.id == outbox_id
            )
        ).one()
        conn.execute(
            update(OutboxRow).where(OutboxRow.id == outbox_id).values(status="sent", sent_at=NOW)
        )
        if row.item_ids:
            conn.execute(
                insert(DeliveryRow),
                [
                    {
                        "platform": row.platform,
                        "chat_id": row.chat_id,
                        "item_id": i,
                        "outbox_id": outbox_id,
                        "delivered_at": NOW,
                    }
                    for i in row.item_ids
                ],
            )


@pytest.fixture
def samples(store: Store) -> Store:
    ingest_samples(store)
    return store


# -- runs with a fixed clock ----------------------------------------------------------------------


def test_weekly_runs_send_each_item_once(samples: Store) -> None:
    store = samples
    sub = subscribe(store, "clay")
    first = due(store, sub, TUE, TUE + timedelta(seconds=2))
    assert first is not None
    # The same run again (a misfire after a restart, a second scheduler): no second row.
    assert due(store, sub, TUE, TUE + timedelta(minutes=5)) is None
    assert due(store, sub, TUE + timedelta(seconds=30), TUE + timedelta(minutes=5)) is None
    [row] = outbox(store)
    assert row.dedup_key == f"digest:{sub}:2026-03-03T00:30Z" == dedup_key(sub, TUE)
    assert (
        row.platform,
        row.chat_id,
        row.chat_kind,
        row.subscription_id,
        row.purpose,
        row.status,
    ) == ("telegram", CHAT, "supergroup", sub, "digest", "pending")
    assert titles(store, row.item_ids) == [
        "GLM-4.7",
        "Mistral Large 3",
        "Nemotron 3 Nano",
        "Olmo 3",
        "Kimi-K2-Thinking",
    ]
    message = message_from_json(row.message)
    assert message.plain().splitlines()[0] == "基座模型追踪 (The Clay) · week of 3 Mar 2026"
    mark_sent(store, first)

    second = due(store, sub, TUE + timedelta(days=7), TUE + timedelta(days=7))
    assert second is not None
    assert titles(store, outbox(store)[1].item_ids) == [
        "GLM-4.6",
        "Qwen3-Next-80B-A3B",
        "gpt-oss-120b",
        "DeepSeek-V3.2-Exp",
    ]
    # Not sent yet, but queued: the next run must not repeat it, and finds nothing new.
    assert due(store, sub, TUE + timedelta(days=14), TUE + timedelta(days=14)) is None
    assert len(outbox(store)) == 2
    # Unless the setting asks for a "nothing new" note.
    note = due(store, sub, TUE + timedelta(days=21), TUE + timedelta(days=21), post_empty=True)
    assert note is not None
    row = outbox(store)[-1]
    assert row.item_ids == []
    assert "Nothing new this week" in message_from_json(row.message).plain()


def test_late_inactive_and_naive_runs(samples: Store) -> None:
    store = samples
    sub = subscribe(store, "hands")
    grace = timedelta(hours=12)
    assert due(store, sub, TUE, TUE + timedelta(hours=13), grace=grace) is None
    assert outbox(store) == []
    assert due(store, sub, TUE, TUE + timedelta(hours=11), grace=grace) is not None
    unsubscribe(store, "hands")
    assert due(store, sub, TUE + timedelta(days=7), TUE + timedelta(days=7)) is None
    assert due(store, 9999, TUE, TUE) is None
    with pytest.raises(ValueError, match="aware"):
        due(store, sub, TUE.replace(tzinfo=None), TUE)
    assert len(outbox(store)) == 1


def test_a_reuploaded_month_does_not_resend_unchanged_items(samples: Store) -> None:
    store = samples
    sub = subscribe(store, "chisel", size=20)
    first = due(store, sub, TUE, TUE)
    assert first is not None
    sent = titles(store, outbox(store)[0].item_ids)
    assert "MiniLLM: Knowledge Distillation of Large Language Models" in sent
    mark_sent(store, first)
    # A corrected February: one paper's text fixed, one paper replaced by another (another name
    # and arXiv id: a new item to its readers).
    original = (SAMPLES / "2026-02.md").read_text(encoding="utf-8")
    edited = original.replace("离线 SFT 只学教师会走的路", "离线 SFT 只学教师走过的路", 1).replace(
        "[MiniLLM: Knowledge Distillation of Large Language Models](https://arxiv.org/abs/2306.08543)",
        "[MiniLLM v2: Knowledge Distillation of Large Language Models](https://arxiv.org/abs/2606.08543)",
        1,
    )
    assert edited.count("MiniLLM v2") == 1
    result = store.ingest(parse_report(edited, "2026-02.md"), edited, uploaded_by="test")
    assert result.status == "updated"
    assert [i.title for i in result.added] == [
        "MiniLLM v2: Knowledge Distillation of Large Language Models"
    ]
    assert "On-Policy Distillation" in [i.title for i in result.changed]
    second = due(store, sub, TUE + timedelta(days=7), TUE + timedelta(days=7))
    assert second is not None
    assert titles(store, outbox(store)[1].item_ids) == [
        "MiniLLM v2: Knowledge Distillation of Large Language Models"
    ]


# -- daylight saving ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "at", "start"),
    [
        (
            "Europe/Berlin",
            "sun",
            "02:30",
            datetime(2026, 3, 10, tzinfo=UTC),
        ),  # 02:30 does not exist
        ("Europe/Berlin", "sun", "02:30", datetime(2026, 10, 5, tzinfo=UTC)),  # 02:30 happens twice
        ("America/New_York", "sun", "01:30", datetime(2026, 10, 20, tzinfo=UTC)),
        ("America/New_York", "mon", "09:00", datetime(2026, 2, 25, tzinfo=UTC)),
        ("Australia/Sydney", "sun", "02:30", datetime(2026, 3, 25, tzinfo=UTC)),
    ],
)
def test_dst_neither_skips_nor_doubles_a_week(
    zone: str, day: str, at: str, start: datetime
) -> None:
    trigger = Schedule(day, at, zone).trigger()
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, start)
    while fire is not None and len(fires) < 6:
        fires.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    local_days = [f.astimezone(ZoneInfo(zone)).date() for f in fires]
    assert [(b - a).days for a, b in itertools.pairwise(local_days)] == [7] * 5
    assert all(DAYS[d.weekday()] == day for d in local_days)
    # Every week at the wall-clock time, except where the clock skips it (then an hour later).
    hours = {f.astimezone(ZoneInfo(zone)).strftime("%H:%M") for f in fires}
    assert hours <= {at, f"{int(at[:2]) + 1:02d}{at[2:]}"}
    gaps = [b - a for a, b in itertools.pairwise(fires)]
    assert all(
        timedelta(days=7) - timedelta(hours=1) <= g <= timedelta(days=7, hours=1) for g in gaps
    )


def test_dst_weekly_digests_over_the_autumn_change(samples: Store) -> None:
    store = samples
    sub = subscribe(store, "clay", day="sun", at="02:30", tz="Europe/Berlin", size=1)
    schedule = Schedule("sun", "02:30", "Europe/Berlin")
    trigger = schedule.trigger()
    fire = trigger.get_next_fire_time(None, datetime(2026, 10, 10, tzinfo=UTC))
    assert fire is not None
    for _ in range(4):
        outbox_id = due(store, sub, fire, fire + timedelta(seconds=1))
        assert outbox_id is not None
        mark_sent(store, outbox_id)
        # A job firing late in the repeated hour is still the same run: no second digest.
        late = fire + timedelta(hours=1)
        assert schedule.last_run(late) == fire
        assert due(store, sub, schedule.last_run(late), late) is None
        fire = trigger.get_next_fire_time(fire, fire)
        assert fire is not None
    rows = outbox(store)
    assert [str(r.dedup_key).split(":", 2)[2] for r in rows] == [
        "2026-10-11T00:30Z",
        "2026-10-18T00:30Z",
        "2026-10-25T00:30Z",
        "2026-11-01T01:30Z",
    ]
    assert len({i for r in rows for i in r.item_ids}) == 4


# -- a real scheduler -----------------------------------------------------------------------------


def job_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar_one()


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_restarts_neither_lose_nor_duplicate_jobs(samples: Store) -> None:
    store = samples
    changes = SubscriptionChanges()
    services = Services(store=store, clock=lambda: NOW, subscriptions_changed=changes)
    clay = subscribe(store, "clay")
    hands = subscribe(store, "hands", day="fri", at="18:00", tz="Europe/Berlin")
    gone = subscribe(store, "chisel")
    unsubscribe(store, "chisel")

    first = Scheduler(store, changes=changes)
    await first.start(paused=True)
    try:
        assert {j.id for j in first.jobs()} == {f"sub:{clay}", f"sub:{hands}"}
        job = first.job(clay)
        assert job is not None
        assert job.next_run_time == Schedule("tue", "08:30", "Asia/Shanghai").next_run(
            datetime.now(UTC)
        )
        assert job.misfire_grace_time == 12 * 3600
        assert (job.coalesce, job.max_instances) == (True, 1)
        # Whatever run time the store holds (e.g. a run still due) must survive restarts.
        kept = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        job.modify(next_run_time=kept)
        # Commands resync the jobs at once through the changes callback they share.
        core = Dispatcher(services)
        reply = await core.on_command(
            Incoming("telegram", "7", "7", "/subscribe highlights sat 10:00", chat_kind="private")
        )
        assert reply is not None
        assert "Subscribed" in reply.plain()
        assert len(first.jobs()) == 3
        await core.on_command(
            Incoming("telegram", "7", "7", "/unsubscribe all", chat_kind="private")
        )
        assert len(first.jobs()) == 2
    finally:
        await first.stop()
    # A stopped scheduler no longer listens: commands still work and leave the job store alone.
    assert not changes.listening
    await core.on_command(
        Incoming("telegram", "7", "7", "/subscribe highlights", chat_kind="private")
    )
    assert job_count(store) == 2
    await core.on_command(Incoming("telegram", "7", "7", "/unsubscribe all", chat_kind="private"))

    for _ in range(2):
        again = Scheduler(store)
        await again.start(paused=True)
        try:
            assert {j.id for j in again.jobs()} == {f"sub:{clay}", f"sub:{hands}"}
            job = again.job(clay)
            assert job is not None
            assert job.next_run_time == kept  # left alone: a pending run is not pushed back
        finally:
            await again.stop()
    assert job_count(store) == 2

    # While no scheduler ran: one subscription moved, one stopped, one came back.
    subscribe(store, "clay", day="wed", at="07:00")
    unsubscribe(store, "hands")
    subscribe(store, "chisel", day="mon", at="09:00", tz="UTC")
    last = Scheduler(store)
    await last.start(paused=True)
    try:
        assert {j.id for j in last.jobs()} == {f"sub:{clay}", f"sub:{gone}"}
        job = last.job(clay)
        assert job is not None
        assert job.next_run_time is not None
        local = job.next_run_time.astimezone(ZoneInfo("Asia/Shanghai"))
        assert (local.strftime("%a %H:%M")) == "Wed 07:00"
    finally:
        await last.stop()
    assert job_count(store) == 2


def _minute(now: datetime, minutes_ago: int) -> tuple[str, str, datetime]:
    """A weekly (day, time) in UTC whose latest run was ``minutes_ago`` minutes before ``now``."""
    at = (now - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
    return DAYS[at.weekday()], at.strftime("%H:%M"), at


def moved_on(scheduler: Scheduler, sub: int) -> bool:
    """The subscription's job fired (or was skipped): its next run is in the future again."""
    job = scheduler.job(sub)
    return (
        job is not None and job.next_run_time is not None and job.next_run_time > datetime.now(UTC)
    )


class Clock:
    """The real clock, counting how often a job run asked it (once per run).

    Job runs ask on the scheduler's digest threads; the start-up catch-up asks elsewhere and is
    not counted.
    """

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> datetime:
        if threading.current_thread().name.startswith("digests"):
            self.calls += 1
        return datetime.now(UTC)


async def test_a_job_due_in_half_a_second_queues_the_digest(samples: Store) -> None:
    store = samples
    day, at, scheduled = _minute(datetime.now(UTC), 0)
    # Subscribed just now, after this minute's run time: only the job itself makes this run.
    sub = subscribe(store, "clay", day=day, at=at, tz="UTC", created=datetime.now(UTC))
    queued: list[int] = []
    scheduler = Scheduler(store, on_enqueued=queued.append)
    await scheduler.start()
    try:
        job = scheduler.job(sub)
        assert job is not None
        job.modify(next_run_time=datetime.now(UTC) + timedelta(seconds=0.5))
        await eventually(lambda: bool(outbox(store)))
        [row] = outbox(store)
        assert row.dedup_key == dedup_key(sub, scheduled)
        assert len(row.item_ids) == 5
        assert queued == [row.id]
        job = scheduler.job(sub)
        assert job is not None
        assert job.next_run_time is not None
        assert job.next_run_time > datetime.now(UTC) + timedelta(days=6)
    finally:
        await scheduler.stop()


async def test_more_due_jobs_than_one_batch_all_run_once(
    samples: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Due jobs are loaded a batch at a time; the passes after the first follow at once."""
    import bot.store.jobs

    monkeypatch.setattr(bot.store.jobs, "DUE_BATCH", 3)
    store = samples
    day, at, _ = _minute(datetime.now(UTC), 0)
    subs = [
        subscribe(store, "clay", day=day, at=at, tz="UTC", chat=f"-{n}", created=datetime.now(UTC))
        for n in range(1, 11)
    ]
    scheduler = Scheduler(store)
    await scheduler.start()
    try:
        soon = datetime.now(UTC) + timedelta(seconds=0.5)
        for sub in subs:
            job = scheduler.job(sub)
            assert job is not None
            job.modify(next_run_time=soon)
        await eventually(lambda: len(outbox(store)) >= len(subs), within=20)
        await eventually(lambda: all(moved_on(scheduler, sub) for sub in subs), within=20)
        rows = outbox(store)
        assert sorted(row.subscription_id for row in rows) == sorted(subs)  # each once
    finally:
        await scheduler.stop()


async def _miss_a_run(store: Store, sub: int, at: datetime) -> None:
    """Leave the job as a scheduler that went down before ``at`` left it."""
    down = Scheduler(store)
    await down.start(paused=True)
    try:
        job = down.job(sub)
        assert job is not None
        job.modify(next_run_time=at)
    finally:
        await down.stop()


async def test_a_missed_run_is_made_once_on_start_up(samples: Store) -> None:
    store = samples
    day, at, missed = _minute(datetime.now(UTC), 30)
    sub = subscribe(store, "hands", day=day, at=at, tz="UTC")
    await _miss_a_run(store, sub, missed)
    clock = Clock()
    back = Scheduler(store, clock=clock)
    await back.start()
    try:
        await eventually(lambda: bool(outbox(store)))
    finally:
        await back.stop()
    [row] = outbox(store)
    assert row.dedup_key == dedup_key(sub, missed)
    assert clock.calls == 1

    # Up again: the job store knows the run was made, so nothing runs.
    clock = Clock()
    again = Scheduler(store, clock=clock)
    await again.start()
    await asyncio.sleep(0.3)
    await again.stop()
    assert clock.calls == 0

    # A crash after the digest was recorded but before the job store moved on: it runs again,
    # and the dedup key keeps it to one row.
    await _miss_a_run(store, sub, missed)
    clock = Clock()
    crashed = Scheduler(store, clock=clock)
    await crashed.start()
    try:
        await eventually(lambda: clock.calls == 1)
    finally:
        await crashed.stop()
    assert len(outbox(store)) == 1


async def test_a_leader_that_died_mid_job_loses_no_digest(samples: Store) -> None:
    store = samples
    day, at, missed = _minute(datetime.now(UTC), 30)
    sub = subscribe(store, "hands", day=day, at=at, tz="UTC")
    # The dead leader's APScheduler had already moved the job to next week; no digest exists.
    down = Scheduler(store)
    await down.start(paused=True)
    try:
        job = down.job(sub)
        assert job is not None
        job.modify(next_run_time=missed + timedelta(days=7))
    finally:
        await down.stop()
    assert outbox(store) == []
    queued: list[int] = []
    back = Scheduler(store, on_enqueued=queued.append)
    await back.start()
    await back.stop()
    [row] = outbox(store)
    assert row.dedup_key == dedup_key(sub, missed)
    assert queued == [row.id]
    # Another start (another leader) finds it made.
    again = Scheduler(store)
    await again.start()
    await again.stop()
    assert len(outbox(store)) == 1


async def test_a_run_missed_beyond_the_grace_time_is_not_made(samples: Store) -> None:
    store = samples
    day, at, missed = _minute(datetime.now(UTC), 30)
    sub = subscribe(store, "hands", day=day, at=at, tz="UTC")
    await _miss_a_run(store, sub, missed)
    clock = Clock()
    back = Scheduler(store, clock=clock, misfire_grace=timedelta(minutes=10))
    await back.start()
    try:
        await eventually(lambda: moved_on(back, sub))
        await asyncio.sleep(0.2)
    finally:
        await back.stop()
    assert clock.calls == 0
    assert outbox(store) == []


async def test_one_scheduler_per_database(sqlite_url: str) -> None:
    # Not about the database: SQLite only.
    store = Store.open(sqlite_url)
    try:
        ingest_samples(store)
        await _only_one_and_only_the_leader(store)
    finally:
        store.close()


async def _only_one_and_only_the_leader(store: Store) -> None:
    first = Scheduler(store)
    await first.start(paused=True)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            await Scheduler(store).start(paused=True)
    finally:
        await first.stop()
    # A scheduler that is not the leader makes nothing even when its job fires.
    day, at, _ = _minute(datetime.now(UTC), 0)
    sub = subscribe(store, "clay", day=day, at=at, tz="UTC")
    clock = Clock()
    follower = Scheduler(store, is_leader=lambda: False, clock=clock)
    await follower.start()
    try:
        job = follower.job(sub)
        assert job is not None
        job.modify(next_run_time=datetime.now(UTC))

        await eventually(lambda: moved_on(follower, sub))
        await asyncio.sleep(0.2)
    finally:
        await follower.stop()
    assert outbox(store) == []
    assert clock.calls == 0


async def test_a_subscription_made_elsewhere_gets_a_run_that_passed_before_the_resync(
    samples: Store,
) -> None:
    store = samples
    queued: list[int] = []
    scheduler = Scheduler(store, on_enqueued=queued.append, resync_seconds=0.2)
    await scheduler.start()
    try:
        # Made on another gateway two minutes ago, due a minute ago; this leader had not seen it.
        now = datetime.now(UTC)
        day, at, due = _minute(now, 1)
        sub = subscribe(store, "clay", day=day, at=at, tz="UTC", created=now - timedelta(minutes=2))
        await eventually(lambda: bool(outbox(store)))
        [row] = outbox(store)
        assert row.dedup_key == dedup_key(sub, due)
        assert queued == [row.id]
        await asyncio.sleep(0.5)  # later resyncs make nothing more
        assert len(outbox(store)) == 1
    finally:
        await scheduler.stop()
