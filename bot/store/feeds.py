"""What the web face's feeds read, and the version of the data every page and feed shows.

The feed query reads only the columns an entry shows (no item is decoded from its JSON), through
``items``' theme+period+position index, and at most one row per report of the periods in it.
:func:`data_version` is what conditional GETs compare: it changes whenever an upload, a
correction, a reparse or a removal changes anything a page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, func, select

from bot.store.models import ItemRow, ReportRow

#: How many entries a feed has.
FEED_SIZE = 50
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedEntry:
    """What a feed entry shows of an item.

    ``published`` is the report's date (its front matter ``date``, else the first day of its
    period); ``updated`` is ``published`` unless the item's text changed after its month was
    first uploaded, then when it changed.
    """

    kind: str
    theme: str
    period: str
    key: str
    name_norm: str
    title: str
    url: str | None
    summary: str
    published: datetime
    updated: datetime


@dataclass(frozen=True)
class DataVersion:
    """A stamp of everything the pages show: ``modified`` is the newest change's time."""

    modified: datetime
    reports: int
    newest_report: int

    @property
    def tag(self) -> str:
        return f"{self.modified.isoformat()}/{self.reports}/{self.newest_report}"


def aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes for aware columns; the store writes them in UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def report_date(meta: object, period: str) -> datetime | None:
    """A report's date: its front matter ``date`` (a day, or a time), else its period's first
    day; None when neither reads as a date."""
    raw = meta.get("date") if isinstance(meta, dict) else None
    for text in (str(raw).strip() if raw else "", f"{period}-01"):
        if not text:
            continue
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            try:
                day = date.fromisoformat(text[:10])
            except ValueError:
                continue
            when = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return aware(when)
    return None


def feed_entries(conn: Connection, theme: str | None, size: int = FEED_SIZE) -> list[FeedEntry]:
    """The newest items (of a theme, or of all), newest period first, report order within."""
    query = select(
        ItemRow.kind,
        ItemRow.theme,
        ItemRow.period,
        ItemRow.key,
        ItemRow.name_norm,
        ItemRow.title,
        ItemRow.url,
        ItemRow.summary,
        ItemRow.updated_at,
    ).where(ItemRow.removed.is_(False))
    if theme is not None:
        query = query.where(ItemRow.theme == theme)
    rows = conn.execute(query.order_by(ItemRow.period.desc(), ItemRow.position).limit(size)).all()
    periods = sorted({r.period for r in rows})
    dates: dict[str, datetime | None] = {}
    first: dict[str, datetime] = {}
    if periods:
        for period, meta in conn.execute(
            select(ReportRow.period, ReportRow.meta).where(
                ReportRow.period.in_(periods), ReportRow.is_current.is_(True)
            )
        ):
            dates[period] = report_date(meta, period)
        for period, uploaded in conn.execute(
            select(ReportRow.period, func.min(ReportRow.uploaded_at))
            .where(ReportRow.period.in_(periods))
            .group_by(ReportRow.period)
        ):
            first[period] = aware(uploaded)
    entries = []
    for r in rows:
        changed = aware(r.updated_at)
        uploaded = first.get(r.period, changed)
        published = dates.get(r.period) or uploaded
        updated = published
        if changed > uploaded:  # an item of the first upload has its very time
            updated = max(published, changed)
        entries.append(
            FeedEntry(
                r.kind,
                r.theme,
                r.period,
                r.key,
                r.name_norm,
                r.title,
                r.url,
                r.summary,
                published,
                updated,
            )
        )
    return entries


def feed_themes(conn: Connection) -> list[tuple[str, str]]:
    """Every theme with current items, as (slug, title), by slug."""
    rows = conn.execute(
        select(ItemRow.theme, func.max(ItemRow.theme_title))
        .where(ItemRow.removed.is_(False))
        .group_by(ItemRow.theme)
        .order_by(ItemRow.theme)
    )
    return [(str(slug), str(title or slug)) for slug, title in rows]


def data_version(conn: Connection) -> DataVersion:
    """The stamp of the data: the newest item change and upload, and the reports there are."""
    # Indexes answer each part: no scan of ``reports``, whose rows hold whole reports.
    newest_id = select(func.max(ReportRow.id)).scalar_subquery()
    changed, uploaded, reports, newest = conn.execute(
        select(
            select(func.max(ItemRow.updated_at)).scalar_subquery(),
            select(ReportRow.uploaded_at).where(ReportRow.id == newest_id).scalar_subquery(),
            select(func.count()).select_from(ReportRow).scalar_subquery(),
            newest_id,
        )
    ).one()
    times = [aware(t) for t in (changed, uploaded) if t is not None]
    return DataVersion(max(times, default=EPOCH), int(reports or 0), int(newest or 0))
