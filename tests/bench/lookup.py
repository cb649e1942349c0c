"""Lookup benchmark: /model and /search through the command core over 100,000 items.

Run: ``python -m tests.bench.lookup [--reports 2500]``. Builds a SQLite database of synthetic
months (the seed report's items under renamed models and shifted periods), then measures p50/p99
in process (/search beside SQLite FTS5's own ``bm25()`` ranking of the same match, in the same
loop), and the cold wall time of ``digestbot ask "/model GLM-4.7"`` against the import time of
the domain libraries, measured in the same run. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.common import percentile, seed_text

# The domain libraries: SQLAlchemy (its ORM: the models are declarative), markdown-it-py and its
# plugins, PyYAML, rapidfuzz, pydantic-settings. Without the ORM the baseline is ~0.1 s shorter.
LIBRARIES = (
    "import sqlalchemy, sqlalchemy.orm, markdown_it, mdit_py_plugins, yaml, rapidfuzz, "
    "pydantic_settings"
)
MODEL_QUERIES = [
    "GLM-4.7",
    "glm4.7",
    "kimi k2",
    "deepseek v3.2",
    "minimax m2",
    "LongCat flash omni",
    "MiMo-V2-Flash",
    "glm 4.7",
]
SEARCH_QUERIES = [
    "蒸馏",
    "卡片盒",
    "sparse attention",
    "agent memory",
    "rubrics reward",
    "长上下文",
    "on-policy distillation",
    "多智能体 辩论",
]


def build(db: Path, reports: int) -> int:
    from bot.store.store import Store
    from digests import parse_report

    base = parse_report(seed_text(), "seed.md")
    store = Store.open(f"sqlite:///{db}")
    rng = random.Random(3)
    for n in range(reports):
        year, month = 1800 + n // 12, n % 12 + 1
        period = f"{year:04d}-{month:02d}"
        tag = f"x{n}"
        items = []
        for item in base.items:
            if item.kind.value == "model" and n < reports - 1:
                # Another month's models: other names (and so other aliases) and links of their
                # own (an arXiv id is an identity: with the seed's link they would all be one
                # item in 2,500 months).
                title = f"{item.title}-{tag}{rng.randrange(100)}"
                url = f"https://models.example/{tag}/{title}"
                item = dataclasses.replace(item, title=title, aliases=(title,), url=url)
            items.append(dataclasses.replace(item, period=period))
        report = dataclasses.replace(base, period=period, sha256=f"{n:064d}", items=tuple(items))
        store.ingest(report, "", uploaded_by="bench")
        if n % 250 == 0:
            print(f"  built {n}/{reports} months", file=sys.stderr)
    count = store.item_count()
    store.close()
    return count


def measure(db: Path, rounds: int) -> dict[str, list[float]]:
    from bot.commands.dispatch import Dispatcher
    from bot.commands.services import Services
    from bot.store.search import _match_expression, plan
    from bot.store.store import Store
    from channels.base import Incoming

    store = Store.open(f"sqlite:///{db}")
    core = Dispatcher(Services(store=store))
    # the baseline: SQLite FTS5's own bm25() ranking of the same match, top 7, nothing else
    raw = sqlite3.connect(db)
    fts = (
        "SELECT rowid FROM item_search WHERE item_search MATCH ? ORDER BY bm25(item_search) LIMIT 7"
    )
    matches = {q: _match_expression(plan(q), True) for q in SEARCH_QUERIES}

    async def run() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"model": [], "search": [], "fts": []}
        for name, queries in (("model", MODEL_QUERIES), ("search", SEARCH_QUERIES)):
            for q in queries:  # warm up
                await core.on_command(
                    Incoming("console", "c", "c", f"/{name} {q}", chat_kind="console")
                )
        for _ in range(rounds):
            for name, queries in (("model", MODEL_QUERIES), ("search", SEARCH_QUERIES)):
                for q in queries:
                    start = time.perf_counter()
                    await core.on_command(
                        Incoming("console", "c", "c", f"/{name} {q}", chat_kind="console")
                    )
                    out[name].append((time.perf_counter() - start) * 1e3)
            for q in SEARCH_QUERIES:
                start = time.perf_counter()
                raw.execute(fts, (matches[q],)).fetchall()
                out["fts"].append((time.perf_counter() - start) * 1e3)
        return out

    try:
        return asyncio.run(run())
    finally:
        raw.close()
        store.close()


def cold(db: Path, runs: int) -> tuple[float, float]:
    env = {**os.environ, "DIGESTBOT_DATABASE_URL": f"sqlite:///{db}"}
    ask = [sys.executable, "-m", "bot.cli", "ask", "/model GLM-4.7"]
    imports = [sys.executable, "-c", LIBRARIES]
    ask_times, import_times = [], []
    for _ in range(runs):
        for cmd, bucket in ((imports, import_times), (ask, ask_times)):
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            bucket.append(time.perf_counter() - start)
    return statistics.median(ask_times), statistics.median(import_times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--db", type=Path, help="reuse (or keep) the database here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "lookup.db"
        if not db.exists():
            start = time.perf_counter()
            items = build(db, args.reports)
            print(f"built {items} items in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        from bot.store.store import Store

        store = Store.open(f"sqlite:///{db}")
        items = store.item_count()
        store.close()
        times = measure(db, args.rounds)
        ask_s, import_s = cold(db, 7)
    result = {
        "items": items,
        "model_p50_ms": round(statistics.median(times["model"]), 3),
        "model_p99_ms": round(percentile(times["model"], 99), 3),
        "search_p50_ms": round(statistics.median(times["search"]), 3),
        "search_p99_ms": round(percentile(times["search"], 99), 3),
        "fts_bm25_p50_ms": round(statistics.median(times["fts"]), 3),
        "fts_bm25_p99_ms": round(percentile(times["fts"], 99), 3),
        "ask_cold_s": round(ask_s, 3),
        "imports_s": round(import_s, 3),
        "ask_vs_imports": round(ask_s / import_s, 3),
    }
    print(f"/model  p50 {result['model_p50_ms']} ms  p99 {result['model_p99_ms']} ms (goal <= 5)")
    print(
        f"/search p50 {result['search_p50_ms']} ms  p99 {result['search_p99_ms']} ms (goal <= 10)"
        f" vs FTS5 bm25() alone p50 {result['fts_bm25_p50_ms']} ms"
        f"  p99 {result['fts_bm25_p99_ms']} ms:"
        f" {result['search_p99_ms'] / max(result['fts_bm25_p99_ms'], 1e-9):.2f}x at p99"
    )
    print(
        f"cold ask {ask_s:.3f} s vs library imports {import_s:.3f} s: "
        f"{result['ask_vs_imports']}x (goal <= 1.5)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
