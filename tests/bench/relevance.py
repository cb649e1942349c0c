"""Relevance benchmark: do /search, /paper and /model find what people half-remember?

Run: ``python -m tests.bench.relevance [--reports DIR] [-v]``. Stores the bundled samples and the
real reports (``../shared/reports`` next to the repository, or ``--reports``; left out cleanly when
absent) in a fresh SQLite file, then sends every query of ``relevance_queries.yaml`` through the
command core, as a chat would, and reads the reply: a card is its item (rank 1); a pick list, or
a "no such model" answer with its search hits, is its buttons in order; search results are their
buttons. Beside it, in the same run, a plain BM25 over the same items (SQLite FTS5's ``bm25``,
Chinese segmented with jieba, Latin words lower-cased, no glossary, stemming or typo tolerance;
the same kind filter as the command) ranks every query. Both rankings count an item once (its
newest copy), so a model in two months is one answer.

Prints hit@1, hit@3 and MRR per command and per language for both, and how many "no such model"
queries were refused rightly (never another item's card). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import sys
import tempfile
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.bench.common import REPO, SAMPLES

QUERIES = Path(__file__).with_name("relevance_queries.yaml")
REPORTS = REPO.parent / "shared" / "reports"
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class Query:
    cmd: str
    q: str
    expect: tuple[str, ...]  # empty: the right answer is "no such model"
    lang: str
    how: str


def load_queries() -> list[Query]:
    out = []
    for row in yaml.safe_load(QUERIES.read_text(encoding="utf-8")):
        expect = row["expect"]
        names = () if expect == "none" else tuple([expect] if isinstance(expect, str) else expect)
        out.append(Query(row["cmd"], str(row["q"]), names, row["lang"], row["how"]))
    return out


# -- the items ------------------------------------------------------------------------------------


def build(db: Path, reports: Path | None) -> list[Path]:
    from bot.store.ingest import ingest_file
    from bot.store.store import Store

    files = sorted(SAMPLES.glob("*.md"))
    if reports is not None and reports.is_dir():
        files += sorted(reports.glob("*.md"))
    store = Store.open(f"sqlite:///{db}")
    try:
        for path in files:
            ingest_file(store, path, 5 << 20, uploaded_by="bench")
    finally:
        store.close()
    return files


@dataclass
class Catalog:
    """Every stored item's key and names, to tell which item a reply names."""

    names: dict[str, set[str]]  # key -> normalized names (every copy's title and aliases)
    by_name: dict[str, set[str]]  # normalized name -> keys
    docs: list[tuple[str, str, str, str]]  # (key, kind, period, text) per stored copy

    def keys_of(self, command_arg: str) -> list[str]:
        """The items a command's argument names: a whole name, else the names it starts (a
        command carries the first words of a long title)."""
        from digests.text import normalize_name

        norm = normalize_name(command_arg)
        if norm in self.by_name:
            return sorted(self.by_name[norm])
        return sorted({k for n, ks in self.by_name.items() if n.startswith(norm) for k in ks})

    def keys_for(self, names: tuple[str, ...]) -> set[str]:
        from digests.text import normalize_name

        return {k for n in names for k in self.by_name.get(normalize_name(n), set())}


def catalog(db: Path) -> Catalog:
    from bot.store.store import Store
    from digests.items import Item
    from digests.text import normalize_name

    store = Store.open(f"sqlite:///{db}")
    names: dict[str, set[str]] = defaultdict(set)
    by_name: dict[str, set[str]] = defaultdict(set)
    docs = []
    with store.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT data FROM items WHERE NOT removed")).scalars().all()
    store.close()
    for data in rows:
        item = Item.from_dict(data if isinstance(data, dict) else json.loads(data))
        for name in (item.title, *item.aliases):
            names[item.key].add(normalize_name(name))
            by_name[normalize_name(name)].add(item.key)
        body = [item.title, *item.aliases, item.summary, item.topic or "", item.theme_title]
        body += [f"{p.label} {p.text}" for p in item.parts]
        docs.append((item.key, item.kind.value, item.period, " ".join(body)))
    return Catalog(dict(names), dict(by_name), docs)


# -- the bot's answers ----------------------------------------------------------------------------


def ranked_reply(message: object, cat: Catalog) -> tuple[list[str], bool]:
    """The item keys a reply offers, best first, and whether it is a card."""
    from digests.message import Actions, Heading
    from digests.text import normalize_name

    blocks = message.blocks  # type: ignore[attr-defined]
    keys: list[str] = []
    is_card = (
        bool(blocks)
        and isinstance(blocks[0], Heading)
        and not any(
            isinstance(b, Heading) and b.text.startswith(("Search:", "搜索")) for b in blocks[:1]
        )
    )
    if is_card:
        found = cat.by_name.get(normalize_name(blocks[0].text), set())
        keys.extend(sorted(found))
        return keys, True
    for block in blocks:
        if not isinstance(block, Actions):
            continue
        for button in block.buttons:
            cmd = button.command
            if not cmd.startswith(("/model ", "/paper ", "/topic ")):
                continue
            arg = cmd.split(" ", 1)[1]
            arg = re.sub(r"\s+\d{4}-\d{2}$", "", arg)
            for key in cat.keys_of(arg):
                if key not in keys:
                    keys.append(key)
    return keys, False


async def ask_all(db: Path, queries: list[Query], cat: Catalog) -> list[tuple[list[str], bool]]:
    from bot.commands.dispatch import Dispatcher
    from bot.commands.services import Services
    from bot.store.store import Store
    from channels.base import Incoming

    store = Store.open(f"sqlite:///{db}")
    core = Dispatcher(Services(store=store))
    out = []
    try:
        for query in queries:
            reply = await core.on_command(
                Incoming("console", "bench", "bench", f"/{query.cmd} {query.q}", "console")
            )
            out.append(ranked_reply(reply, cat))
    finally:
        store.close()
    return out


# -- the baseline ---------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    import jieba

    folded = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for word in jieba.cut_for_search(folded):
        word = word.strip()
        if word and (word.isalnum() or _CJK.search(word)):
            out.append(word)
    return out


class Baseline:
    """Plain BM25 (SQLite FTS5's) over jieba-segmented text, any query word."""

    def __init__(self, cat: Catalog) -> None:
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE docs USING fts5(key, kind, period, body)")
        self.db.executemany(
            "INSERT INTO docs VALUES (?, ?, ?, ?)",
            [(k, kind, p, " ".join(_tokens(t))) for k, kind, p, t in cat.docs],
        )

    def rank(self, query: Query) -> list[str]:
        words = dict.fromkeys(_tokens(query.q))
        if not words:
            return []
        match = "body : (" + " OR ".join('"' + w.replace('"', '""') + '"' for w in words) + ")"
        if query.cmd in ("paper", "model"):
            match = f'kind : "{query.cmd}" AND {match}'
        rows = self.db.execute(
            "SELECT key FROM docs WHERE docs MATCH ? ORDER BY bm25(docs), period DESC LIMIT 30",
            (match,),
        ).fetchall()
        return list(dict.fromkeys(r[0] for r in rows))


# -- scoring --------------------------------------------------------------------------------------


def score(ranked: list[str], wanted: set[str]) -> tuple[int, int, float]:
    for n, key in enumerate(ranked[:10], 1):
        if key in wanted:
            return int(n == 1), int(n <= 3), 1.0 / n
    return 0, 0, 0.0


def table(rows: dict[str, list[tuple[int, int, float]]]) -> dict[str, dict[str, float]]:
    return {
        group: {
            "n": len(v),
            "hit1": round(sum(x[0] for x in v) / len(v), 3),
            "hit3": round(sum(x[1] for x in v) / len(v), 3),
            "mrr": round(sum(x[2] for x in v) / len(v), 3),
        }
        for group, v in sorted(rows.items())
        if v
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=Path, default=REPORTS, help="folder of real reports")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    args = parser.parse_args()
    import jieba

    jieba.setLogLevel(60)
    queries = load_queries()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "relevance.db"
        files = build(db, args.reports)
        cat = catalog(db)
        real = [f.name for f in files if f.parent != SAMPLES]
        print(f"reports: samples + {real or 'no real report (absent: skipped)'}")
        kept, skipped = [], 0
        for query in queries:
            if query.expect and not cat.keys_for(query.expect):
                skipped += 1
                continue
            kept.append(query)
        answers = asyncio.run(ask_all(db, kept, cat))
    baseline = Baseline(cat)
    bot: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    base: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    refused, refusals = 0, 0
    for query, (ranked, is_card) in zip(kept, answers, strict=True):
        if not query.expect:
            refusals += 1
            refused += not is_card
            if is_card and args.verbose:
                print(f"  WRONG CARD /{query.cmd} {query.q} -> {ranked[:1]}")
            continue
        wanted = cat.keys_for(query.expect)
        mine = score(ranked, wanted)
        theirs = score(baseline.rank(query), wanted)
        for group in (f"/{query.cmd}", f"lang {query.lang}", f"/{query.cmd} {query.lang}", "all"):
            bot[group].append(mine)
            base[group].append(theirs)
        if args.verbose and mine[0] == 0:
            print(f"  miss /{query.cmd} {query.q!r} -> {ranked[:3]} (want {query.expect[0]})")
    ours, theirs_t = table(bot), table(base)
    print(f"{len(kept)} queries ({skipped} skipped: their item is in no stored report)")
    print(f"{'group':<14} {'n':>3}  {'hit@1':>6} {'hit@3':>6} {'MRR':>6}   baseline BM25")
    for group, row in ours.items():
        b = theirs_t[group]
        print(
            f"{group:<14} {row['n']:>3}  {row['hit1']:>6} {row['hit3']:>6} {row['mrr']:>6}   "
            f"{b['hit1']:>6} {b['hit3']:>6} {b['mrr']:>6}"
        )
    print(f"'no such model' refused rightly: {refused}/{refusals}")
    print(
        json.dumps(
            {"bot": ours, "baseline": theirs_t, "refused": refused, "refusals": refusals},
            ensure_ascii=False,
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
