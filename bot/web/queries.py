"""What the web pages and feeds read from the store. Synchronous; handlers run them in a thread.

Every query goes through an index (``items``: period+key, theme+period+position, kind+key) and
reads at most a page of rows, so pages stay fast over years of reports.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from bot.store.models import ItemRow, ReportRow
from bot.store.reports import Store
from bot.web.markdown import Rendered, report_html
from digests.items import Item

#: How many periods a theme page shows at a time.
PERIODS_PER_PAGE = 6
#: An item page shows this many months whole; older months are listed with links.
VERSIONS_SHOWN = 12


@dataclass(frozen=True)
class ReportInfo:
    period: str
    title: str
    uploaded_at: datetime
    item_count: int
    counts: Counter[str]


@dataclass(frozen=True)
class Row:
    """An item as a page shows it: the item, its row id and when it last changed."""

    id: int
    item: Item
    updated_at: datetime


@dataclass(frozen=True)
class ReportPage:
    info: ReportInfo
    rendered: Rendered
    items: list[Row]


class WebQueries:
    """Reads for the web face, with a small cache of rendered reports (keyed by their sha256)."""

    def __init__(self, store: Store, cache_size: int = 32) -> None:
        self.store = store
        self._rendered: OrderedDict[str, Rendered] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_size = cache_size

    def archive(self) -> tuple[list[ReportInfo], dict[str, tuple[str, int]]]:
        """Every current report, newest first, with item counts by kind; and the themes
        (slug -> (title, item count))."""
        with self.store.engine.connect() as conn:
            reports = conn.execute(
                select(
                    ReportRow.period, ReportRow.title, ReportRow.uploaded_at, ReportRow.item_count
                )
                .where(ReportRow.is_current.is_(True))
                .order_by(ReportRow.period.desc())
            ).all()
            counts: dict[str, Counter[str]] = {}
            themes: dict[str, tuple[str, int]] = {}
            for period, theme, title, kind, n in conn.execute(
                select(
                    ItemRow.period,
                    ItemRow.theme,
                    func.max(ItemRow.theme_title),
                    ItemRow.kind,
                    func.count(),
                )
                .where(ItemRow.removed.is_(False))
                .group_by(ItemRow.period, ItemRow.theme, ItemRow.kind)
            ):
                counts.setdefault(period, Counter())[kind] += n
                old = themes.get(theme, (title, 0))
                themes[theme] = (old[0] or title, old[1] + n)
        infos = [
            ReportInfo(
                r.period, r.title, r.uploaded_at, r.item_count, counts.get(r.period, Counter())
            )
            for r in reports
        ]
        return infos, dict(sorted(themes.items()))

    def report(self, period: str) -> ReportPage | None:
        """The current report of ``period``, rendered, with its items in report order."""
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(
                    ReportRow.id,
                    ReportRow.period,
                    ReportRow.title,
                    ReportRow.uploaded_at,
                    ReportRow.item_count,
                    ReportRow.sha256,
                ).where(ReportRow.period == period, ReportRow.is_current.is_(True))
            ).first()
            if row is None:
                return None
            with self._lock:
                rendered = self._rendered.get(row.sha256)
                if rendered is not None:
                    self._rendered.move_to_end(row.sha256)
            if rendered is None:
                markdown = conn.execute(
                    select(ReportRow.markdown).where(ReportRow.id == row.id)
                ).scalar_one()
                rendered = report_html(markdown)
                with self._lock:
                    self._rendered[row.sha256] = rendered
                    while len(self._rendered) > self._cache_size:
                        self._rendered.popitem(last=False)
            items = [
                Row(r.id, Item.from_dict(r.data), r.updated_at)
                for r in conn.execute(
                    select(ItemRow.id, ItemRow.data, ItemRow.updated_at)
                    .where(ItemRow.period == period, ItemRow.removed.is_(False))
                    .order_by(ItemRow.position)
                )
            ]
        counts = Counter(r.item.kind.value for r in items)
        info = ReportInfo(row.period, row.title, row.uploaded_at, row.item_count, counts)
        return ReportPage(info, rendered, items)

    def versions(self, kind: str, name_norm: str) -> tuple[list[Row], list[str]]:
        """One item in every month: the newest ``VERSIONS_SHOWN`` versions whole, and all the
        periods it appears in (newest first). Found by kind and name, not by key: an insight's
        or the radar's key carries its month, and its page shows each month's own."""
        with self.store.engine.connect() as conn:
            found = conn.execute(
                select(ItemRow.id, ItemRow.period)
                .where(
                    ItemRow.kind == kind,
                    ItemRow.name_norm == name_norm[:300],
                    ItemRow.removed.is_(False),
                )
                .order_by(ItemRow.period.desc())
            ).all()
            newest = [r.id for r in found[:VERSIONS_SHOWN]]
            rows = {
                r.id: Row(r.id, Item.from_dict(r.data), r.updated_at)
                for r in conn.execute(
                    select(ItemRow.id, ItemRow.data, ItemRow.updated_at).where(
                        ItemRow.id.in_(newest)
                    )
                )
            }
        return [rows[i] for i in newest if i in rows], [r.period for r in found]

    def theme(self, slug: str, page: int = 1) -> tuple[str | None, list[str], list[Row]]:
        """A theme's title, its periods (newest first), and the items of ``page``'s periods."""
        with self.store.engine.connect() as conn:
            periods = list(
                conn.execute(
                    select(ItemRow.period)
                    .where(ItemRow.theme == slug, ItemRow.removed.is_(False))
                    .group_by(ItemRow.period)
                    .order_by(ItemRow.period.desc())
                ).scalars()
            )
            shown = periods[(page - 1) * PERIODS_PER_PAGE : page * PERIODS_PER_PAGE]
            if not shown:
                return None, periods, []
            rows = conn.execute(
                select(ItemRow.id, ItemRow.data, ItemRow.updated_at)
                .where(
                    ItemRow.theme == slug,
                    ItemRow.period.in_(shown),
                    ItemRow.removed.is_(False),
                )
                .order_by(ItemRow.period.desc(), ItemRow.position)
            ).all()
        items = [Row(r.id, Item.from_dict(r.data), r.updated_at) for r in rows]
        title = items[0].item.theme_title if items else slug
        return title, periods, items

    def theme_title(self, slug: str) -> str | None:
        with self.store.engine.connect() as conn:
            return conn.execute(
                select(ItemRow.theme_title)
                .where(ItemRow.theme == slug, ItemRow.removed.is_(False))
                .order_by(ItemRow.period.desc())
                .limit(1)
            ).scalar()
