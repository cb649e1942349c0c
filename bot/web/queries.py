"""What the web pages and feeds read from the store. Synchronous; handlers run them in a thread.

The reads themselves are :mod:`bot.store.items` (each through an index, at most a page of rows);
this keeps a small cache of rendered reports on top.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass

from bot.store.items import (
    DatedItem,
    FeedEntry,
    ReportInfo,
    current_report,
    feed_entries,
    item_versions,
    period_rows,
    report_archive,
    report_markdown,
    theme_periods,
    theme_rows,
)
from bot.store.items import theme_title as read_theme_title
from bot.store.store import Store
from bot.web.markdown import Rendered, report_html

#: How many periods a theme page shows at a time; how many entries a feed has.
PERIODS_PER_PAGE = 6
FEED_SIZE = 50
#: An item page shows this many months whole; older months are listed with links.
VERSIONS_SHOWN = 12


@dataclass(frozen=True)
class ReportPage:
    info: ReportInfo
    rendered: Rendered
    items: list[DatedItem]


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
            return report_archive(conn)

    def report(self, period: str) -> ReportPage | None:
        """The current report of ``period``, rendered, with its items in report order."""
        with self.store.engine.connect() as conn:
            row = current_report(conn, period)
            if row is None:
                return None
            with self._lock:
                rendered = self._rendered.get(row.sha256)
                if rendered is not None:
                    self._rendered.move_to_end(row.sha256)
            if rendered is None:
                rendered = report_html(report_markdown(conn, row.id))
                with self._lock:
                    self._rendered[row.sha256] = rendered
                    while len(self._rendered) > self._cache_size:
                        self._rendered.popitem(last=False)
            items = period_rows(conn, period)
        counts = Counter(r.item.kind.value for r in items)
        info = ReportInfo(row.period, row.title, row.uploaded_at, row.item_count, counts)
        return ReportPage(info, rendered, items)

    def versions(self, kind: str, name_norm: str) -> tuple[list[DatedItem], list[str]]:
        """One item in every month: the newest ``VERSIONS_SHOWN`` versions whole, and all the
        periods it appears in (newest first)."""
        with self.store.engine.connect() as conn:
            return item_versions(conn, kind, name_norm, VERSIONS_SHOWN)

    def theme(self, slug: str, page: int = 1) -> tuple[str | None, list[str], list[DatedItem]]:
        """A theme's title, its periods (newest first), and the items of ``page``'s periods."""
        with self.store.engine.connect() as conn:
            periods = theme_periods(conn, slug)
            shown = periods[(page - 1) * PERIODS_PER_PAGE : page * PERIODS_PER_PAGE]
            if not shown:
                return None, periods, []
            items = theme_rows(conn, slug, shown)
        title = items[0].item.theme_title if items else slug
        return title, periods, items

    def theme_title(self, slug: str) -> str | None:
        with self.store.engine.connect() as conn:
            return read_theme_title(conn, slug)

    def feed(self, slug: str | None, size: int = FEED_SIZE) -> list[FeedEntry]:
        """The newest items (of a theme, or of all), newest period first, report order within."""
        with self.store.engine.connect() as conn:
            return feed_entries(conn, slug, size)
