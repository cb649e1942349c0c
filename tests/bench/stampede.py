"""Monday stampede benchmark: every subscription due in the same minute, through `digestbot run`.

    python -m tests.bench.stampede [--sizes 1000,5000,10000] [--databases sqlite,postgresql]

For each database and each N: 100,000 items (several themes, 20 monthly reports, older copies of
some items in earlier months), N subscriptions in N distinct chats spread over the themes, 20
weeks of delivery history per chat (deliveries and sent outbox rows), all due at one minute.
Then the real gateway starts as a subprocess (no chat channel, so nothing is sent) and this
program measures:

- seconds from start until ``/healthz`` answers 200 (goal: ≤ 5 s);
- seconds from the minute until every digest is queued, and how many were skipped (goal:
  ≤ 60 s, none);
- the gateway's peak RSS (VmHWM; goal: ≤ 150 MB);
- seconds from SIGTERM to exit.

The baseline, measured in the same run on the same data: choosing a digest the old way (load
the theme's items into Python and compose there) vs the indexed query, per digest, for a sample
of chats. The last line printed is one JSON object.

PostgreSQL comes from ``DIGESTBOT_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``); a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, func, insert, select, text, update

from tests.bench.common import free_port, healthz

REPO = Path(__file__).resolve().parents[2]
DIGESTBOT = Path(sys.executable).with_name("digestbot")
THEMES = ("clay", "chisel", "hands", "highlights", "forge")
PERIODS = 20
SIZE = 5


def _now() -> datetime:
    return datetime.now(UTC)


# -- data -----------------------------------------------------------------------------------------


def _templates() -> list[dict[str, Any]]:
    from digests import parse_report

    items = []
    for path in sorted((REPO / "digests" / "samples").glob("*.md")):
        items.extend(parse_report(path.read_text(encoding="utf-8"), path.name).items)
    return [it.to_dict() for it in items]


def populate(conn: Connection, n_items: int, n_subs: int, weeks: int, minute: datetime) -> None:
    """Reports, items, subscriptions, history; every subscription due at ``minute`` (UTC)."""
    from bot.store.models import DeliveryRow, ItemRow, OutboxRow, ReportRow, SubscriptionRow
    from digests.items import Item
    from digests.text import normalize_name

    rng = random.Random(16)
    templates = _templates()
    created = minute - timedelta(weeks=weeks + 1)
    periods = [f"{2020 + m // 12:04d}-{m % 12 + 1:02d}" for m in range(PERIODS)]
    report_ids = {}
    for period in periods:
        report_ids[period] = conn.execute(
            insert(ReportRow)
            .values(
                period=period,
                source=f"bench-{period}.md",
                title=f"bench {period}",
                markdown="",
                sha256="0" * 64,
                meta={},
                uploaded_by="bench",
                uploaded_at=created,
                is_current=True,
                item_count=0,
            )
            .returning(ReportRow.id)
        ).scalar_one()
    per_period = n_items // PERIODS
    rows: list[dict[str, Any]] = []
    serial = 0
    for p_index, period in enumerate(periods):
        for position in range(per_period):
            theme = THEMES[position % len(THEMES)]
            template = templates[(p_index * per_period + position) % len(templates)]
            # One in ten items comes back every month: only its newest copy may be sent.
            if position % 10 == 0:
                name = f"model shared-{position}"
            else:
                serial += 1
                name = f"model {p_index}-{position}-{serial}"
            data = dict(template, theme=theme, theme_title=theme.title(), period=period)
            data.update(title=name, position=position)
            item = Item.from_dict(data)
            rows.append(
                {
                    "report_id": report_ids[period],
                    "period": period,
                    "key": item.key,
                    "kind": item.kind.value,
                    "theme": theme,
                    "theme_title": theme.title(),
                    "title": name,
                    "name_norm": normalize_name(name),
                    "url": item.url,
                    "summary": item.summary,
                    "data": data,
                    "content_hash": f"{serial:064d}",
                    "position": position,
                    "removed": False,
                    "updated_at": created,
                }
            )
            if len(rows) >= 5000:
                conn.execute(insert(ItemRow), rows)
                rows = []
    if rows:
        conn.execute(insert(ItemRow), rows)
    at = minute.strftime("%H:%M")
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[minute.weekday()]
    subs = [
        {
            "platform": "telegram",
            "chat_id": str(100_000 + i),
            "theme": THEMES[i % len(THEMES)],
            "day": day,
            "at_time": at,
            "timezone": "UTC",
            "size": SIZE,
            "active": True,
            "created_by": "bench",
            "created_at": created,
        }
        for i in range(n_subs)
    ]
    for chunk in range(0, len(subs), 5000):
        conn.execute(insert(SubscriptionRow), subs[chunk : chunk + 5000])
    # History: each chat got the newest items of its theme, SIZE a week, for ``weeks`` weeks
    # (with a random offset, so chats differ).
    newest = {
        theme: list(
            conn.execute(
                select(ItemRow.id)
                .where(ItemRow.theme == theme)
                .order_by(ItemRow.period.desc(), ItemRow.position, ItemRow.id)
                .limit(weeks * SIZE + 200)
            ).scalars()
        )
        for theme in THEMES
    }
    small = {"blocks": [], "link_preview": False, "tags": ["digest"]}
    deliveries: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for i, sub in enumerate(subs):
        pool = newest[str(sub["theme"])]
        start = rng.randrange(0, 50)
        for week in range(weeks):
            sent_at = created + timedelta(weeks=week + 1)
            ids = pool[start + week * SIZE : start + (week + 1) * SIZE]
            outbox.append(
                {
                    "platform": "telegram",
                    "chat_id": sub["chat_id"],
                    "chat_kind": "private",
                    "subscription_id": i + 1,
                    "purpose": "digest",
                    "dedup_key": f"history:{i}:{week}",
                    "message": small,
                    "item_ids": ids,
                    "status": "sent",
                    "attempts": 0,
                    "not_before": sent_at,
                    "message_ids": ["1"],
                    "created_at": sent_at,
                    "sent_at": sent_at,
                }
            )
            deliveries.extend(
                {
                    "platform": "telegram",
                    "chat_id": sub["chat_id"],
                    "item_id": item_id,
                    "outbox_id": None,
                    "delivered_at": sent_at,
                }
                for item_id in ids
            )
        if len(deliveries) >= 20_000:
            conn.execute(insert(DeliveryRow), deliveries)
            conn.execute(insert(OutboxRow), outbox)
            deliveries, outbox = [], []
    if deliveries:
        conn.execute(insert(DeliveryRow), deliveries)
        conn.execute(insert(OutboxRow), outbox)


def retime(conn: Connection, minute: datetime) -> None:
    from bot.store.models import SubscriptionRow

    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[minute.weekday()]
    conn.execute(update(SubscriptionRow).values(day=day, at_time=minute.strftime("%H:%M")))


# -- the baseline -----------------------------------------------------------------------------------


def _old_next_digest(conn: Connection, chat_id: str, theme: str, when: datetime) -> object:
    """What the scheduler did before: the whole theme into Python, then compose there."""
    from bot.store.models import DeliveryRow, ItemRow
    from bot.store.outbox import pending_item_ids
    from digests.compose import Candidate, compose_digest
    from digests.items import Item

    rows = conn.execute(
        select(ItemRow.id, ItemRow.data).where(ItemRow.theme == theme, ItemRow.removed.is_(False))
    ).all()
    candidates = [Candidate(r.id, Item.from_dict(r.data)) for r in rows]
    delivered = set(
        conn.execute(
            select(DeliveryRow.item_id).where(
                DeliveryRow.platform == "telegram", DeliveryRow.chat_id == chat_id
            )
        ).scalars()
    )
    taken = delivered | pending_item_ids(conn, "telegram", chat_id)
    return compose_digest(candidates, taken, SIZE, when=when)


def baseline(url: str, n_subs: int, sample: int = 10) -> dict[str, float]:
    from bot.store.db import make_engine
    from bot.store.digests import ThemeSizes, next_digest

    engine = make_engine(url)
    chats = [(str(100_000 + i), THEMES[i % len(THEMES)]) for i in range(min(sample, n_subs))]
    when = _now()
    sizes = ThemeSizes()
    try:
        with engine.connect() as conn:
            for chat, theme in chats:  # the new and the old choice agree
                new = next_digest(conn, "telegram", chat, theme, SIZE, when, sizes=sizes)
                old = _old_next_digest(conn, chat, theme, when)
                assert new == old, f"digests differ for chat {chat}"
            started = time.perf_counter()
            for chat, theme in chats:
                _old_next_digest(conn, chat, theme, when)
            old_s = (time.perf_counter() - started) / len(chats)
            started = time.perf_counter()
            for chat, theme in chats:
                next_digest(conn, "telegram", chat, theme, SIZE, when, sizes=sizes)
            new_s = (time.perf_counter() - started) / len(chats)
    finally:
        engine.dispose()
    return {"old_ms_per_digest": old_s * 1000, "new_ms_per_digest": new_s * 1000}


# -- the run ----------------------------------------------------------------------------------------


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def _queued(conn: Connection, minute: datetime, after_id: int) -> int:
    """Digests recorded for ``minute``; only rows past ``after_id`` are read (a PK range)."""
    from bot.store.models import OutboxRow

    return conn.execute(
        select(func.count())
        .select_from(OutboxRow)
        .where(
            OutboxRow.id > after_id,
            OutboxRow.dedup_key.like(f"digest:%:{minute:%Y-%m-%dT%H:%M}Z"),
        )
    ).scalar_one()


def sync_jobs(url: str) -> float:
    """Bring the job store in line with the subscriptions, as a previous run would have."""
    import asyncio

    from bot.scheduling.scheduler import Scheduler
    from bot.store.store import Store

    async def go() -> None:
        store = Store.open(url)
        scheduler = Scheduler(store)
        try:
            await scheduler.start(paused=True)
            await scheduler.stop()
        finally:
            store.close()

    started = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - started


def run_one(url: str, n_subs: int, n_items: int, weeks: int) -> dict[str, Any]:
    from bot.store.db import make_engine
    from bot.store.store import Store

    Store.open(url).close()  # migrations
    engine = make_engine(url)
    started = time.perf_counter()
    provisional = (_now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    with engine.begin() as conn:
        populate(conn, n_items, n_subs, weeks, provisional)
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load; a live database has its statistics.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    prepare_s = time.perf_counter() - started
    print(f"  populated in {prepare_s:.1f} s", file=sys.stderr)
    first_sync_s = sync_jobs(url)
    # The minute: far enough ahead for a re-sync of every job (a changed time) and a start-up.
    minute = (_now() + timedelta(seconds=20 + first_sync_s * 2.5)).replace(
        second=0, microsecond=0
    ) + timedelta(minutes=1)
    with engine.begin() as conn:
        retime(conn, minute)
    sync_jobs(url)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")} | {
        "DIGESTBOT_DATABASE_URL": url,
        "DIGESTBOT_CONSOLE": "false",
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": str(port),
        "DIGESTBOT_LOG_LEVEL": "WARNING",
    }
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    launched = time.monotonic()
    proc = subprocess.Popen([str(DIGESTBOT), "run"], env=env, stdout=log, stderr=log, cwd=REPO)
    try:
        healthz_s = math.inf
        while time.monotonic() - launched < 60:
            if healthz(port) == 200:
                healthz_s = time.monotonic() - launched
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        print(f"  /healthz after {healthz_s:.2f} s; due at {minute:%H:%M:%S}", file=sys.stderr)
        if _now() > minute:
            raise SystemExit("the start-up took past the minute; run again")
        time.sleep(max(0.0, (minute - _now()).total_seconds()))
        deadline = minute + timedelta(seconds=120)
        queued, all_queued_s = 0, math.inf
        with engine.connect() as conn:
            from bot.store.models import OutboxRow

            after_id = conn.execute(select(func.max(OutboxRow.id))).scalar() or 0
            conn.commit()
            while _now() < deadline:
                queued = _queued(conn, minute, after_id)
                conn.commit()
                if queued >= n_subs:
                    all_queued_s = (_now() - minute).total_seconds()
                    break
                time.sleep(0.25)
        peak = _peak_rss_mb(proc.pid)
        healthz_during = healthz(port)
        stop_started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        stop_s = time.monotonic() - stop_started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.dispose()
    figures = baseline(url, n_subs)
    log.seek(0)
    errors = [line for line in log.read().splitlines() if "ERROR" in line or "Traceback" in line]
    return {
        "subscriptions": n_subs,
        "queued": queued,
        "skipped": n_subs - queued,
        "seconds_to_all_queued": round(all_queued_s, 2),
        "peak_rss_mb": round(peak, 1),
        "healthz_seconds": round(healthz_s, 2),
        "healthz_after_run": healthz_during,
        "shutdown_seconds": round(stop_s, 2),
        "populate_seconds": round(prepare_s, 1),
        "old_ms_per_digest": round(figures["old_ms_per_digest"], 2),
        "new_ms_per_digest": round(figures["new_ms_per_digest"], 3),
        "speedup": round(figures["old_ms_per_digest"] / figures["new_ms_per_digest"], 1),
        "gateway_errors": errors[:5],
    }


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/stampede.db"
        return
    admin_url = os.environ.get(
        "DIGESTBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
    ).replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"digestbot_stampede_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=20)
    args = parser.parse_args()
    results = []
    for kind in args.databases.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            print(f"{kind}, {n:,} subscriptions:", file=sys.stderr)
            with database(kind) as url:
                result = {"database": kind, **run_one(url, n, args.items, args.weeks)}
            print("  " + json.dumps(result), file=sys.stderr)
            results.append(result)
    goals = {
        "all_queued_within_60s": all(r["seconds_to_all_queued"] <= 60 for r in results),
        "none_skipped": all(r["skipped"] == 0 for r in results),
        "rss_within_150mb": all(r["peak_rss_mb"] <= 150 for r in results),
        "healthz_within_5s": all(r["healthz_seconds"] <= 5 for r in results),
        "shutdown_within_10s": all(r["shutdown_seconds"] <= 10 for r in results),
    }
    print(json.dumps({"benchmark": "stampede", "runs": results, "goals": goals}))


if __name__ == "__main__":
    main()
