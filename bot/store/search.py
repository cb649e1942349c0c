"""Finding items: forgiving name lookups and full-text search in Chinese and English.

Names: every item's title and aliases are stored normalized (``digests.text.normalize_name``) and
matched exactly first, then by prefix, then fuzzily with rapidfuzz over that kind's names.

Text: items are indexed as search terms (Latin words, CJK character bigrams) in SQLite FTS5 or a
PostgreSQL tsvector built from the same terms, so both engines match the same way.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, Connection, func, select, text

from bot.store.models import ItemNameRow, ItemRow, ReportRow
from bot.store.store import Store, StoredItem, _body_terms, _title_terms
from digests.items import Item
from digests.names import ModelName
from digests.names import parse as parse_model_name
from digests.periods import link_key
from digests.terms import Plan, name_terms, plan, vocabulary_words
from digests.text import normalize_name


@dataclass(frozen=True)
class Match:
    """One item found, with every period it appears in (newest first)."""

    item: StoredItem
    periods: tuple[str, ...]
    score: float


class Finder:
    """Lookups over a store; keeps a per-process cache of names for fuzzy matching."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._names: dict[str, tuple[object, list[str], list[str]]] = {}
        self._words: tuple[object, frozenset[str]] | None = None
        self._families: tuple[object, dict[str, list[tuple[str, ModelName]]]] | None = None
        self._df: tuple[object, int, dict[str, int]] | None = None

    # -- names ------------------------------------------------------------------------------

    def by_name(self, kind: str, query: str, limit: int = 9) -> list[Match]:
        """Exact (normalized) matches of ``query`` among names of ``kind``, grouped by item."""
        norm = normalize_name(query)
        if not norm:
            return []
        return self._group(kind, self._keys(kind, ItemNameRow.name_norm == norm, limit), 100.0)

    def by_prefix(self, kind: str, query: str, limit: int = 8) -> list[Match]:
        """Names that start with ``query`` (normalized), e.g. ``deepseek`` -> both DeepSeeks."""
        norm = normalize_name(query)
        if len(norm) < 2:
            return []
        starts: ColumnElement[bool]
        if self.store.dialect == "sqlite":
            # A range, not LIKE: SQLite's LIKE ignores case, so it cannot use the index.
            starts = (ItemNameRow.name_norm >= norm) & (ItemNameRow.name_norm < norm + "\U0010ffff")
        else:
            # LIKE is right under every collation (a range is not, past the last code point).
            escaped = norm.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            starts = ItemNameRow.name_norm.like(escaped + "%", escape="\\")
        return self._group(kind, self._keys(kind, starts, limit + 1), 90.0)

    def _keys(self, kind: str, condition: ColumnElement[bool], limit: int) -> list[str]:
        """Keys of current items of ``kind`` with a name meeting ``condition``."""
        with self.store.engine.connect() as conn:
            return list(
                conn.execute(
                    select(ItemRow.key)
                    .distinct()
                    .join(ItemNameRow, ItemNameRow.item_id == ItemRow.id)
                    .where(ItemNameRow.kind == kind, condition, ItemRow.removed.is_(False))
                    .limit(limit)
                ).scalars()
            )

    def fuzzy(self, kind: str, query: str, limit: int = 5, cutoff: float = 60.0) -> list[Match]:
        """Closest names by rapidfuzz's weighted ratio, best first."""
        norm = normalize_name(query)
        if not norm:
            return []
        names, keys = self._name_index(kind)
        hits = process.extract(
            norm, names, scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=cutoff
        )
        best: dict[str, float] = {}
        for _name, score, index in hits:
            key = keys[index]
            best[key] = max(best.get(key, 0.0), float(score))
        ranked = sorted(best.items(), key=lambda kv: -kv[1])[:limit]
        matches: list[Match] = []
        for key, score in ranked:
            matches.extend(self._group(kind, [key], score))
        return matches

    def model_families(self) -> dict[str, list[tuple[str, ModelName]]]:
        """Every current model's parsed name (``digests.names``) by family: family -> (key, name)
        (cached until a report is stored)."""
        with self.store.engine.connect() as conn:
            generation = _data_generation(conn)
            with self._lock:
                if self._families is not None and self._families[0] == generation:
                    return self._families[1]
            rows = conn.execute(
                select(ItemRow.key, ItemRow.title)
                .distinct()
                .where(ItemRow.kind == "model", ItemRow.removed.is_(False))
            ).all()
        families: dict[str, list[tuple[str, ModelName]]] = {}
        for key, title in sorted((r.key, r.title) for r in rows):
            name = parse_model_name(title)
            if name.family:
                families.setdefault(name.family, []).append((key, name))
        with self._lock:
            self._families = (generation, families)
        return families

    def matches(self, kind: str, keys: list[str], score: float = 100.0) -> list[Match]:
        """The items of ``kind`` with these keys (in this order), with every month they are in."""
        return self._group(kind, list(dict.fromkeys(keys)), score)

    def by_link(self, link: str) -> list[Match]:
        """Items of any kind whose link is ``link`` (an arXiv id in any form matches its links)."""
        wanted = link_key(link)
        if not wanted:
            return []
        # narrow in SQL by a distinctive piece (the arXiv id, or the link's last segment), then
        # compare loosely in Python
        piece = wanted.removeprefix("arxiv:") if wanted.startswith("arxiv:") else wanted
        piece = piece.rsplit("/", 1)[-1] or piece
        escaped = piece.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(ItemRow.kind, ItemRow.key, ItemRow.url).where(
                    ItemRow.removed.is_(False),
                    func.lower(ItemRow.url).like(f"%{escaped.lower()}%", escape="\\"),
                )
            ).all()
        found = sorted({(r.kind, r.key) for r in rows if link_key(r.url or "") == wanted})
        return [m for kind, key in found for m in self._group(kind, [key], 100.0)]

    def in_period(self, match: Match, period: str) -> Match | None:
        """The same item as it was in ``period``, or None when it is not in that month."""
        if period not in match.periods:
            return None
        item = match.item.item
        if item.period == period:
            return match
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(ItemRow.id, ItemRow.data).where(
                    ItemRow.kind == item.kind.value,
                    ItemRow.key == item.key,
                    ItemRow.period == period,
                    ItemRow.removed.is_(False),
                )
            ).first()
        if row is None:
            return None
        return Match(StoredItem(row.id, Item.from_dict(row.data)), match.periods, match.score)

    def newest_periods(self, items: list[StoredItem]) -> dict[str, str]:
        """For each item's key, the newest period it appears in."""
        wanted = sorted({(s.item.theme[:100], s.item.key) for s in items})
        if not wanted:
            return {}
        # one statement, a seek each in the (theme, key, removed, period) index however many
        # months (a statement each cost more to build than to run)
        sql = " UNION ALL ".join(
            f"SELECT {n} AS n, (SELECT max(period) FROM items WHERE theme = :t{n} "
            f"AND key = :k{n} AND removed = :no) AS newest"
            for n in range(len(wanted))
        )
        params: dict[str, object] = {"no": False}
        for n, (theme, key) in enumerate(wanted):
            params[f"t{n}"], params[f"k{n}"] = theme, key
        out: dict[str, str] = {}
        with self.store.engine.connect() as conn:
            for n, newest in conn.execute(text(sql), params).all():
                key = wanted[n][1]
                if newest is not None and newest > out.get(key, ""):
                    out[key] = newest
        return out

    def _name_index(self, kind: str) -> tuple[list[str], list[str]]:
        with self.store.engine.connect() as conn:
            generation = _data_generation(conn)
        with self._lock:
            cached = self._names.get(kind)
            if cached is not None and cached[0] == generation:
                return cached[1], cached[2]
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(ItemNameRow.name_norm, ItemRow.key)
                .join(ItemRow, ItemNameRow.item_id == ItemRow.id)
                .where(ItemNameRow.kind == kind, ItemRow.removed.is_(False))
                .distinct()
            ).all()
        names = [r.name_norm for r in rows]
        keys = [r.key for r in rows]
        with self._lock:
            self._names[kind] = (generation, names, keys)
        return names, keys

    def _group(self, kind: str, keys: list[str], score: float) -> list[Match]:
        """For each key, the newest period's item and every period it appears in.

        Only the newest version of each item is decoded; the other months are just listed.
        """
        if not keys:
            return []
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(ItemRow.id, ItemRow.key, ItemRow.period)
                .where(ItemRow.kind == kind, ItemRow.key.in_(keys), ItemRow.removed.is_(False))
                .order_by(ItemRow.period.desc())
            ).all()
            periods: dict[str, list[str]] = {}
            newest: dict[str, int] = {}
            for row in rows:
                periods.setdefault(row.key, []).append(row.period)
                newest.setdefault(row.key, row.id)
            data: dict[int, dict[str, object]] = {
                row.id: row.data
                for row in conn.execute(
                    select(ItemRow.id, ItemRow.data).where(ItemRow.id.in_(list(newest.values())))
                )
            }
        return [
            Match(
                StoredItem(newest[key], Item.from_dict(data[newest[key]])),
                tuple(dict.fromkeys(periods[key])),
                score,
            )
            for key in keys
            if key in newest
        ]

    # -- text -------------------------------------------------------------------------------

    def search(self, query: str, *, kind: str | None = None, limit: int = 8) -> list[StoredItem]:
        """The best items for ``query``, each item once (see :meth:`hits`)."""
        return [hit.item for hit in self.hits(query, kind=kind, limit=limit)]

    def hits(self, query: str, *, kind: str | None = None, limit: int = 8) -> list[Hit]:
        """The best items for ``query`` with their scores, best first, each item once.

        The :data:`RECENT` newest items that have every query word (and, when those are too
        few, any query word) are scored here, the same way on both engines: BM25 with each
        word counted once (its weight from how many items have it, cached until a report is
        stored; an item's length from its terms), a word in the title counting
        :data:`TITLE_WEIGHT` times, and twice the score for an item whose name starts with the
        query. An item in several months counts once, as the best-scoring of its :data:`COPIES`
        newest copies among them (the newer one on a tie).
        """
        with self.store.engine.connect() as conn:
            generation = _data_generation(conn)
            wanted = plan(query, self._vocabulary(conn, generation))
            if not wanted.groups and not wanted.name:
                return []
            rows = []
            if len(wanted.groups) > 1:
                rows = self._candidates(conn, wanted, kind, every=True)
            if len({(r.kind, r.key) for r in rows}) < limit:
                seen_ids = {r.id for r in rows}
                more = self._candidates(conn, wanted, kind, skip=seen_ids)
                rows += [r for r in more if r.id not in seen_ids]
            if not rows:
                return []
            idf = self._idf(conn, generation, wanted.terms())
        average = sum(r.length for r in rows) / len(rows)
        best: dict[tuple[str, str], tuple[float, _Candidate]] = {}
        scored: dict[tuple[str, str, int], float] = {}  # copies of one text score alike
        for row in rows:
            same = (row.title, row.body, row.length)
            score = scored.get(same)
            if score is None:
                score = scored[same] = _score(wanted, idf, row, average)
            seen = best.get((row.kind, row.key))
            if seen is None or (score, row.period) > (seen[0], seen[1].period):
                best[(row.kind, row.key)] = (score, row)
        order = sorted(best.values(), key=lambda sr: (-sr[0], -sr[1].id))[:limit]
        items = {s.id: s for s in self.store.get_items(row.id for _score, row in order)}
        return [Hit(items[row.id], score) for score, row in order if row.id in items]

    def _candidates(
        self,
        conn: Connection,
        wanted: Plan,
        kind: str | None,
        *,
        every: bool = False,
        skip: set[int] | frozenset[int] = frozenset(),
    ) -> list[_Candidate]:
        """The :data:`RECENT` newest matches (of every query word with ``every``, else of any),
        at most :data:`COPIES` of each item (its newest), with their terms (none for ``skip``,
        which the caller has).

        Ranking every match of a common word across years of reports costs time for nothing:
        the newest matches are read in index order, which stops early, and only they are ranked.
        Their terms, the bulk of what is read, are read after, only for the copies ranked.
        """
        sqlite = self.store.dialect == "sqlite"
        query = _match_expression(wanted, sqlite, every=every)
        params: dict[str, object] = {"recent": RECENT, "kind": kind}
        if sqlite:
            params["q"] = f'kind_terms : "{kind}" AND ({query})' if kind else query
            sql = (
                "SELECT r.id, i.key, i.kind, i.period, i.title FROM (SELECT rowid AS id "
                "FROM item_search WHERE item_search MATCH :q ORDER BY rowid DESC LIMIT :recent) "
                "AS r JOIN items AS i ON i.id = r.id"
            )
        else:
            params["q"] = query
            kind_filter = "AND kind = :kind" if kind else ""
            sql = (
                "SELECT r.id, i.key, i.kind, i.period, i.title FROM (SELECT item_id AS id "
                f"FROM item_search WHERE doc @@ CAST(:q AS tsquery) {kind_filter} "
                "ORDER BY item_id DESC LIMIT :recent) AS r JOIN items AS i ON i.id = r.id"
            )
        copies: dict[tuple[str, str], int] = {}
        found = []
        for row in sorted(conn.execute(text(sql), params).all(), key=lambda r: -r.id):
            seen = copies.get((row.kind, row.key), 0)
            if seen < COPIES:
                copies[(row.kind, row.key)] = seen + 1
                found.append(row)
        wanted_ids = [r.id for r in found if r.id not in skip]
        titles: dict[int, str] = {}
        terms: dict[int, str] = {}
        if wanted_ids:
            listed = ",".join(str(int(i)) for i in wanted_ids)
            if sqlite:
                sql = (
                    "SELECT rowid AS id, title_terms AS title, body_terms AS body "
                    f"FROM item_search WHERE rowid IN ({listed})"
                )
            else:
                sql = (
                    "SELECT item_id AS id, '' AS title, CAST(doc AS text) AS body "
                    f"FROM item_search WHERE item_id IN ({listed})"
                )
            terms_rows = conn.execute(text(sql)).all()
            titles = {r.id: r.title for r in terms_rows}
            terms = {r.id: r.body for r in terms_rows}
        out = []
        for row in found:
            if row.id not in terms:
                continue
            if sqlite:
                title, body = f" {titles[row.id]} ", f" {terms[row.id]} "
            else:  # a tsvector's text: 'term' 'other' (the title's terms are made again)
                lexemes = (t.replace("''", "'") for t in _LEXEME.findall(terms[row.id]))
                body = " " + " ".join(lexemes) + " "
                title = " " + " ".join(name_terms((row.title,))) + " "
            length = title.count(" ") + body.count(" ")
            out.append(_Candidate(row.id, row.key, row.kind, row.period, title, body, length))
        return out

    def _idf(
        self, conn: Connection, generation: tuple[object, ...], terms: list[str]
    ) -> dict[str, float]:
        """BM25's inverse document frequency of each term, from how many items have it
        (counted once per term until a report is stored)."""
        with self._lock:
            if self._df is None or self._df[0] != generation:
                self._df = (generation, -1, {})
            _generation, total, known = self._df
            known = dict(known)
        if total < 0:
            total = conn.execute(text("SELECT count(*) FROM item_search")).scalar() or 0
        counted = {t: self._count(conn, t) for t in terms if t not in known}
        known.update(counted)
        with self._lock:
            if self._df[0] == generation:
                self._df[2].update(counted)
                self._df = (generation, total, self._df[2])
        return {t: math.log(1 + (total - known[t] + 0.5) / (known[t] + 0.5)) for t in terms}

    def _count(self, conn: Connection, term: str) -> int:
        if self.store.dialect == "sqlite":
            sql = "SELECT count(*) FROM item_search WHERE item_search MATCH :q"
            q = '"' + term.replace('"', '""') + '"'
        else:
            sql = "SELECT count(*) FROM item_search WHERE doc @@ CAST(:q AS tsquery)"
            q = "'" + term.replace("'", "''") + "'"
        return int(conn.execute(text(sql), {"q": q}).scalar() or 0)

    def _vocabulary(self, conn: Connection, generation: tuple[object, ...]) -> frozenset[str]:
        """The stemmed Latin words of every current item's title (for typo tolerance)."""
        with self._lock:
            if self._words is not None and self._words[0] == generation:
                return self._words[1]
        titles = conn.execute(
            select(ItemRow.title).distinct().where(ItemRow.removed.is_(False))
        ).scalars()
        words = frozenset(w for t in titles for w in vocabulary_words(t))
        with self._lock:
            self._words = (generation, words)
        return words


def _data_generation(conn: Connection) -> tuple[object, ...]:
    """What the caches are checked against: a report stored, or an item changed or removed."""
    return tuple(conn.execute(_GENERATION).one())


_GENERATION = select(
    select(func.max(ReportRow.id)).scalar_subquery(),
    select(func.max(ItemRow.updated_at)).scalar_subquery(),
)


def query_groups(query: str) -> list[list[list[str]]]:
    """A query's groups of alternatives, as searches and watches match them."""
    return [[list(alternative) for alternative in group] for group in plan(query).groups]


def indexed_terms(item: Item) -> frozenset[str]:
    """Every term ``item`` is indexed under (its title and body terms)."""
    return frozenset(_title_terms(item)) | frozenset(_body_terms(item))


def groups_match(groups: list[list[list[str]]], terms: frozenset[str] | set[str]) -> bool:
    """Whether an item indexed under ``terms`` matches every group, as a search's first pass
    (all the query's words) finds it: a group matches when all terms of one alternative do."""
    return bool(groups) and all(
        any(all(t in terms for t in alternative) for alternative in group) for group in groups
    )


@dataclass(frozen=True)
class Hit:
    """One item a search found and its score (higher is better)."""

    item: StoredItem
    score: float


@dataclass(frozen=True)
class _Candidate:
    id: int
    key: str
    kind: str
    period: str
    title: str  # the terms, each between spaces (" glm 4 7 glm47 ")
    body: str
    length: int  # how many terms


def _score(wanted: Plan, idf: dict[str, float], row: _Candidate, average: float) -> float:
    """BM25 with every query word counted once: each word the item has adds its weight (the
    best of the alternatives it has; an alternative weighs as its terms together), times
    :data:`TITLE_WEIGHT` in the title, scaled down for long items; doubled when a name starts
    with the query."""
    norm = (K1 + 1) / (1 + K1 * (1 - B + B * row.length / max(average, 1.0)))
    score = 0.0
    for group in wanted.groups:
        weight = 0.0
        typed = sum(idf.get(t, 0.0) for t in group[0])
        for n, alt in enumerate(group):
            # a translation or a typo's fix weighs at most what the word as typed weighs: the
            # same idea is no rarer for being written in the other language
            worth = sum(idf.get(t, 0.0) for t in alt)
            worth = worth if n == 0 else min(worth, typed)
            if all(f" {t} " in row.title for t in alt):
                weight = max(weight, TITLE_WEIGHT * worth)
            elif all(f" {t} " in row.title or f" {t} " in row.body for t in alt):
                weight = max(weight, worth)
        score += weight * norm
    named = bool(wanted.name) and f" {wanted.name}" in row.title
    return score * (2.0 if named else 1.0)


def _match_expression(wanted: Plan, sqlite: bool, *, every: bool = False) -> str:
    """An FTS5 MATCH or a tsquery: any group, each through any of its alternatives (all of an
    alternative's terms), or the query as the start of a name."""
    if sqlite:

        def term(t: str) -> str:
            return '"' + t.replace('"', '""') + '"'

        both, either = " AND ", " OR "
        name = f'title_terms : "{wanted.name}"*' if wanted.name else ""
    else:

        def term(t: str) -> str:
            return "'" + t.replace("'", "''") + "'"

        both, either = " & ", " | "
        name = "'" + wanted.name.replace("'", "''") + "':*" if wanted.name else ""
    rendered = [
        "(" + either.join("(" + both.join(term(t) for t in alt) + ")" for alt in alternatives) + ")"
        for alternatives in wanted.groups
    ]
    if every:
        return both.join(rendered)
    if name:
        rendered.append(name)
    return either.join(rendered)


_LEXEME = re.compile(r"'((?:[^']|'')+)'")
RECENT = 100  # how many of the newest matches a search ranks
#: Of those, at most this many copies of one item (its newest months) are read and ranked: an
#: item in every month of years of reports would otherwise fill the ranking with itself.
COPIES = 3
TITLE_WEIGHT = 3.0  # a query word in an item's title counts this many times
K1, B = 1.2, 0.75  # BM25's usual length normalization
