"""Watches at scale: 10,000 watches in 10,000 chats, and a 100-item report ingested.

    python -m tests.bench.watches [--watches 10000] [--items 100] [--databases sqlite,postgresql]

For each database: the bundled samples are ingested, then N watches are stored in N distinct
chats (a third names a model, ``Vexa17``; a third is a phrase, ``vexa17 sparse routing``; a
third mixes Chinese, ``长上下文 vexa17``; a quarter of the chats read Chinese), each matching one
item of a synthetic report of ``--items`` models. Then `digestbot ingest` of that report runs as
a subprocess and this program measures its time and peak RSS (``ru_maxrss``), and checks that
every watch matched: one outbox row per chat, one recorded hit per watch.

The baseline, in the same run: the same ingest into the same data with no watches at all. The
goals: all matched and queued within 5 s of ingest, peak RSS ≤ 150 MB. The last line printed is
one JSON object. PostgreSQL comes from ``DIGESTBOT_TEST_POSTGRES_URL`` (a scratch database is
created and dropped).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from tests.bench.stampede import database

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "digests" / "samples"
DIGESTBOT = [sys.executable, "-m", "bot.cli"]
PERIOD = "2030-01"


def report(n_items: int) -> str:
    """A month with ``n_items`` models, each with a name no other shares."""
    rows = []
    for k in range(n_items):
        rows.append(
            f"| [Vexa{k}-{k % 7}B](https://example.com/vexa{k}) | **[Infra] 稀疏 MoE 与长上下文**："
            f"<br> Vexa{k} 采用 sparse routing 与分组注意力，窗口 {128 + k}K。<br><br> "
            f"**TL;DR**：第 {k} 个合成模型，长上下文推理更省。 | **特点：吞吐**：<br> 基准 {k}。 "
            f"| **迁移结论**：<br> 适合长文档问答。 |"
        )
    return (
        f"---\nperiod: {PERIOD}\n---\n\n# Intelligence Log: {PERIOD}\n\n"
        "### 1. 基座模型追踪 (The Clay)\n\n"
        "| 模型名称 | 核心技术创新 (Mechanism) | 关键能力/指标 (Capability) | 业务应用/启发 (Value) |\n"
        "| :--- | :--- | :--- | :--- |\n" + "\n".join(rows) + "\n"
    )


def words_for(n: int, n_items: int) -> str:
    k = n % n_items
    return (f"Vexa{k}", f"vexa{k} sparse routing", f"长上下文 vexa{k}")[n % 3]


def prepare(url: str, n_watches: int, n_items: int) -> None:
    """The samples, and ``n_watches`` watches in as many chats (none when 0)."""
    from bot.store.models import ChatLanguageRow, WatchRow
    from bot.store.store import Store
    from bot.store.watches import watch_key
    from digests import parse_report

    store = Store.open(url)
    try:
        for path in sorted(SAMPLES.glob("*.md")):
            text = path.read_text(encoding="utf-8")
            store.ingest(parse_report(text, path.name), text, uploaded_by="bench")
        now = datetime.now(UTC)
        watches = []
        languages = []
        for n in range(n_watches):
            words = words_for(n, n_items)
            watches.append(
                {
                    "platform": "telegram",
                    "chat_id": str(10_000_000 + n),
                    "chat_kind": "private",
                    "words": words,
                    "words_key": watch_key(words),
                    "language": "en",
                    "created_by": "bench",
                    "created_at": now,
                }
            )
            if n % 4 == 0:
                languages.append(
                    {
                        "platform": "telegram",
                        "chat_id": str(10_000_000 + n),
                        "choice": "zh",
                        "setup_language": None,
                        "set_by": "bench",
                        "updated_at": now,
                    }
                )
        with store.engine.begin() as conn:
            for start in range(0, len(watches), 2000):
                conn.execute(insert(WatchRow), watches[start : start + 2000])
            if languages:
                conn.execute(insert(ChatLanguageRow), languages)
    finally:
        store.close()


def ingest(url: str, path: Path) -> dict[str, float]:
    """`digestbot ingest PATH` in a process of its own: wall seconds and its peak RSS."""
    env = {**os.environ, "DIGESTBOT_DATABASE_URL": url, "DIGESTBOT_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*DIGESTBOT, "ingest", str(path)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # wait4: this child's own resource usage (RUSAGE_CHILDREN would keep the largest of all).
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    error = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"digestbot ingest failed: {error.strip()}")
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024}


def startup(url: str) -> float:
    """A command that ingests nothing (`digestbot reports`): what every run pays to start."""
    env = {**os.environ, "DIGESTBOT_DATABASE_URL": url}
    started = time.perf_counter()
    subprocess.run([*DIGESTBOT, "reports"], env=env, cwd=REPO, capture_output=True, check=True)
    return time.perf_counter() - started


def outcome(url: str) -> dict[str, int]:
    from bot.store.models import OutboxRow, WatchHitRow
    from bot.store.store import Store

    store = Store.open(url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(func.count(), func.count(func.distinct(OutboxRow.chat_id))).where(
                    OutboxRow.purpose == "watch"
                )
            ).one()
            hits = conn.execute(select(func.count()).select_from(WatchHitRow)).scalar_one()
    finally:
        store.close()
    return {"messages": int(rows[0]), "chats": int(rows[1]), "hits": int(hits)}


def taste_costs(url: str, rounds: int = 200) -> dict[str, float]:
    """Median milliseconds to choose one clay digest (5 items) for a chat without votes, and for
    chats with 20 and with 100 votes (their taste orders the next 100 items), on this data."""
    from bot.store.actions import record_vote
    from bot.store.digests import next_digest
    from bot.store.models import ItemRow
    from bot.store.store import Store
    from tests.bench.common import interleaved

    store = Store.open(url)
    when = datetime(2030, 2, 2, 9, 0, tzinfo=UTC)
    try:
        with store.engine.begin() as conn:
            ids = list(
                conn.execute(
                    select(ItemRow.id).where(ItemRow.theme == "clay").order_by(ItemRow.id)
                ).scalars()
            )
            for chat, n in (("votes-20", 20), ("votes-100", 100)):
                for k, item_id in enumerate(ids[:n]):
                    record_vote(
                        conn,
                        platform="bench",
                        chat_id=chat,
                        item_id=item_id,
                        user_id="u",
                        vote=1 if k % 3 else -1,
                        now=when,
                    )

        def choose(chat: str) -> object:
            with store.engine.connect() as conn:
                return next_digest(conn, "bench", chat, "clay", 5, when)

        times = interleaved(
            {chat: functools.partial(choose, chat) for chat in ("none", "votes-20", "votes-100")},
            rounds,
        )
    finally:
        store.close()
    return {f"digest_ms_{chat}": round(t * 1000, 2) for chat, t in times.items()}


def run_one(kind: str, n_watches: int, n_items: int, folder: Path) -> dict[str, Any]:
    path = folder / f"{PERIOD}.md"
    path.write_text(report(n_items), encoding="utf-8")
    with database(kind) as url:
        prepare(url, n_watches, n_items)
        base = startup(url)
        watched = ingest(url, path)
        seen = outcome(url)
        taste = taste_costs(url)
    with database(kind) as url:
        prepare(url, 0, n_items)
        plain = ingest(url, path)
    extra = watched["seconds"] - plain["seconds"]
    return {
        "database": kind,
        "watches": n_watches,
        "items": n_items,
        "ingest_seconds_with_watches": round(watched["seconds"], 2),
        "ingest_seconds_without_watches": round(plain["seconds"], 2),
        "ratio": round(watched["seconds"] / plain["seconds"], 2),
        "matching_and_queueing_seconds": round(extra, 2),
        "process_start_seconds": round(base, 2),
        "peak_rss_mb_with_watches": round(watched["peak_rss_mb"], 1),
        "peak_rss_mb_without_watches": round(plain["peak_rss_mb"], 1),
        **seen,
        **taste,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--watches", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for kind in args.databases.split(","):
            print(f"{kind}: {args.watches:,} watches, {args.items} items", file=sys.stderr)
            result = run_one(kind, args.watches, args.items, Path(folder))
            print("  " + json.dumps(result), file=sys.stderr)
            results.append(result)
    goals = {
        "all_matched": all(
            r["messages"] == r["chats"] == r["hits"] == r["watches"] for r in results
        ),
        "queued_within_5s": all(r["ingest_seconds_with_watches"] <= 5 for r in results),
        "rss_within_150mb": all(r["peak_rss_mb_with_watches"] <= 150 for r in results),
    }
    print(json.dumps({"benchmark": "watches", "runs": results, "goals": goals}))


if __name__ == "__main__":
    main()
