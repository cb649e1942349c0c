"""Store: the handle on the database, keeping reports and items (one report per transaction)."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Row,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from bot.clock import utcnow
from bot.store.db import STATEMENT_TIMEOUT, ensure_schema, make_engine
from bot.store.models import ItemNameRow, ItemRow, ProcessedUpdateRow, ReportRow
from bot.store.removal import drop_samples, move_history, remove_period
from digests.errors import ReportError
from digests.items import Item, Kind, Report
from digests.terms import index_terms, name_terms
from digests.text import normalize_name


@dataclass
class IngestResult:
    """What one ingest did. ``status`` is ``new``, ``updated`` or ``unchanged``."""

    source: str
    period: str
    status: str
    added: list[Item] = field(default_factory=list)
    changed: list[Item] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    samples_removed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoredItem:
    """An item as stored, with its database id."""

    id: int
    item: Item


class Store:
    """Reports and items. Methods are synchronous; the gateway runs them in a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._scheduler: object | None = None
        self._scheduler_lock = threading.Lock()

    @classmethod
    def open(
        cls, url: str, *, migrate: bool = True, statement_timeout: float = STATEMENT_TIMEOUT
    ) -> Store:
        engine = make_engine(url, statement_timeout=statement_timeout)
        if migrate:
            ensure_schema(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def claim_scheduler(self, owner: object) -> None:
        """Mark the store as scheduled by ``owner``: one scheduler per database.

        Raises RuntimeError when another scheduler runs on this store (across processes, leader
        election keeps it to one).
        """
        with self._scheduler_lock:
            if self._scheduler is not None and self._scheduler is not owner:
                url = self.engine.url.render_as_string(hide_password=True)
                raise RuntimeError(f"a scheduler is already running on {url}")
            self._scheduler = owner

    def release_scheduler(self, owner: object) -> None:
        with self._scheduler_lock:
            if self._scheduler is owner:
                self._scheduler = None

    # -- ingest -----------------------------------------------------------------------------

    def ingest(
        self, report: Report, markdown: str, *, uploaded_by: str = "cli", sample: bool = False
    ) -> IngestResult:
        """Store ``report`` as the current version of its month, in one transaction.

        The same file twice changes nothing. A new version of a month keeps the identity (id) of
        every item whose key (kind and normalized title) it still has, so digests do not resend it.
        A ``sample`` is marked so; the first real report deletes every sample (its months are in
        ``result.samples_removed``).
        """
        result = IngestResult(report.source, report.period, "new")
        result.warnings = [str(w) for w in report.warnings]
        result.counts = Counter(item.kind.value for item in report.items)
        now = utcnow()
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # One ingest of a month at a time across gateways.
                conn.execute(select(func.pg_advisory_xact_lock(_period_lock(report.period))))
            current = conn.execute(
                select(ReportRow.id, ReportRow.sha256).where(
                    ReportRow.period == report.period, ReportRow.is_current.is_(True)
                )
            ).first()
            if not sample:
                result.samples_removed = drop_samples(conn)
                if report.period in result.samples_removed:
                    current = None
            if current is not None and current.sha256 == report.sha256:
                result.status = "unchanged"
                result.unchanged = len(report.items)
                return result
            if current is not None:
                result.status = "updated"
                conn.execute(
                    update(ReportRow).where(ReportRow.id == current.id).values(is_current=False)
                )
            report_id = conn.execute(
                insert(ReportRow).returning(ReportRow.id),
                {
                    "period": report.period,
                    "source": report.source[-500:],
                    "title": report.title[:500],
                    "markdown": markdown,
                    "sha256": report.sha256,
                    "meta": report.meta,
                    "uploaded_by": uploaded_by[:200],
                    "uploaded_at": now,
                    "is_current": True,
                    "item_count": len(report.items),
                    "warning_count": len(report.warnings),
                    "sample": sample,
                },
            ).scalar_one()
            self._merge_items(conn, report, report_id, now, result)
        return result

    def reparse(self, parse: Callable[[str, str], Report]) -> Iterator[IngestResult | ReportError]:
        """Re-derive every current report's items from its stored Markdown (after parser fixes).

        Item identities are kept exactly as a re-upload keeps them; each report is one transaction.
        """
        for report_row in self.reports():
            try:
                report = parse(report_row.markdown, report_row.source)
            except ReportError as exc:
                yield exc
                continue
            result = IngestResult(report_row.source, report_row.period, "reparsed")
            result.warnings = [str(w) for w in report.warnings]
            result.counts = Counter(item.kind.value for item in report.items)
            report = dataclasses.replace(report, period=report_row.period)
            with self.engine.begin() as conn:
                self._merge_items(conn, report, report_row.id, utcnow(), result)
                conn.execute(
                    update(ReportRow)
                    .where(ReportRow.id == report_row.id)
                    .values(item_count=len(report.items), warning_count=len(report.warnings))
                )
            yield result

    def reindex_search(self, batch: int = 500) -> int:
        """Rebuild the names and search terms of every current item (after the way search terms
        are made changed; ``digestbot reparse`` runs it). Returns how many items."""
        done, last = 0, 0
        while True:
            with self.engine.begin() as conn:
                rows = conn.execute(
                    select(ItemRow.id, ItemRow.data)
                    .where(ItemRow.id > last, ItemRow.removed.is_(False))
                    .order_by(ItemRow.id)
                    .limit(batch)
                ).all()
                if not rows:
                    return done
                self._reindex(conn, [(r.id, Item.from_dict(r.data)) for r in rows], [])
            done += len(rows)
            last = rows[-1].id

    def _merge_items(
        self, conn: Connection, report: Report, report_id: int, now: datetime, result: IngestResult
    ) -> None:
        existing = {
            row.key: row
            for row in conn.execute(
                select(
                    ItemRow.id,
                    ItemRow.key,
                    ItemRow.content_hash,
                    ItemRow.removed,
                    ItemRow.kind,
                    ItemRow.title,
                    ItemRow.data,
                ).where(ItemRow.period == report.period)
            )
        }
        # A row stored under another key of the same item (by name before its link was its
        # identity, or the other way round) is the same item: it keeps its id, under the new key.
        by_name = {_name_key(row): row for row in existing.values()}
        wanted = {item.key for item in report.items}
        new_rows: list[dict[str, object]] = []
        new_items: list[Item] = []
        reindex: list[tuple[int, Item]] = []
        seen: set[str] = set()
        kept: dict[str, int] = {}  # key -> id of the items of this version
        for item in report.items:
            row = existing.get(item.key)
            if row is None:
                row = by_name.get(item.name_key)
                if row is not None and (row.key in wanted or row.key in seen):
                    row = None
            if row is not None:
                seen.add(row.key)
                kept[item.key] = row.id
            seen.add(item.key)
            values = _item_values(item, report_id, now)
            if row is None:
                new_rows.append(values)
                new_items.append(item)
                result.added.append(item)
                continue
            digest = values["content_hash"]
            if not row.removed and (digest == row.content_hash or _same_text(row.data, values)):
                # Moved rows (another place in the file, another line) are not changes: their
                # place is updated, their text and updated_at are not.
                result.unchanged += 1
                conn.execute(
                    update(ItemRow)
                    .where(ItemRow.id == row.id)
                    .values(
                        report_id=report_id,
                        key=values["key"],
                        position=item.position,
                        data=values["data"],
                        content_hash=digest,
                    )
                )
                continue
            conn.execute(update(ItemRow).where(ItemRow.id == row.id).values(**values))
            (result.changed if not row.removed else result.added).append(item)
            reindex.append((row.id, item))
        if new_rows:
            ids = (
                conn.execute(
                    insert(ItemRow).returning(ItemRow.id, sort_by_parameter_order=True), new_rows
                )
                .scalars()
                .all()
            )
            reindex.extend(zip(ids, new_items, strict=True))
            kept.update((item.key, item_id) for item_id, item in zip(ids, new_items, strict=True))
        gone = [row for key, row in existing.items() if key not in seen and not row.removed]
        # a copy of an item that stays (the same paper twice in the month, stored by two names
        # before its link was its identity) gives it its history
        merged = {r.id: kept[k] for r in gone if (k := Item.from_dict(r.data).key) in kept}
        move_history(conn, merged)
        if gone:
            conn.execute(
                update(ItemRow)
                .where(ItemRow.id.in_([r.id for r in gone]))
                .values(removed=True, updated_at=now)
            )
            result.removed = [(r.kind, r.title) for r in gone]
        self._reindex(conn, reindex, [r.id for r in gone])
        # Imported here: watches match through bot.store.search, which imports this module.
        from bot.store.watches import notify_watches

        notify_watches(conn, reindex, now)

    def _reindex(
        self, conn: Connection, items: Sequence[tuple[int, Item]], drop: Sequence[int]
    ) -> None:
        ids = [item_id for item_id, _ in items] + list(drop)
        if not ids:
            return
        conn.execute(delete(ItemNameRow).where(ItemNameRow.item_id.in_(ids)))
        if self.dialect == "sqlite":
            conn.execute(
                text("DELETE FROM item_search WHERE rowid IN ({})".format(",".join(map(str, ids))))
            )
        else:
            conn.execute(text("DELETE FROM item_search WHERE item_id = ANY(:ids)"), {"ids": ids})
        if not items:
            return
        names = []
        for item_id, item in items:
            for name in {item.name_norm, *(normalize_name(a) for a in item.aliases)} - {""}:
                names.append({"item_id": item_id, "name_norm": name[:300], "kind": item.kind.value})
        if names:
            conn.execute(insert(ItemNameRow), names)
        docs = [
            {
                "id": item_id,
                "title": " ".join(_title_terms(item)),
                "body": " ".join(_body_terms(item)),
                "kind": item.kind.value,
            }
            for item_id, item in items
        ]
        if self.dialect == "sqlite":
            conn.execute(
                text(
                    "INSERT INTO item_search (rowid, title_terms, body_terms, kind_terms) "
                    "VALUES (:id, :title, :body, :kind)"
                ),
                docs,
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO item_search (item_id, kind, doc) VALUES (:id, :kind, "
                    "setweight(array_to_tsvector(string_to_array(:title, ' ')), 'A') || "
                    "setweight(array_to_tsvector(string_to_array(:body, ' ')), 'B'))"
                ),
                docs,
            )

    def remove_periods(self, periods: Sequence[str]) -> dict[str, int]:
        """Take these months out, in one transaction (see :mod:`bot.store.removal`); returns
        each month's item count. Raises LookupError, changing nothing, when one has no report."""
        now = utcnow()
        removed: dict[str, int] = {}
        with self.engine.begin() as conn:
            for period in dict.fromkeys(periods):
                count = remove_period(conn, period, now)
                if count is None:
                    raise LookupError(period)
                removed[period] = count
        return removed

    def remove_samples(self) -> list[str]:
        """Delete the bundled sample reports and their items; returns their months."""
        with self.engine.begin() as conn:
            return drop_samples(conn)

    def has_stored_reports(self) -> bool:
        """Whether any report was ever stored (removed months count: they were real)."""
        with self.engine.connect() as conn:
            return conn.execute(select(ReportRow.id).limit(1)).first() is not None

    # -- reads ------------------------------------------------------------------------------

    def reports(self) -> list[ReportRow]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(
                session.scalars(
                    select(ReportRow)
                    .where(ReportRow.is_current.is_(True))
                    .order_by(ReportRow.period.desc())
                )
            )

    def item_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(ItemRow).where(ItemRow.removed.is_(False))
            ).scalar_one()

    def get_items(self, ids: Iterable[int]) -> list[StoredItem]:
        """Items by id, in the order asked for (missing ids are left out)."""
        wanted = list(ids)
        if not wanted:
            return []
        with self.engine.connect() as conn:
            rows = {
                r.id: r
                for r in conn.execute(
                    select(ItemRow.id, ItemRow.data).where(ItemRow.id.in_(wanted))
                )
            }
        return [StoredItem(i, Item.from_dict(rows[i].data)) for i in wanted if i in rows]

    def first_seen(self, key: str, now: datetime | None = None) -> bool:
        """Record a platform update/event id; True the first time any gateway sees it.

        The id is remembered until :meth:`forget_updates_before` (the leader's housekeeping)
        passes ``now``, the time it was seen (default: the current time).
        """
        seen = (now or utcnow()).astimezone(UTC)
        with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                stmt = text(
                    "INSERT OR IGNORE INTO processed_updates (key, seen_at) VALUES (:k, :t)"
                )
            else:
                stmt = text(
                    "INSERT INTO processed_updates (key, seen_at) VALUES (:k, :t) "
                    "ON CONFLICT (key) DO NOTHING"
                )
            # Typed and in UTC, so SQLite stores the time as the ORM writes and compares it.
            stmt = stmt.bindparams(bindparam("t", type_=DateTime(timezone=True)))
            inserted = conn.execute(stmt, {"k": key[:200], "t": seen}).rowcount
        return inserted == 1

    def forget_updates_before(self, cutoff: datetime) -> int:
        """Forget the update/event ids seen before ``cutoff``; returns how many."""
        with self.engine.begin() as conn:
            return (
                conn.execute(
                    delete(ProcessedUpdateRow).where(
                        ProcessedUpdateRow.seen_at < cutoff.astimezone(UTC)
                    )
                ).rowcount
                or 0
            )


def _item_values(item: Item, report_id: int, now: datetime) -> dict[str, object]:
    return {
        "report_id": report_id,
        "period": item.period,
        "key": item.key[:300],
        "kind": item.kind.value,
        "theme": item.theme[:100],
        "theme_title": item.theme_title[:300],
        "title": item.title[:500],
        "name_norm": item.name_norm[:300],
        "url": (item.url or None) and item.url[:2000],
        "summary": item.summary,
        "data": item.to_dict(),
        "content_hash": item.content_hash,
        "position": item.position,
        "removed": False,
        "updated_at": now,
    }


#: Where an item sits in its file, not what a reader sees of it.
_PLACE = ("position", "line")


def _name_key(row: Row[Any]) -> str:
    """A stored row's key by name (:attr:`digests.items.Item.name_key`)."""
    return Item.from_dict(row.data).name_key


def _same_text(stored: object, values: dict[str, object]) -> bool:
    """Whether a stored item's data and a new version's differ only in their place."""
    new = values["data"]
    if not isinstance(stored, dict) or not isinstance(new, dict):
        return False
    return {k: v for k, v in stored.items() if k not in _PLACE} == {
        k: v for k, v in new.items() if k not in _PLACE
    }


def _title_terms(item: Item) -> list[str]:
    return name_terms((item.title, *item.aliases))


def _body_terms(item: Item) -> list[str]:
    texts = [item.summary, item.topic or "", item.theme_title]
    texts.extend(f"{p.label} {p.text}" for p in item.parts)
    texts.extend(i.alt for i in item.images)
    return index_terms(" ".join(texts))


def _period_lock(period: str) -> int:
    return int.from_bytes(period.encode()[:8].ljust(8, b"\0"), "big") & 0x7FFFFFFFFFFFFFFF


KINDS = tuple(k.value for k in Kind)
