"""Web face benchmark: the report page, item pages and a theme feed over 100,000 stored items.

Run: ``python -m tests.bench.web [--reports 2500] [--rounds 200] [--db PATH]``. Builds a SQLite
database of synthetic months (the seed report's items under renamed models and shifted periods,
as ``tests.bench.lookup`` does; the newest months keep the report's Markdown), serves the web face
with signed links on a local aiohttp server, and times requests from a client on the same loop:
p50/p99 of the report page (rendered once, then from the cache), the first view of a report
(rendered from its Markdown), an item page (a model of one month, and a paper found in every
month), and a theme feed (Atom, 50 entries). The baseline, measured in the same run on the same
server, is the same bytes served from memory: the ratio is what our work costs over HTTP's own.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.bench.common import percentile, seed_text

WITH_MARKDOWN = 40  # the newest months keep the report's Markdown (their pages render it)


def build(db: Path, reports: int) -> int:
    from bot.store.store import Store
    from digests import parse_report

    text = seed_text()
    base = parse_report(text, "seed.md")
    store = Store.open(f"sqlite:///{db}")
    rng = random.Random(3)
    for n in range(reports):
        year, month = 1800 + n // 12, n % 12 + 1
        period = f"{year:04d}-{month:02d}"
        tag = f"x{n}"
        items = []
        for item in base.items:
            if item.kind.value == "model" and n < reports - 1:
                title = f"{item.title}-{tag}{rng.randrange(100)}"
                item = dataclasses.replace(item, title=title, aliases=(title,))
            items.append(dataclasses.replace(item, period=period))
        report = dataclasses.replace(base, period=period, sha256=f"{n:064d}", items=tuple(items))
        markdown = text.replace(base.period, period) if n >= reports - WITH_MARKDOWN else ""
        store.ingest(report, markdown, uploaded_by="bench")
        if n % 250 == 0:
            print(f"  built {n}/{reports} months", file=sys.stderr)
    count = store.item_count()
    store.close()
    return count


async def measure(db: Path, rounds: int) -> dict[str, list[float]]:
    from bot.settings import load_settings
    from bot.store.search import Finder
    from bot.store.store import Store
    from bot.web import routes
    from bot.web.links import WebLinks
    from tests.web.site import free_port

    port = free_port()
    settings = load_settings(
        env={
            "DIGESTBOT_DATABASE_URL": f"sqlite:///{db}",
            "DIGESTBOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "DIGESTBOT_WEB_SECRET": "bench-secret-0123456789",
        }
    )
    links = WebLinks.from_settings(settings)
    assert links is not None
    store = Store.open(settings.database_url)
    periods = [r.period for r in store.reports()]
    newest = periods[0]
    with_markdown = periods[:WITH_MARKDOWN]
    paper = next(s.item for s in Finder(store).search("rubrics reward", kind="paper", limit=1))

    static: dict[str, bytes] = {}

    async def baseline(request: web.Request) -> web.Response:
        return web.Response(body=static[request.match_info["name"]], content_type="text/html")

    app = web.Application()
    app.add_routes(routes(store, Finder(store), settings))
    app.router.add_get("/baseline/{name}", baseline)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    urls = {
        "report": links.url(f"/web/reports/{newest}"),
        "item_model": links.url("/web/items/model/glm47"),
        "item_paper": links.url(f"/web/items/paper/{paper.name_norm}"),
        "feed": links.url("/web/feeds/clay.atom"),
    }
    times: dict[str, list[float]] = {name: [] for name in (*urls, "first_view")}
    for name in urls:
        times[f"baseline_{name}"] = []
    try:
        async with aiohttp.ClientSession() as http:

            async def get(url: str) -> bytes:
                async with http.get(url) as resp:
                    assert resp.status == 200, (url, resp.status)
                    return await resp.read()

            async def timed(url: str, bucket: list[float]) -> None:
                start = time.perf_counter()
                await get(url)
                bucket.append((time.perf_counter() - start) * 1e3)

            for name, url in urls.items():  # warm up, and keep each body for the baseline
                static[name] = await get(url)
                for _ in range(5):
                    await get(url)
            for _ in range(rounds):
                for name, url in urls.items():
                    await timed(url, times[name])
                    await timed(
                        f"http://127.0.0.1:{port}/baseline/{name}", times[f"baseline_{name}"]
                    )
            # First views: each month's page with its rendering dropped from the cache.
            web_face = _web_face(app)
            for period in with_markdown * max(1, rounds // len(with_markdown) // 4):
                web_face.queries._rendered.clear()
                await timed(links.url(f"/web/reports/{period}"), times["first_view"])
    finally:
        await runner.cleanup()
        store.close()
    return times


def _web_face(app: web.Application) -> object:
    """The WebFace behind the app's routes (to drop its cache for first views)."""
    for resource in app.router.resources():
        for route in resource:
            owner = getattr(getattr(route.handler, "__wrapped__", None), "__self__", None)
            if owner is not None:
                return owner
    raise RuntimeError("no web face routes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=2500)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--db", type=Path, help="reuse (or keep) the database here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "web.db"
        if not db.exists():
            start = time.perf_counter()
            made = build(db, args.reports)
            print(f"built {made} items in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        from bot.store.store import Store

        store = Store.open(f"sqlite:///{db}")
        items = store.item_count()
        store.close()
        times = asyncio.run(measure(db, args.rounds))

    def p(name: str, q: float) -> float:
        values = times[name]
        return round(statistics.median(values) if q == 50 else percentile(values, q), 3)

    result: dict[str, float | int] = {"items": items}
    for name in ("report", "first_view", "item_model", "item_paper", "feed"):
        result[f"{name}_p50_ms"] = p(name, 50)
        result[f"{name}_p99_ms"] = p(name, 99)
    for name in ("report", "item_model", "item_paper", "feed"):
        result[f"{name}_vs_static"] = round(p(name, 50) / p(f"baseline_{name}", 50), 2)
        result[f"static_{name}_p50_ms"] = p(f"baseline_{name}", 50)

    def line(label: str, name: str, goal: str) -> None:
        p50, p99 = result[f"{name}_p50_ms"], result[f"{name}_p99_ms"]
        print(f"{label:<30} p50 {p50:>7} ms  p99 {p99:>7} ms{goal}")

    line("report page", "report", " (goal p99 <= 50)")
    line("report page, first view", "first_view", "")
    line("item page (model, 1 month)", "item_model", "")
    line("item page (paper, all months)", "item_paper", "")
    line("theme feed (Atom, 50)", "feed", " (goal p99 <= 20)")
    for name in ("report", "item_model", "item_paper", "feed"):
        print(
            f"{name} vs the same bytes served from memory: {result[name + '_vs_static']}x "
            f"({result['static_' + name + '_p50_ms']} ms)"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
