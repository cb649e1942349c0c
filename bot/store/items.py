"""Reading reports and their items back: a month's items, a theme's months, an item's versions,
counts by kind, feed entries. What the month and lookup commands, the home page and the web face
show; the writing side is :class:`bot.store.store.Store`.

Every query goes through an index (``items``: period+key, theme+period+position, kind+key) and
reads at most a page of rows, so commands and pages stay fast over years of reports. Functions
take a connection; removed items are never read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from bot.store.models import ItemRow, ReportRow
from digests.items import Item, Kind


@dataclass(frozen=True)
class DatedItem:
    """An item as a page shows it: the item, its row id and when it last changed."""

    id: int
    item: Item
    updated_at: datetime


@dataclass(frozen=True)
class ReportInfo:
    """A current report as the archive lists it, with its items counted by kind."""

    period: str
    title: str
    uploaded_at: datetime
    item_count: int
    counts: Counter[str]


@dataclass(frozen=True)
class CurrentReport:
    """The current report of a month, without its Markdown (see :func:`report_markdown`)."""

    id: int
    period: str
    title: str
    uploaded_at: datetime
    item_count: int
    sha256: str


def _kind_values(kinds: Iterable[Kind]) -> list[str]:
    return [k.value for k in kinds]


# -- a month --------------------------------------------------------------------------------------


def period_items(
    conn: Connection, period: str, kinds: Collection[Kind] = (), limit: int | None = None
) -> list[Item]:
    """The items of ``period`` (only ``kinds``, when given), in report order."""
    query = select(ItemRow.data).where(ItemRow.period == period, ItemRow.removed.is_(False))
    if kinds:
        query = query.where(ItemRow.kind.in_(_kind_values(kinds)))
    query = query.order_by(ItemRow.position)
    if limit is not None:
        query = query.limit(limit)
    return [Item.from_dict(d) for d in conn.execute(query).scalars()]


def period_rows(conn: Connection, period: str) -> list[DatedItem]:
    """The items of ``period`` with their ids and change times, in report order."""
    return [
        DatedItem(r.id, Item.from_dict(r.data), r.updated_at)
        for r in conn.execute(
            select(ItemRow.id, ItemRow.data, ItemRow.updated_at)
            .where(ItemRow.period == period, ItemRow.removed.is_(False))
            .order_by(ItemRow.position)
        )
    ]


def periods_with(conn: Connection, kinds: Collection[Kind]) -> list[str]:
    """The months that have an item of one of ``kinds``, newest first."""
    return list(
        conn.execute(
            select(ItemRow.period)
            .where(ItemRow.kind.in_(_kind_values(kinds)), ItemRow.removed.is_(False))
            .distinct()
            .order_by(ItemRow.period.desc())
        ).scalars()
    )


def topic_papers(conn: Connection, topic: Item) -> list[Item]:
    """The papers a topic lists: its month's papers of its theme that name the topic."""
    rows = conn.execute(
        select(ItemRow.data)
        .where(
            ItemRow.kind == Kind.PAPER.value,
            ItemRow.period == topic.period,
            ItemRow.theme == topic.theme,
            ItemRow.removed.is_(False),
        )
        .order_by(ItemRow.position)
    ).scalars()
    return [p for p in (Item.from_dict(d) for d in rows) if p.topic == topic.title]


# -- counts ---------------------------------------------------------------------------------------


def current_kind_counts(conn: Connection) -> dict[str, Counter[str]]:
    """Each month's items of its current report, counted by kind (period -> kind -> n)."""
    counts: dict[str, Counter[str]] = {}
    for period, kind, n in conn.execute(
        select(ItemRow.period, ItemRow.kind, func.count())
        .join(ReportRow, ReportRow.id == ItemRow.report_id)
        .where(ItemRow.removed.is_(False), ReportRow.is_current.is_(True))
        .group_by(ItemRow.period, ItemRow.kind)
    ):
        counts.setdefault(period, Counter())[kind] = n
    return counts


def theme_kind_counts(conn: Connection) -> tuple[dict[str, str], dict[str, Counter[str]]]:
    """Every theme's title (slug -> title) and its items counted by kind (slug -> kind -> n);
    an item in several months counts once."""
    titles: dict[str, str] = {}
    counts: dict[str, Counter[str]] = {}
    for theme, title, kind, n in conn.execute(
        select(
            ItemRow.theme,
            func.max(ItemRow.theme_title),
            ItemRow.kind,
            func.count(func.distinct(ItemRow.key)),
        )
        .where(ItemRow.removed.is_(False))
        .group_by(ItemRow.theme, ItemRow.kind)
    ):
        titles[theme] = title
        counts.setdefault(theme, Counter())[kind] = n
    return titles, counts


# -- reports --------------------------------------------------------------------------------------


def report_archive(conn: Connection) -> tuple[list[ReportInfo], dict[str, tuple[str, int]]]:
    """Every current report, newest first, with item counts by kind; and the themes
    (slug -> (title, item count))."""
    reports = conn.execute(
        select(ReportRow.period, ReportRow.title, ReportRow.uploaded_at, ReportRow.item_count)
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
        ReportInfo(r.period, r.title, r.uploaded_at, r.item_count, counts.get(r.period, Counter()))
        for r in reports
    ]
    return infos, dict(sorted(themes.items()))


def current_report(conn: Connection, period: str) -> CurrentReport | None:
    """The current report of ``period``, or None."""
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
    return None if row is None else CurrentReport(*row)


def report_markdown(conn: Connection, report_id: int) -> str:
    """The Markdown a report was read from."""
    markdown: str = conn.execute(
        select(ReportRow.markdown).where(ReportRow.id == report_id)
    ).scalar_one()
    return markdown


# -- an item over the months ----------------------------------------------------------------------


def item_versions(
    conn: Connection, kind: str, name_norm: str, shown: int
) -> tuple[list[DatedItem], list[str]]:
    """One item in every month: its newest ``shown`` versions whole, and all the periods it
    appears in (newest first). Found by kind and name (any of its names: a paper merged from
    two titles answers at both pages), then every copy of those keys; an insight's or the radar's
    key carries its month, so its page shows each month's own."""
    keys = select(ItemRow.key).where(
        ItemRow.kind == kind, ItemRow.name_norm == name_norm[:300], ItemRow.removed.is_(False)
    )
    found = conn.execute(
        select(ItemRow.id, ItemRow.period)
        .where(ItemRow.kind == kind, ItemRow.key.in_(keys), ItemRow.removed.is_(False))
        .order_by(ItemRow.period.desc())
    ).all()
    newest = [r.id for r in found[:shown]]
    rows = {
        r.id: DatedItem(r.id, Item.from_dict(r.data), r.updated_at)
        for r in conn.execute(
            select(ItemRow.id, ItemRow.data, ItemRow.updated_at).where(ItemRow.id.in_(newest))
        )
    }
    return [rows[i] for i in newest if i in rows], [r.period for r in found]


# -- a theme --------------------------------------------------------------------------------------


def theme_periods(conn: Connection, slug: str) -> list[str]:
    """The months theme ``slug`` has items in, newest first."""
    return list(
        conn.execute(
            select(ItemRow.period)
            .where(ItemRow.theme == slug, ItemRow.removed.is_(False))
            .group_by(ItemRow.period)
            .order_by(ItemRow.period.desc())
        ).scalars()
    )


def theme_rows(conn: Connection, slug: str, periods: Collection[str]) -> list[DatedItem]:
    """Theme ``slug``'s items in ``periods``, newest period first, report order within."""
    return [
        DatedItem(r.id, Item.from_dict(r.data), r.updated_at)
        for r in conn.execute(
            select(ItemRow.id, ItemRow.data, ItemRow.updated_at)
            .where(
                ItemRow.theme == slug,
                ItemRow.period.in_(list(periods)),
                ItemRow.removed.is_(False),
            )
            .order_by(ItemRow.period.desc(), ItemRow.position)
        )
    ]


def theme_title(conn: Connection, slug: str) -> str | None:
    """Theme ``slug``'s title in its newest month, or None when it has no items."""
    title: str | None = conn.execute(
        select(ItemRow.theme_title)
        .where(ItemRow.theme == slug, ItemRow.removed.is_(False))
        .order_by(ItemRow.period.desc())
        .limit(1)
    ).scalar()
    return title
