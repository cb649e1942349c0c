"""Scale-out, end to end: three ``digestbot run`` processes on one real PostgreSQL (issue 8).

One fake Telegram Bot API server runs in this process; the gateways run in webhook mode, and the
test plays Telegram's load balancer, POSTing updates to any gateway's ``/telegram``. Subscriptions
of many chats to one theme are all due at the same minute (their run was missed: the job store
says it was due a moment ago, so the first elected scheduler makes them at once). Then:

1. While the test holds the election lock, no gateway is the leader; the test releases it and
   exactly one gateway reports ``scheduler_leader`` and makes the digests.
2. Mid-fan-out the leader is killed with SIGKILL; a survivor takes the scheduler over.
3. A moment later every database connection of the new leader is cut (``pg_terminate_backend``);
   it must recover (its webhook answers again, its outbox worker keeps sending).
4. Every chat gets its digest exactly once, apart from at most the rows the killed gateway held.
5. The same update (same ``update_id``) posted to two gateways is answered once.
6. A gap between leaders (the test holds the lock again): jobs that come due in it are made once
   by the next leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.delivery.worker import PENDING, SENT
from bot.scheduling.leader import LOCK_KEY
from bot.scheduling.scheduler import Scheduler
from bot.scheduling.weekly import DAYS, Schedule
from bot.settings import Settings
from bot.store.models import OutboxRow, OutboxWorkerRow, SubscriptionRow
from bot.store.store import Store
from bot.store.subscriptions import save_subscription
from channels.telegram import webhook_secret
from channels.telegram.adapter import SECRET_HEADER
from tests.fakes.telegram import DEFAULT_TOKEN, FakeTelegram

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
DIGESTBOT = Path(sys.executable).with_name("digestbot")
THEME = "chisel"
CHATS = 240  # fan-out chats: 100001 …
MISSED = 4  # chats whose run comes due between two leaders: 200001 …
# Telegram messages/s for the whole bot (the fake allows a tenth more: no 429s). Slow enough that
# the fan-out (12 s) is still going when the test kills the leader and later cuts the next one's
# connections, even on a loaded machine where the test's own polling lags by seconds.
RATE = 20.0
TAKEOVER = 3.0  # DIGESTBOT_LEADER_TAKEOVER_SECONDS
WEBHOOK_URL = "https://bot.example.com/telegram"
FANOUT = [str(100001 + i) for i in range(CHATS)]
GAP_CHATS = [str(200001 + i) for i in range(MISSED)]


# -- helpers ------------------------------------------------------------------------------------


async def until(check: Callable[[], Any], what: str, within: float) -> Any:
    """Poll ``check`` (plain or returning an awaitable) until it gives something truthy; fail
    naming ``what`` at the deadline."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def libpq_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class GatewayProc:
    """One ``digestbot run`` subprocess."""

    name: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]
    log: TextIO
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        text_ = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(f"  {self.name}| {line}" for line in text_[-lines:])


def spawn_gateway(name: str, env: dict[str, str], tmp: Path) -> GatewayProc:
    port = free_port()
    log_path = tmp / f"{name}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed in stop_gateways
    proc = subprocess.Popen(
        [str(DIGESTBOT), "run"],
        cwd=REPO,
        env=env | {"DIGESTBOT_HTTP_PORT": str(port)},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return GatewayProc(name, port, log_path, proc, log)


def stop_gateways(gateways: list[GatewayProc]) -> None:
    for gw in gateways:
        if gw.proc.poll() is None:
            gw.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for gw in gateways:
        try:
            gw.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            gw.proc.kill()
            gw.proc.wait()
        gw.log.close()


def gateway_env(db_url: str, fake: FakeTelegram) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    return env | {
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_TELEGRAM_TOKEN": fake.token,
        "DIGESTBOT_TELEGRAM_API_URL": fake.base_url,
        "DIGESTBOT_TELEGRAM_FILE_URL": fake.base_file_url,
        "DIGESTBOT_TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
        "DIGESTBOT_CONSOLE": "false",
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_LEADER_TAKEOVER_SECONDS": str(TAKEOVER),
        "DIGESTBOT_TELEGRAM_GLOBAL_RATE": str(RATE),
        "DIGESTBOT_TELEGRAM_CHAT_INTERVAL": "0.1",
        "DIGESTBOT_LOG_LEVEL": "INFO",
    }


class LockHolder:
    """The test standing in for "no scheduler anywhere": it holds the election lock itself.

    ``pg_advisory_lock`` blocks in a thread; a waiter queued before the holder lets go gets the
    lock before any gateway's ``pg_try_advisory_lock`` can (PostgreSQL grants waiters first).
    """

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(
            libpq_dsn(url), autocommit=True, application_name="scale-test-lock"
        )
        self.backend = self.conn.info.backend_pid
        self.held = threading.Event()
        self._thread = threading.Thread(target=self._take, daemon=True)
        self._thread.start()

    def _take(self) -> None:
        self.conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        self.held.set()

    def release(self) -> None:
        """Let go of the lock (or stop waiting for it) by closing the connection."""
        if not self.held.is_set():
            with contextlib.suppress(psycopg.Error):
                self.conn.cancel_safe()
        self._thread.join(timeout=10)
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


@dataclass
class Db:
    """Synchronous queries of the test, run with ``asyncio.to_thread``."""

    store: Store

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.store.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def digest_rows(self) -> int:
        with self.store.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(OutboxRow.purpose == "digest", OutboxRow.chat_id.in_(FANOUT))
                ).scalar_one()
            )

    def worker_of(self, pid: int) -> str | None:
        with self.store.engine.connect() as conn:
            ids = conn.execute(select(OutboxWorkerRow.worker_id)).scalars().all()
        return next((w for w in ids if w.split(":")[-2] == str(pid)), None)

    def shares_settled(self, workers: int) -> bool:
        """``workers`` workers, each of which has beaten since the last one joined (so each
        knows its share of the global limit)."""
        with self.store.engine.connect() as conn:
            n, first_seen, last_start = conn.execute(
                select(
                    func.count(),
                    func.min(OutboxWorkerRow.seen_at),
                    func.max(OutboxWorkerRow.started_at),
                )
            ).one()
        return bool(n == workers and first_seen > last_start)

    def held_by(self, worker_id: str) -> int:
        with self.store.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(OutboxRow.status == PENDING, OutboxRow.claimed_by == worker_id)
                ).scalar_one()
            )

    def sent_by_since(self, worker_id: str, since: datetime) -> int:
        with self.store.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(
                        OutboxRow.status == SENT,
                        OutboxRow.claimed_by == worker_id,
                        OutboxRow.sent_at > since,
                    )
                ).scalar_one()
            )

    def statuses(self, chats: list[str]) -> Counter[str]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(OutboxRow.status).where(
                    OutboxRow.purpose == "digest", OutboxRow.chat_id.in_(chats)
                )
            ).scalars()
            return Counter(rows)

    def cut(self, pid: int) -> int:
        """Terminate every backend of process ``pid`` (engine pools, election connection)."""
        with self.store.engine.begin() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name IN (:a, :b)"
                    ),
                    {"a": f"digestbot {pid}", "b": f"digestbot-leader {pid}"},
                ).all()
            )

    def lock_waiting(self, backend: int) -> bool:
        with self.store.engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = :p "
                        "AND NOT granted"
                    ),
                    {"p": backend},
                ).scalar()
            )


def prepare(db_url: str, t0: datetime) -> tuple[list[int], list[int]]:
    """Ingest the samples, subscribe the chats, and mark the fan-out's run as missed at ``t0``."""
    ingest = subprocess.run(
        [str(DIGESTBOT), "ingest", "digests/samples"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
        | {"DIGESTBOT_DATABASE_URL": db_url},
        timeout=60,
        check=False,
    )
    assert ingest.returncode == 0, ingest.stderr
    store = Store.open(db_url)
    schedule = Schedule(DAYS[t0.weekday()], f"{t0:%H:%M}", "UTC")
    ids: dict[str, int] = {}
    for chat in FANOUT + GAP_CHATS:
        with store.engine.begin() as conn:
            sub, _ = save_subscription(
                conn,
                platform="telegram",
                chat_id=chat,
                chat_kind="private",
                theme=THEME,
                schedule=schedule,
                size=5,
                created_by="test",
                now=t0 - timedelta(days=1),
            )
        ids[chat] = sub.id
    store.close()
    return [ids[c] for c in FANOUT], [ids[c] for c in GAP_CHATS]


async def set_next_runs(db_url: str, sub_ids: list[int], when: datetime) -> None:
    """Play the leader for a moment: sync the job store and set these jobs' next run time.

    Only while no gateway runs a scheduler (before they start, or while the test holds the lock).
    """
    store = Store.open(db_url)
    scheduler = Scheduler(store)
    await scheduler.start(paused=True)
    try:

        def modify() -> None:
            for sub_id in sub_ids:
                job = scheduler.job(sub_id)
                assert job is not None
                job.modify(next_run_time=when)

        await asyncio.to_thread(modify)
    finally:
        await scheduler.stop()
        store.close()


class RateMeter:
    """Samples the fake's accepted count; the peak over any one-second window is the rate the
    gateways achieved together (the limit is divided among them)."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.samples: list[tuple[float, int]] = []
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.fake.stats.accepted))
            await asyncio.sleep(0.05)

    def peak(self, window: float = 1.0) -> float:
        best, j = 0, 0
        for i, (t, n) in enumerate(self.samples):
            while self.samples[j][0] < t - window:
                j += 1
            if j < i and t - self.samples[j][0] >= window * 0.95:
                best = max(best, n - self.samples[j][1])
        return best / window

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def command_update(
    fake: FakeTelegram, update_id: int, chat_id: int, command: str
) -> dict[str, Any]:
    msg = fake.message_dict(
        chat_id,
        chat_id,
        "private",
        text=command,
        entities=[{"type": "bot_command", "offset": 0, "length": len(command.split()[0])}],
    )
    return {"update_id": update_id, "message": msg}


# -- the test -----------------------------------------------------------------------------------


@pytest.fixture
def figures() -> Iterator[dict[str, Any]]:
    found: dict[str, Any] = {}
    yield found
    print("\nscale-out figures:", ", ".join(f"{k}={v}" for k, v in found.items()))


async def test_three_gateways_one_scheduler_no_double_posts(
    postgres_url: str, tmp_path: Path, figures: dict[str, Any]
) -> None:
    began = time.monotonic()
    t0 = datetime.now(UTC).replace(second=0, microsecond=0)
    fanout_ids, gap_ids = await asyncio.to_thread(prepare, postgres_url, t0)
    # Last week's jobs, due at t0: the first scheduler elected makes them at once.
    await set_next_runs(postgres_url, fanout_ids, t0)
    store = Store.open(postgres_url)
    db = Db(store)
    gateways: list[GatewayProc] = []
    lock: LockHolder | None = None
    async with (
        FakeTelegram(rate=RATE * 1.1) as fake,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
    ):
        secret = webhook_secret(
            Settings(
                telegram_token=SecretStr(DEFAULT_TOKEN),
                telegram_webhook_url=WEBHOOK_URL,
                console=False,
            )
        )
        assert secret

        async def health(gw: GatewayProc) -> dict[str, Any] | None:
            try:
                async with http.get(f"{gw.base}/healthz") as resp:
                    return dict(await resp.json())
            except (aiohttp.ClientError, TimeoutError, ValueError):
                return None

        async def leaders(among: list[GatewayProc]) -> list[GatewayProc]:
            states = await asyncio.gather(*(health(g) for g in among))
            return [
                g
                for g, s in zip(among, states, strict=True)
                if s is not None and s.get("scheduler_leader")
            ]

        async def post(gw: GatewayProc, update: dict[str, Any], token: str = secret) -> int:
            async with http.post(
                f"{gw.base}/telegram", json=update, headers={SECRET_HEADER: token}
            ) as resp:
                return resp.status

        def texts(chat: str) -> list[str]:
            return [s.plain for s in fake.sent if str(s.chat_id) == chat]

        def digests_to(chats: list[str]) -> Counter[str]:
            wanted = set(chats)
            return Counter(str(s.chat_id) for s in fake.sent if str(s.chat_id) in wanted)

        try:
            # -- start three gateways while the test holds the election lock ----------------
            lock = LockHolder(postgres_url)
            assert await asyncio.to_thread(lock.held.wait, 10)
            env = gateway_env(postgres_url, fake)
            gateways = [spawn_gateway(f"gw{i}", env, tmp_path) for i in range(3)]

            async def all_up() -> bool:
                states = await asyncio.gather(*(health(g) for g in gateways))
                return all(s is not None and s.get("ok") for s in states)

            await until(all_up, "three healthy gateways", within=40)
            figures["startup_s"] = round(time.monotonic() - began, 1)
            assert await leaders(gateways) == []  # the test holds the lock: nobody leads
            assert fake.webhook == {"url": WEBHOOK_URL, "secret_token": secret}
            await until(
                lambda: asyncio.to_thread(db.shares_settled, 3),
                "three outbox workers sharing the rate limit",
                within=10,
            )
            assert await asyncio.to_thread(db.digest_rows) == 0

            # -- webhook updates through each gateway, behind a "load balancer" -------------
            hour_minute = f"{t0:%H:%M}"
            for i, gw in enumerate(gateways):
                update = command_update(
                    fake,
                    700 + i,
                    300001 + i,
                    f"/subscribe {THEME} {DAYS[t0.weekday()]} {hour_minute} UTC",
                )
                assert await post(gw, update) == 200
            assert (
                await post(gateways[0], command_update(fake, 799, 300009, "/themes"), token="wrong")
                == 403
            )
            # The same update at two gateways at once (Telegram retrying through the balancer).
            twice = command_update(fake, 800, 400001, "/themes")
            assert await asyncio.gather(post(gateways[0], twice), post(gateways[1], twice)) == [
                200,
                200,
            ]
            for chat in ("300001", "300002", "300003", "400001"):
                await until(partial(texts, chat), f"a reply in chat {chat}", within=10)
            assert all(
                "Subscribed this chat" in texts(c)[0] for c in ("300001", "300002", "300003")
            )

            # -- elect: exactly one leader, which makes the missed fan-out ------------------
            meter = RateMeter(fake)
            await asyncio.to_thread(lock.release)
            lock = None
            elected_at = time.monotonic()
            first = await until(lambda: leaders(gateways), "a leader", within=15)
            figures["election_s"] = round(time.monotonic() - elected_at, 2)
            assert len(first) == 1
            leader = first[0]
            await asyncio.sleep(2 * TAKEOVER / 6)  # two campaign rounds: still one leader
            assert await leaders(gateways) == [leader]
            await until(
                lambda: asyncio.to_thread(lambda: db.digest_rows() == CHATS),
                "every digest recorded in the outbox",
                within=20,
            )

            # -- SIGKILL the leader mid-fan-out ---------------------------------------------
            killed_worker = await asyncio.to_thread(db.worker_of, leader.pid)
            assert killed_worker is not None
            await until(
                lambda: fake.stats.accepted >= CHATS // 5, "a fifth of the fan-out", within=20
            )
            os.kill(leader.pid, signal.SIGKILL)
            leader.proc.wait()
            leader.killed = True
            killed_at = time.monotonic()
            accepted_at_kill = fake.stats.accepted
            held_at_kill = await asyncio.to_thread(db.held_by, killed_worker)
            figures["accepted_at_kill"] = accepted_at_kill
            figures["held_at_kill"] = held_at_kill
            assert accepted_at_kill < CHATS, "the kill came after the fan-out"
            survivors = [g for g in gateways if g is not leader]
            second = await until(lambda: leaders(survivors), "a new leader", within=TAKEOVER + 5)
            figures["takeover_s"] = round(time.monotonic() - killed_at, 2)
            assert len(second) == 1
            new_leader = second[0]

            # -- cut every database connection of the new leader ----------------------------
            await until(
                lambda: fake.stats.accepted >= accepted_at_kill + 10,
                "the fan-out going on after the kill",
                within=20,
            )
            cut_worker = await asyncio.to_thread(db.worker_of, new_leader.pid)
            assert cut_worker is not None
            cut_at = datetime.now(UTC)
            figures["accepted_at_cut"] = fake.stats.accepted
            figures["backends_cut"] = await asyncio.to_thread(db.cut, new_leader.pid)
            assert figures["backends_cut"] >= 2  # its pool and its election connection
            # It recovers: its webhook (dedup in the database) answers a new update.
            status = await post(new_leader, command_update(fake, 801, 400002, "/themes"))
            if status != 200:  # a connection cut mid-request: Telegram would retry
                status = await post(new_leader, command_update(fake, 801, 400002, "/themes"))
            assert status == 200
            await until(lambda: texts("400002"), "a reply after the cut", 10)

            # -- every chat gets its digest (the killed one's claims expire after the lease) --
            await until(
                lambda: len(digests_to(FANOUT)) == CHATS,
                "a digest in every fan-out chat",
                within=50,
            )
            await until(
                lambda: asyncio.to_thread(lambda: db.statuses(FANOUT) == {SENT: CHATS}),
                "every fan-out row marked sent",
                within=10,
            )
            figures["fanout_done_s"] = round(time.monotonic() - killed_at, 1)
            cut_sent = await asyncio.to_thread(db.sent_by_since, cut_worker, cut_at)
            figures["sent_by_cut_gateway_after_cut"] = cut_sent
            assert cut_sent > 0, "the gateway whose connections were cut stopped sending"
            alive = [g for g in survivors if (await health(g) or {}).get("ok")]
            assert alive == survivors, "a survivor is unhealthy"
            now_leading = await leaders(survivors)
            assert len(now_leading) == 1  # the scheduler lives on a survivor

            # -- a gap between leaders: jobs due in it are made once by the next leader ------
            lock = gap_lock = LockHolder(postgres_url)
            await until(
                lambda: asyncio.to_thread(db.lock_waiting, gap_lock.backend),
                "the test queued for the lock",
                within=10,
            )
            holder = now_leading[0]
            assert (
                await asyncio.to_thread(
                    db.scalar,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :a",
                    a=f"digestbot-leader {holder.pid}",
                )
                == 1
            )
            assert await asyncio.to_thread(lock.held.wait, 10)
            await until(
                lambda: _no_leader(leaders, survivors),
                "the old leader to step down",
                within=TAKEOVER + 5,
            )
            missed = gap_ids + await asyncio.to_thread(_webhook_subscriptions, db)
            await set_next_runs(postgres_url, missed, datetime.now(UTC) - timedelta(seconds=1))
            await asyncio.to_thread(lock.release)
            lock = None
            gap_end = time.monotonic()
            third = await until(lambda: leaders(survivors), "a leader after the gap", TAKEOVER + 5)
            figures["gap_takeover_s"] = round(time.monotonic() - gap_end, 2)
            assert len(third) == 1
            gap_chats = [*GAP_CHATS, "300001", "300002", "300003"]
            await until(
                lambda: (
                    len(digests_to(GAP_CHATS)) == MISSED
                    and all(len(texts(c)) >= 2 for c in gap_chats[MISSED:])
                ),
                "the digests missed between leaders",
                within=20,
            )
            await until(
                lambda: asyncio.to_thread(lambda: db.statuses(gap_chats) == {SENT: len(gap_chats)}),
                "the missed digests marked sent",
                within=10,
            )

            # -- exactly once ---------------------------------------------------------------
            await asyncio.sleep(1.0)  # room for a late duplicate to show up
            per_chat = digests_to(FANOUT)
            duplicated = sum(n - 1 for n in per_chat.values())
            figures["fanout_sent"] = sum(per_chat.values())
            figures["duplicates"] = duplicated
            figures["rate_limited_429"] = fake.stats.rate_limited
            await meter.stop()
            figures["peak_rate_1s"] = meter.peak(1.0)
            figures["peak_rate_3s"] = round(meter.peak(3.0), 1)
            assert len(per_chat) == CHATS
            # The global limit divided among the live workers holds: the fake never said 429.
            assert fake.stats.rate_limited == 0
            assert duplicated <= held_at_kill
            assert digests_to(GAP_CHATS) == dict.fromkeys(GAP_CHATS, 1)
            for chat in ("300001", "300002", "300003"):
                assert len(texts(chat)) == 2, texts(chat)  # the /subscribe reply, one digest
            assert len(texts("400001")) == 1  # one update at two gateways: one answer
            assert len(texts("400002")) == 1
            assert texts("300009") == []  # the wrong secret was refused
            assert await asyncio.to_thread(db.digest_rows) == CHATS
        except BaseException:
            for gw in gateways:
                print(f"--- {gw.name} (pid {gw.pid}, port {gw.port}) ---\n{gw.tail()}")
            raise
        finally:
            if lock is not None:
                await asyncio.to_thread(lock.release)
            await asyncio.to_thread(stop_gateways, gateways)
            store.close()
    for gw in gateways:
        if not gw.killed:
            assert gw.proc.returncode == 0, f"{gw.name} exited with {gw.proc.returncode}"
    figures["runtime_s"] = round(time.monotonic() - began, 1)


async def _no_leader(
    leaders: Callable[[list[GatewayProc]], Awaitable[list[GatewayProc]]], among: list[GatewayProc]
) -> bool:
    return not await leaders(among)


def _webhook_subscriptions(db: Db) -> list[int]:
    with db.store.engine.connect() as conn:
        return list(
            conn.execute(
                select(SubscriptionRow.id)
                .where(SubscriptionRow.chat_id.in_(["300001", "300002", "300003"]))
                .order_by(SubscriptionRow.chat_id)
            ).scalars()
        )
