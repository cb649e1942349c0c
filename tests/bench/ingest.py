"""Ingest benchmark: parse_report against bare markdown-it-py, and ingesting 1,000 variants.

Run: ``python -m tests.bench.ingest [--variants 1000]``. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from tests.bench.common import interleaved, seed_text, variant


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()

    from bot.store.store import Store
    from digests import parse_report

    text = seed_text()
    md = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
    medians = interleaved(
        {"markdown_it": lambda: md.parse(text), "parse_report": lambda: parse_report(text, "seed")},
        args.rounds,
    )
    parse_ratio = medians["parse_report"] / medians["markdown_it"]
    print(f"markdown-it parse  median {medians['markdown_it'] * 1e3:8.2f} ms")
    print(
        f"parse_report       median {medians['parse_report'] * 1e3:8.2f} ms  "
        f"ratio {parse_ratio:.2f} (goal <= 2.0)"
    )

    rng = random.Random(7)
    texts = [variant(text, n, rng) for n in range(args.variants)]
    start = time.perf_counter()
    reports = [parse_report(t, f"v{n}.md") for n, t in enumerate(texts)]
    parse_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        start = time.perf_counter()
        for report, t in zip(reports, texts, strict=True):
            store.ingest(report, t, uploaded_by="bench")
        store_seconds = time.perf_counter() - start
        items = store.item_count()
        store.close()
    ingest_ratio = store_seconds / parse_seconds
    print(
        f"{args.variants} variants: parse {parse_seconds:.2f} s, store into SQLite "
        f"{store_seconds:.2f} s ({items} items), ratio {ingest_ratio:.2f} (goal <= 3.0)"
    )
    print(
        json.dumps(
            {
                "parse_ms": round(medians["parse_report"] * 1e3, 3),
                "markdown_it_ms": round(medians["markdown_it"] * 1e3, 3),
                "parse_ratio": round(parse_ratio, 3),
                "variants": args.variants,
                "variants_parse_s": round(parse_seconds, 3),
                "variants_store_s": round(store_seconds, 3),
                "store_ratio": round(ingest_ratio, 3),
                "items": items,
            }
        )
    )


if __name__ == "__main__":
    main()
