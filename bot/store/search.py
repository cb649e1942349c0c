"""Finding items: forgiving name lookups and full-text search in Chinese and English.

Names: every item's title and aliases are stored normalized (``digests.text.normalize_name``) and
matched exactly first, then by prefix, then fuzzily with rapidfuzz over that kind's names.

Text: items are indexed as search terms (Latin words, CJK character bigrams) in SQLite FTS5 or a
PostgreSQL tsvector built from the same terms, so both engines match the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, func, select, text

from bot.store.models import ItemNameRow, ItemRow, ReportRow
from bot.store.store import Store, StoredItem, _body_terms, _title_terms
from digests.items import Item
from digests.periods import link_key
from digests.text import normalize_name, search_groups


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
        self._names: dict[str, tuple[int, list[str], list[str]]] = {}

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
        keys = {s.item.key for s in items}
        if not keys:
            return {}
        kinds = {s.item.kind.value for s in items}
        with self.store.engine.connect() as conn:
            # kind and key together: the (kind, key) index answers it without a scan
            rows = conn.execute(
                select(ItemRow.key, func.max(ItemRow.period))
                .where(ItemRow.kind.in_(kinds), ItemRow.key.in_(keys), ItemRow.removed.is_(False))
                .group_by(ItemRow.key)
            ).all()
        return {key: period for key, period in rows}

    def _name_index(self, kind: str) -> tuple[list[str], list[str]]:
        with self.store.engine.connect() as conn:
            generation = conn.execute(select(func.max(ReportRow.id))).scalar() or 0
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
        """The best items for ``query``: all terms first, else any term; newest first on ties."""
        groups = query_groups(query)
        if not groups:
            return []
        for mode in ("all", "any"):
            ids = self._search_ids(groups, mode, kind, limit)
            if ids:
                return self.store.get_items(ids)
        return []

    def _search_ids(
        self, groups: list[list[list[str]]], mode: str, kind: str | None, limit: int
    ) -> list[int]:
        """Rank the most recently stored matches (at most RECENT of them) and keep the best.

        Ranking every match of a common word across years of reports costs time for nothing:
        the newest matches are read in index order, which stops early, and only they are ranked.
        """
        sqlite = self.store.dialect == "sqlite"
        query = _match_expression(groups, mode, sqlite)
        params: dict[str, object] = {"limit": limit, "recent": RECENT, "kind": kind}
        if sqlite:
            params["q"] = f'kind_terms : "{kind}" AND ({query})' if kind else query
            sql = (
                "SELECT id FROM (SELECT rowid AS id, bm25(item_search, 4.0, 1.0, 0.0) AS score "
                "FROM item_search WHERE item_search MATCH :q ORDER BY rowid DESC LIMIT :recent) "
                "ORDER BY score, id DESC LIMIT :limit"
            )
        else:
            params["q"] = query
            kind_filter = "AND kind = :kind" if kind else ""
            sql = (
                "SELECT id FROM (SELECT item_id AS id, ts_rank(doc, CAST(:q AS tsquery)) AS score "
                f"FROM item_search WHERE doc @@ CAST(:q AS tsquery) {kind_filter} "
                "ORDER BY item_id DESC LIMIT :recent) AS recent "
                "ORDER BY score DESC, id DESC LIMIT :limit"
            )
        with self.store.engine.connect() as conn:
            return list(conn.execute(text(sql), params).scalars())


def query_groups(query: str) -> list[list[list[str]]]:
    """A query's groups of alternatives, as searches and watches match them."""
    return search_groups(query)[:16]


def indexed_terms(item: Item) -> frozenset[str]:
    """Every term ``item`` is indexed under (its title and body terms)."""
    return frozenset(_title_terms(item)) | frozenset(_body_terms(item))


def groups_match(groups: list[list[list[str]]], terms: frozenset[str] | set[str]) -> bool:
    """Whether an item indexed under ``terms`` matches every group, as a search's first pass
    (all the query's words) finds it: a group matches when all terms of one alternative do."""
    return bool(groups) and all(
        any(all(t in terms for t in alternative) for alternative in group) for group in groups
    )


def _match_expression(groups: list[list[list[str]]], mode: str, sqlite: bool) -> str:
    """An FTS5 MATCH or a tsquery: groups joined by AND (or OR), alternatives by OR."""
    if sqlite:
        term, both, either = (lambda t: '"' + t.replace('"', '""') + '"'), " AND ", " OR "
    else:
        term, both, either = (lambda t: "'" + t.replace("'", "''") + "'"), " & ", " | "
    rendered = []
    for alternatives in groups:
        options = ["(" + both.join(term(t) for t in alt) + ")" for alt in alternatives]
        rendered.append("(" + either.join(options) + ")")
    return (both if mode == "all" else either).join(rendered)


RECENT = 400  # how many of the newest matches a search ranks
