"""Fan-out benchmark: the real outbox worker sends one digest to thousands of chats.

    python -m tests.bench.fanout [--scenario all|fanout|ambiguous|replies] [--quick]
                                 [--chats 3000] [--rate 120] [--database-url URL]

``fanout``: the worker runs as a subprocess (python-telegram-bot's TelegramChannel) against the
fake Telegram server in this process, which enforces ``--rate`` messages/s globally (429 beyond)
and counts what it accepts. Run 1 measures the achieved rate as a fraction of the limit, lost
and duplicated digests and the worker's peak RSS. Run 2 kills the worker with SIGKILL halfway,
counts the rows in flight (claimed but not marked sent), starts a new worker and counts lost and
duplicated digests.

``ambiguous`` (:mod:`tests.bench.fanout_maybe`): one digest to ``--ambiguous-chats`` chats while
the fake answers ``--ambiguous-fraction`` of the messages it delivers ambiguously; copies per
chat, rows finished as "maybe delivered", time against the same fan-out answered cleanly. Then
(:mod:`tests.bench.fanout_platforms`) the same on each of Telegram, Slack, Lark and Discord, on
SQLite and on PostgreSQL (``--postgres-url``, default ``DIGESTBOT_TEST_POSTGRES_URL``): copies
max and mean, and lost, per platform.

``replies`` (:mod:`tests.bench.fanout_replies`): ``--commands`` commands over ``--seconds`` in
``--reply-chats`` chats into the running gateway at Telegram's default limits; p50/p99 from
arrival to reply against the idle latency of one command.

``--quick`` scales every scenario down (300 chats; 50; 200 commands over 6 s). The last line
printed is one JSON object: the fan-out's figures at the top level, ``ambiguous`` and
``replies`` as objects.

``--database-url`` must name a scratch database (its outbox is emptied); default: SQLite in a
temporary folder. ``python -m tests.bench.fanout worker …`` is the worker process itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy import text as sql

REPO = Path(__file__).resolve().parents[2]
TOKEN = "4242:fake-telegram-token"
DIGEST_TITLE = "Weekly digest: models"


# -- the worker process -------------------------------------------------------------------------


class _NoCommands:
    async def on_command(self, incoming: Any) -> None:
        return None

    async def on_upload(self, upload: Any) -> Any:
        raise RuntimeError("no uploads here")


async def _worker(args: argparse.Namespace) -> None:
    from bot.delivery.worker import PENDING, OutboxWorker
    from bot.settings import Settings
    from bot.store.db import make_engine
    from bot.store.models import OutboxRow
    from channels.telegram.adapter import TelegramChannel

    # PTB logs every unreadable answer with its traceback; the ambiguous scenario serves them on
    # purpose, and the outbox logs each such send in one line anyway.
    logging.getLogger("telegram.request.BaseRequest").setLevel(logging.CRITICAL)
    settings = Settings(
        database_url=args.database_url, telegram_global_rate=args.rate, console=False
    )
    engine = make_engine(args.database_url)
    channel = TelegramChannel(
        TOKEN,
        base_url=f"{args.api_url}/bot",
        base_file_url=f"{args.api_url}/file/bot",
        poll_timeout=1.0,
        request_timeout=args.request_timeout,
        paid_broadcast=args.paid,
    )
    await channel.start(_NoCommands())  # type: ignore[arg-type]
    worker = OutboxWorker(
        engine,
        [channel],
        settings,
        lease_seconds=args.lease,
        poll_seconds=0.1,
        send_concurrency=args.concurrency or None,
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    await worker.start()
    print(json.dumps({"started": worker.worker_id}), flush=True)

    def pending() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(OutboxRow).where(OutboxRow.status == PENDING)
                ).scalar_one()
            )

    while await asyncio.to_thread(pending):  # noqa: ASYNC110 - the database is the signal
        await asyncio.sleep(0.1)
    await worker.stop()
    await channel.stop()
    engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                "worker_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
                # From the worker's start to the empty outbox: start-up and imports left out.
                "send_cpu_s": round(
                    usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime, 3
                ),
            }
        ),
        flush=True,
    )


def spawn_worker(
    database_url: str,
    api_url: str,
    rate: float,
    lease: float,
    request_timeout: float = 10.0,
    paid: bool = False,
) -> Any:
    """Start a worker subprocess (used by this benchmark and the SIGKILL test)."""
    import subprocess

    cmd = [
        sys.executable,
        "-m",
        "tests.bench.fanout",
        "worker",
        "--database-url",
        database_url,
        "--api-url",
        api_url,
        "--rate",
        str(rate),
        "--lease",
        str(lease),
        "--request-timeout",
        str(request_timeout),
        "--concurrency",
        os.environ.get("FANOUT_CONCURRENCY", "0"),
        *(["--paid"] if paid else []),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)


# -- the orchestrator ---------------------------------------------------------------------------


def prepare(database_url: str, chats: int, run: str) -> None:
    """Migrate, make sure there are items, and enqueue one digest per chat."""
    from bot.delivery.worker import enqueue
    from bot.store.models import DeliveryRow, OutboxRow
    from bot.store.store import Store
    from digests import parse_report
    from digests.message import Message

    store = Store.open(database_url)
    if not store.reports():
        sample = sorted((REPO / "digests" / "samples").glob("*.md"))[-1]
        text = sample.read_text(encoding="utf-8")
        store.ingest(parse_report(text, sample.name), text, uploaded_by="bench")
    with store.engine.connect() as conn:
        from bot.store.models import ItemRow

        items = list(conn.execute(select(ItemRow.id).order_by(ItemRow.id).limit(5)).scalars())
    message = Message.text(DIGEST_TITLE, *(f"Item {i}: something worth reading" for i in items))
    with store.engine.begin() as conn:
        conn.execute(delete(OutboxRow))
        conn.execute(delete(DeliveryRow))
        for chat in range(1, chats + 1):
            enqueue(
                conn,
                platform="telegram",
                chat_id=str(chat),
                chat_kind="private",
                message=message,
                item_ids=items,
                dedup_key=f"bench:{run}:{chat}",
            )
    if store.engine.dialect.name == "postgresql":
        # Fresh statistics: right after thousands of rows were deleted and inserted the planner
        # may scan the whole outbox for every claimed row (seconds a claim at 5,000 rows).
        with store.engine.connect() as conn:
            conn.execute(sql("ANALYZE outbox"))
            conn.commit()
    store.close()


def in_flight(database_url: str) -> int:
    """Rows claimed under a live lease and not marked sent."""
    from datetime import UTC, datetime

    from bot.delivery.worker import PENDING
    from bot.store.db import make_engine
    from bot.store.models import OutboxRow

    engine = make_engine(database_url)
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(OutboxRow)
            .where(OutboxRow.status == PENDING, OutboxRow.claimed_until >= datetime.now(UTC))
        ).scalar_one()
    engine.dispose()
    return int(n)


def tally(per_chat: dict[str, int], chats: int) -> tuple[int, int]:
    """(lost, duplicated) over chats 1..chats."""
    lost = sum(1 for c in range(1, chats + 1) if per_chat.get(str(c), 0) == 0)
    duplicated = sum(max(0, n - 1) for n in per_chat.values())
    return lost, duplicated


async def _wait_exit(proc: Any, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError("worker did not finish")
        await asyncio.sleep(0.1)
    out: dict[str, Any] = {}
    if proc.stdout:
        for line in proc.stdout.read().splitlines():
            if line.startswith("{"):
                out.update(json.loads(line))
        proc.stdout.close()
    return out


async def crash_run(
    fake: Any,
    database_url: str,
    chats: int,
    rate: float,
    lease: float,
    kill_at: float = 0.5,
    within: float = 120.0,
) -> dict[str, int]:
    """Start a worker, SIGKILL it when ``kill_at`` of the chats got their digest, finish with a
    new worker; return in_flight, lost and duplicated."""
    proc = spawn_worker(database_url, fake.url, rate, lease)
    deadline = time.monotonic() + within
    while fake.stats.accepted < chats * kill_at:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker ended before the kill")
        await asyncio.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stdout:
        proc.stdout.close()
    flying = await asyncio.to_thread(in_flight, database_url)
    accepted_at_kill = fake.stats.accepted
    second = spawn_worker(database_url, fake.url, rate, lease)
    await _wait_exit(second, within)
    lost, duplicated = tally(dict(fake.stats.per_chat_accepted), chats)
    return {
        "in_flight": flying,
        "accepted_at_kill": accepted_at_kill,
        "lost": lost,
        "duplicated": duplicated,
    }


async def _bench(args: argparse.Namespace) -> dict[str, Any]:
    from tests.fakes.telegram import FakeTelegram

    class TimedTelegram(FakeTelegram):
        async def _m_sendMessage(self, p: dict[str, Any]) -> dict[str, Any]:
            result = await super()._m_sendMessage(p)
            self.times.append(time.monotonic())
            return result

    tmp = tempfile.TemporaryDirectory()
    urls = (
        [args.database_url] * 2
        if args.database_url
        else [f"sqlite:///{tmp.name}/run1.db", f"sqlite:///{tmp.name}/run2.db"]
    )
    fake = TimedTelegram(TOKEN, rate=args.rate)
    fake.times = []  # type: ignore[attr-defined]
    await fake.start()
    try:
        await asyncio.to_thread(prepare, urls[0], args.chats, "run1")
        proc = spawn_worker(urls[0], fake.url, args.rate, args.lease)
        report = await _wait_exit(proc, within=600)
        times: list[float] = fake.times  # type: ignore[attr-defined]
        span = (times[-1] - times[0]) if len(times) > 1 else float("nan")
        achieved = (len(times) - 1) / span if span else 0.0
        lost, duplicated = tally(dict(fake.stats.per_chat_accepted), args.chats)
        first = {
            "accepted": fake.stats.accepted,
            "rate_limited": fake.stats.rate_limited,
            "seconds": round(span, 2),
        }

        fake.reset()
        await asyncio.to_thread(prepare, urls[1], args.chats, "run2")
        crash = await crash_run(fake, urls[1], args.chats, args.rate, args.lease)
    finally:
        await fake.stop()
        tmp.cleanup()
    return {
        "chats": args.chats,
        "limit": args.rate,
        "achieved_rate": round(achieved, 1),
        "ratio": round(achieved / args.rate, 3),
        "lost": lost,
        "duplicated": duplicated,
        "rate_limited_429": first["rate_limited"],
        "seconds": first["seconds"],
        "peak_rss_mb": report.get("peak_rss_mb"),
        "worker_cpu_s": report.get("worker_cpu_s"),
        "crash_in_flight": crash["in_flight"],
        "crash_accepted_at_kill": crash["accepted_at_kill"],
        "crash_lost": crash["lost"],
        "crash_duplicated": crash["duplicated"],
    }


def _print_fanout(result: dict[str, Any], rate: float) -> None:
    print(
        f"fan-out of one digest to {result['chats']} chats at a limit of {rate:g}/s: "
        f"{result['achieved_rate']}/s ({result['ratio']:.0%}), lost {result['lost']}, "
        f"duplicated {result['duplicated']}, worker peak RSS {result['peak_rss_mb']} MB; "
        f"SIGKILL halfway: {result['crash_in_flight']} in flight, lost {result['crash_lost']}, "
        f"duplicated {result['crash_duplicated']}"
    )


def _print_paid(r: dict[str, Any]) -> None:
    for name in ("free", "paid"):
        x = r[name]
        print(
            f"{name}: {x['chats']} chats at a limit of {x['limit']:g}/s: {x['achieved_rate']}/s "
            f"({x['ratio']:.0%} of the limit), lost {x['lost']}, duplicated {x['duplicated']}, "
            f"{x['rate_limited_429']} 429s, gateway CPU {x['cpu_ms_per_message']} ms a message, "
            f"{x['paid_messages']} paid"
        )
    print(
        f"paid vs free: {r['rate_ratio']}x the messages a second, "
        f"{r['cpu_ratio']}x the CPU a message"
    )


def _print_gateways(r: dict[str, Any]) -> None:
    for x in r["runs"]:
        print(
            f"{x['gateways']} gateway(s), {x['chats']} chats, per-chat limit only: {x['rate']}/s "
            f"({x['ratio']}x one), lost {x['lost']}, duplicated {x['duplicated']}, "
            f"CPU {x['cpu_ms_per_message']} ms a message"
        )
    c = r["crash"]
    print(
        f"3 gateways, one killed with SIGKILL at {c['killed_at']} sent: lost {c['lost']}, "
        f"duplicated {c['duplicated']}"
    )


def _print_ambiguous(r: dict[str, Any]) -> None:
    print(
        f"ambiguous sends, one digest to {r['chats']} chats, {r['fraction']:.0%} of answers "
        f"unreadable ({r['ambiguous_answers']} served): copies per chat max {r['copies_max']}, "
        f"mean {r['copies_mean']}, lost {r['lost']}; {r['rows_ambiguous']} rows met an "
        f"ambiguous answer, {r['rows_maybe']} finished as maybe delivered; {r['seconds']} s vs "
        f"{r['clean_seconds']} s answered cleanly ({r['ratio_to_clean']}x)"
    )


def _print_replies(r: dict[str, Any]) -> None:
    print(
        f"replies: {r['commands']} commands over {r['arrival_seconds']} s in {r['chats']} chats "
        f"({r['arrival_rate']}/s at a limit of {r['limit']:g}/s): {r['replies']} replied "
        f"({r['unanswered']} never), "
        f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, {r['rate_limited_429']} 429s; at "
        f"{r['below_rate']}/s: p50 {r['below_p50_ms']} ms, p99 {r['below_p99_ms']} ms "
        f"({r['p50_ratio_to_below']}x / {r['p99_ratio_to_below']}x); idle {r['idle_ms']} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode")
    w = sub.add_parser("worker", help="run one outbox worker until the outbox is empty")
    w.add_argument("--database-url", required=True)
    w.add_argument("--api-url", required=True)
    w.add_argument("--rate", type=float, default=300.0)
    w.add_argument("--lease", type=float, default=2.0)
    w.add_argument("--request-timeout", type=float, default=10.0)
    w.add_argument("--concurrency", type=int, default=0, help="0: the worker's default")
    w.add_argument("--paid", action="store_true", help="Telegram paid broadcasts")
    parser.add_argument(
        "--scenario",
        choices=("all", "fanout", "ambiguous", "replies", "paid", "gateways"),
        default="all",
    )
    parser.add_argument("--quick", action="store_true", help="every scenario scaled down")
    parser.add_argument("--chats", type=int, default=None, help="fan-out chats (3000)")
    parser.add_argument("--rate", type=float, default=120.0, help="global limit, messages/s")
    parser.add_argument("--lease", type=float, default=2.0, help="claim lease, seconds")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--ambiguous-chats", type=int, default=None, help="(200)")
    parser.add_argument("--ambiguous-fraction", type=float, default=0.2)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("DIGESTBOT_TEST_POSTGRES_URL"),
        help="a scratch PostgreSQL database for the per-platform ambiguous runs",
    )
    parser.add_argument("--commands", type=int, default=None, help="(2000)")
    parser.add_argument("--seconds", type=float, default=None, help="commands arrive over (60)")
    parser.add_argument("--reply-chats", type=int, default=None, help="(500)")
    args = parser.parse_args(argv)
    if args.mode == "worker":
        asyncio.run(_worker(args))
        return
    quick = args.quick
    args.chats = args.chats or (300 if quick else 3000)
    run = {args.scenario} if args.scenario != "all" else {"fanout", "ambiguous", "replies"}
    result: dict[str, Any] = {}
    if "fanout" in run:
        result |= asyncio.run(_bench(args))
        _print_fanout(result, args.rate)
    if "paid" in run:
        from tests.bench.fanout_paid import paid_run

        result["paid"] = asyncio.run(paid_run(args.database_url, quick))
        _print_paid(result["paid"])
    if "gateways" in run:
        from tests.bench.fanout_gateways import gateways_run

        if not args.database_url:
            parser.error("--scenario gateways needs --database-url (PostgreSQL)")
        result["gateways"] = asyncio.run(
            gateways_run(args.database_url, 300 if quick else args.chats)
        )
        _print_gateways(result["gateways"])
    if "ambiguous" in run:
        from tests.bench.fanout_maybe import ambiguous_run

        chats = args.ambiguous_chats or (50 if quick else 200)
        result["ambiguous"] = asyncio.run(ambiguous_run(chats, args.rate, args.ambiguous_fraction))
        _print_ambiguous(result["ambiguous"])
        from tests.bench.fanout_platforms import platforms_run, print_platforms

        with tempfile.TemporaryDirectory() as tmp:
            databases = {"sqlite": f"sqlite:///{tmp}/platforms.db"}
            if args.postgres_url:
                databases["postgresql"] = args.postgres_url
            each = asyncio.run(platforms_run(chats // 2, args.ambiguous_fraction, databases))
        result["ambiguous"]["platforms"] = each
        print_platforms(each, args.ambiguous_fraction)
    if "replies" in run:
        from tests.bench.fanout_replies import reply_run

        result["replies"] = asyncio.run(
            reply_run(
                args.commands or (200 if quick else 2000),
                args.seconds or (6.0 if quick else 60.0),
                args.reply_chats or 500,
            )
        )
        _print_replies(result["replies"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
