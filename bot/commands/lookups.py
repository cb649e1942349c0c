"""Lookup commands: /model, /paper, /topic, /search, /themes, /latest, /reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import func, select

from bot.commands.core import Request, command, echo
from bot.i18n import N_
from bot.store.models import ItemRow, ReportRow
from bot.store.search import Match
from digests import cards
from digests.items import Item, Kind
from digests.message import Block, BulletList, Context, Divider, Heading, Message, Paragraph, Span

CLEAR = 88.0  # a fuzzy score this high, well ahead of the next, is "the one you meant"
CLOSE = 72.0  # scores from here up are offered in a pick list


def _card(request: Request, match: Match) -> Message:
    item = match.item.item
    papers: list[Item] = []
    if item.kind is Kind.TOPIC:
        papers = _papers_of(request, item)
    return cards.card(item, other_periods=match.periods[1:], papers=papers, words=request.words)


def _several(request: Request, kind: Kind, query: str) -> str:
    match kind:
        case Kind.MODEL:
            text = request._("Several models match “{query}”. Which one?")
        case Kind.PAPER:
            text = request._("Several papers match “{query}”. Which one?")
        case _:
            text = request._("Several topics match “{query}”. Which one?")
    return text.format(query=echo(query))


def _none(request: Request, kind: Kind, query: str) -> str:
    match kind:
        case Kind.MODEL:
            text = request._("No model matches “{query}”.")
        case Kind.PAPER:
            text = request._("No paper matches “{query}”.")
        case _:
            text = request._("No topic matches “{query}”.")
    return text.format(query=echo(query))


def _pick_list(request: Request, kind: Kind, query: str, matches: list[Match]) -> Message:
    bullets = tuple(
        (
            Span(m.item.item.title, bold=True, url=m.item.item.url),
            Span(f" — {request.words.join(m.periods)} — "),
            Span(cards.command_for(m.item.item), code=True),
        )
        for m in matches[:8]
    )
    return Message((Paragraph((Span(_several(request, kind, query)),)), BulletList(bullets)))


def _closest_hint(request: Request, kind: Kind, query: str, closest: list[Match]) -> Message:
    blocks: list[Block] = [Paragraph((Span(_none(request, kind, query)),))]
    if closest:
        names = _join(request, (Span(m.item.item.title, code=True) for m in closest[:5]))
        blocks.append(Paragraph((Span(request._("Closest: ")), *names)))
    blocks.append(
        Context(
            (
                Span(request._("Search all text instead: ")),
                Span(f"/search {echo(query, 40)}", code=True),
            )
        )
    )
    return Message(tuple(blocks))


def _join(request: Request, items: Iterable[Span]) -> tuple[Span, ...]:
    out: list[Span] = []
    separator = request.words.join(("", ""))
    for n, span in enumerate(items):
        if n:
            out.append(Span(separator))
        out.append(span)
    return tuple(out)


def _resolve(request: Request, kind: Kind, query: str) -> Message:
    """The forgiving lookup shared by /model, /paper and /topic."""
    finder = request.services.finder
    if query.startswith(("http://", "https://")) or "arxiv.org/" in query:
        found = finder.by_url(kind.value, query)
        if found:
            return _card(request, found[0])
    for step in (finder.by_name, finder.by_prefix):
        found = step(kind.value, query)
        if len(found) == 1:
            return _card(request, found[0])
        if found:
            return _pick_list(request, kind, query, found)
    if kind is not Kind.MODEL:
        hits = finder.search(query, kind=kind.value, limit=6)
        if len(hits) == 1:
            return _card(request, finder.by_name(kind.value, hits[0].item.title)[0])
        if hits:
            matches = [m for h in hits for m in finder.by_name(kind.value, h.item.title)[:1]]
            unique = list({m.item.item.key: m for m in matches}.values())
            return _pick_list(request, kind, query, unique)
    fuzzy = finder.fuzzy(kind.value, query, cutoff=40.0)
    close = [m for m in fuzzy if m.score >= CLOSE]
    if (
        close
        and close[0].score >= CLEAR
        and (len(close) == 1 or close[1].score < close[0].score - 5)
    ):
        return _card(request, close[0])
    if close:
        return _pick_list(request, kind, query, close)
    closest = fuzzy or finder.fuzzy(kind.value, query, limit=3, cutoff=0)
    return _closest_hint(request, kind, query, closest)


@command(
    "model",
    usage="/model NAME",
    example="/model GLM-4.7",
    needs_arg=True,
    description=N_("a model's card (forgiving: glm4.7, kimi k2)"),
)
def model_command(request: Request) -> Message:
    return _resolve(request, Kind.MODEL, request.arg)


@command(
    "paper",
    usage="/paper QUERY",
    example="/paper rubrics as rewards",
    needs_arg=True,
    description=N_("a paper's card, by title words, short name or link"),
)
def paper_command(request: Request) -> Message:
    return _resolve(request, Kind.PAPER, request.arg)


@command(
    "topic",
    usage="/topic QUERY",
    example="/topic Agent Memory",
    needs_arg=True,
    description=N_("a topic's trend, practice value and papers"),
)
def topic_command(request: Request) -> Message:
    return _resolve(request, Kind.TOPIC, request.arg)


@command(
    "search",
    usage="/search TEXT",
    example="/search 蒸馏",
    needs_arg=True,
    description=N_("the best items for Chinese or English text"),
)
def search_command(request: Request) -> Message:
    hits = request.services.finder.search(request.arg, limit=6)
    if not hits:
        return Message.text(
            request._("Nothing matches “{query}”. Try fewer or other words.").format(
                query=echo(request.arg)
            )
        )
    heading = request._("Search: {query}").format(query=echo(request.arg, 80))
    blocks: list[Block] = [Heading(heading)]
    for n, hit in enumerate(hits):
        if n:
            blocks.append(Divider())
        item = hit.item
        kind = cards.kind_name(item.kind, request.words)
        blocks.append(Context((Span(f"{kind} · {item.period} · {item.theme_title}"),)))
        blocks.extend(cards.digest_entry(item, request.words))
    return Message(tuple(blocks))


def _papers_of(request: Request, topic: Item) -> list[Item]:
    store = request.services.store
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(ItemRow.id, ItemRow.data)
            .where(
                ItemRow.kind == Kind.PAPER.value,
                ItemRow.period == topic.period,
                ItemRow.theme == topic.theme,
                ItemRow.removed.is_(False),
            )
            .order_by(ItemRow.position)
        ).all()
    return [p for p in (Item.from_dict(r.data) for r in rows) if p.topic == topic.title]


@command(
    "themes",
    usage="/themes",
    example="/themes",
    description=N_("the themes and how to subscribe"),
)
def themes_command(request: Request) -> Message:
    store = request.services.store
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(ItemRow.theme, func.max(ItemRow.theme_title), ItemRow.kind, func.count())
            .where(ItemRow.removed.is_(False))
            .group_by(ItemRow.theme, ItemRow.kind)
        ).all()
    if not rows:
        return Message.text(request._("No reports yet. An admin can send me a report's .md file."))
    titles: dict[str, str] = {}
    counts: dict[str, Counter[str]] = {}
    for theme, title, kind, n in rows:
        titles[theme] = title
        counts.setdefault(theme, Counter())[kind] = n
    bullets = tuple(
        (
            Span(slug, code=True),
            Span(f" — {titles[slug]}: "),
            Span(_counts(request, counts[slug])),
        )
        for slug in sorted(titles)
    )
    return Message(
        (
            Heading(request._("Themes")),
            BulletList(bullets),
            Context(
                (
                    Span(request._("Subscribe to a weekly digest: ")),
                    Span("/subscribe clay mon 09:00", code=True),
                )
            ),
        )
    )


def _current_reports(request: Request) -> list[ReportRow]:
    return request.services.store.reports()


def _counts(request: Request, counts: Counter[str]) -> str:
    """``8 models, 1 paper``: counts per kind, plurals right."""
    return request.words.join(
        cards.kind_count(k, n, request.words) for k, n in sorted(counts.items())
    )


@command(
    "latest",
    usage="/latest",
    example="/latest",
    description=N_("what the newest report brought"),
)
def latest_command(request: Request) -> Message:
    reports = _current_reports(request)
    if not reports:
        return Message.text(request._("No reports yet. An admin can send me a report's .md file."))
    newest = reports[0]
    store = request.services.store
    with store.engine.connect() as conn:
        rows = (
            conn.execute(
                select(ItemRow.data)
                .where(ItemRow.period == newest.period, ItemRow.removed.is_(False))
                .order_by(ItemRow.position)
            )
            .scalars()
            .all()
        )
    items = [Item.from_dict(d) for d in rows]
    counts = Counter(i.kind.value for i in items)
    blocks: list[Block] = [
        Heading(f"{newest.title or request._('Report')} ({newest.period})"),
        Paragraph((Span(_counts(request, counts)),)),
    ]
    radar = [i for i in items if i.kind is Kind.RADAR]
    if radar:
        blocks.append(Paragraph(cards.inline(radar[0].summary)))
    by_theme: dict[str, list[Item]] = {}
    for item in items:
        if item.kind in (Kind.MODEL, Kind.TOPIC, Kind.INSIGHT):
            by_theme.setdefault(item.theme_title, []).append(item)
    for title, theme_items in by_theme.items():
        blocks.append(Paragraph((Span(title, bold=True),)))
        blocks.append(
            BulletList(
                tuple(
                    (Span(i.title, url=i.url), Span(" "), Span(cards.command_for(i), code=True))
                    for i in theme_items
                )
            )
        )
    others = [r.period for r in reports[1:6]]
    if others:
        earlier = request._("Earlier months: {periods}").format(periods=request.words.join(others))
        blocks.append(Context((Span(earlier),)))
    return Message(tuple(blocks))


@command(
    "reports",
    usage="/reports",
    example="/reports",
    admin_only=True,
    description=N_("the ingested reports (admins)"),
)
def reports_command(request: Request) -> Message:
    reports = _current_reports(request)
    if not reports:
        return Message.text(request._("No reports yet. Send me a report's .md file to ingest it."))
    words = request.words
    bullets = tuple(
        (
            Span(r.period, bold=True),
            Span(
                request._(
                    " — {items}, {warnings}, uploaded by {who} on {when} · sha256 {sha}"
                ).format(
                    items=cards.kind_count("item", r.item_count, words),
                    warnings=_warnings(request, r.warning_count),
                    who=r.uploaded_by,
                    when=f"{r.uploaded_at:%Y-%m-%d %H:%M}",
                    sha=r.sha256[:12],
                )
            ),
        )
        for r in reports
    )
    return Message((Heading(request._("Reports")), BulletList(bullets)))


def _warnings(request: Request, n: int) -> str:
    return request.ngettext("{n} warning", "{n} warnings", n).format(n=request.words.number(n))
