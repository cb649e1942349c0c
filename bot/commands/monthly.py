"""Month commands: /latest [MONTH], /highlights [MONTH] and /reports.

A month is written as ``2026-01``, ``2026/01``, ``202601``, ``Jan 2026`` or ``2026年1月``
(:func:`digests.periods.parse_month`); without one, the newest month is meant.
"""

from __future__ import annotations

from collections import Counter

from bot.commands.buttons import choices
from bot.commands.core import Request, command, echo
from bot.commands.lookups import joined, no_such_month
from bot.i18n import N_
from bot.store.items import current_kind_counts, period_items, periods_with
from bot.web.links import report_path
from digests import cards
from digests.items import MONTHLY_KINDS, Item, Kind
from digests.message import (
    WEB_LINK_TEXT,
    Block,
    BulletList,
    Context,
    Heading,
    Message,
    Paragraph,
    Span,
    command_span,
)
from digests.periods import parse_month

NO_REPORTS = N_("No reports yet. An admin can send me a report's .md file.")


def _counts(request: Request, counts: Counter[str]) -> str:
    order = [k.value for k in Kind]
    return request.words.join(
        cards.kind_count(k, n, request.words)
        for k, n in sorted(counts.items(), key=lambda kv: order.index(kv[0]))
    )


def _month(request: Request) -> tuple[str | None, Message | None]:
    """The month asked for (None: the newest), or the reply that explains what went wrong."""
    if not request.arg:
        return None, None
    month = parse_month(request.arg)
    if month is None:
        return None, Message.text(
            request._(
                "“{value}” is not a month. Write it as 2026-01, 2026/01, 202601, "
                "Jan 2026 or 2026年1月 — for example: /{command} 2026-01"
            ).format(value=echo(request.arg), command=request.name)
        )
    return month, no_such_month(request, month)


def _items(request: Request, period: str, kinds: tuple[Kind, ...] = ()) -> list[Item]:
    with request.services.store.engine.connect() as conn:
        return period_items(conn, period, kinds)


def _others(request: Request, periods: list[str], current: str, name: str) -> tuple[Block, ...]:
    others = [p for p in periods if p != current][:6]
    if not others:
        return ()
    months = joined((command_span(f"/{name} {p}") for p in others), request)
    return (Context((Span(request._("Other months: ")), *months)),)


@command(
    "latest",
    usage=N_("/latest [MONTH]"),
    example="/latest 2025-12",
    description=N_("what the newest report (or that month's) brought"),
)
def latest_command(request: Request) -> Message:
    month, problem = _month(request)
    if problem is not None:
        return problem
    reports = request.services.store.reports()
    if not reports:
        return Message.text(request._(NO_REPORTS))
    report = next((r for r in reports if r.period == month), reports[0])
    items = _items(request, report.period)
    counts = Counter(i.kind.value for i in items)
    blocks: list[Block] = [
        Heading(f"{report.title or request._('Report')} ({report.period})"),
        Paragraph((Span(_counts(request, counts)),)),
    ]
    radar = [i for i in items if i.kind is Kind.RADAR]
    if radar:
        blocks.append(Paragraph(cards.inline(radar[0].summary)))
    by_theme: dict[str, list[Item]] = {}
    slugs: dict[str, str] = {}
    for item in items:
        if item.kind in (Kind.MODEL, Kind.TOPIC, Kind.INSIGHT):
            by_theme.setdefault(item.theme_title, []).append(item)
            slugs.setdefault(item.theme, item.theme_title)
    newest = report.period == reports[0].period
    for title, theme_items in by_theme.items():
        blocks.append(Paragraph((Span(cards.theme_label(title, request.words), bold=True),)))
        blocks.append(
            BulletList(
                tuple(
                    (
                        Span(i.title, url=i.url),
                        Span(" "),
                        command_span(
                            cards.command_for(
                                i, None if newest or i.kind in MONTHLY_KINDS else i.period
                            )
                        ),
                    )
                    for i in theme_items
                )
            )
        )
    if slugs:
        # each theme one press away: its next digest in this chat
        blocks.append(
            choices(
                (request._("Preview: {theme}").format(theme=slug), f"/digest {slug}")
                for slug in slugs
            )
        )
    blocks.extend(_others(request, [r.period for r in reports], report.period, "latest"))
    web = request.services.web
    link = web.url(report_path(report.period)) if web is not None else None
    return Message(tuple(blocks), web_url=link, web_label=request._(WEB_LINK_TEXT))


@command(
    "highlights",
    usage=N_("/highlights [MONTH]"),
    example="/highlights 2025-12",
    description=N_("a month's insights and industry radar"),
)
def highlights_command(request: Request) -> Message:
    month, problem = _month(request)
    if problem is not None:
        return problem
    with request.services.store.engine.connect() as conn:
        periods = periods_with(conn, MONTHLY_KINDS)
    if not periods:
        return Message.text(request._("No highlights yet: no report has insights or a radar."))
    period = month or periods[0]
    items = _items(request, period, tuple(MONTHLY_KINDS))
    if not items:
        return Message(
            (
                Paragraph(
                    (Span(request._("The {month} report has no highlights.").format(month=period)),)
                ),
                *_others(request, periods, period, "highlights"),
            )
        )
    return cards.highlights_message(period, items, periods, words=request.words)


@command(
    "reports",
    usage="/reports",
    example="/reports",
    description=N_("the months there are reports for, with their counts"),
)
def reports_command(request: Request) -> Message:
    words = request.arg.split()
    if words and words[0].lower() == "remove":
        return remove_report(request, words[1:])
    reports = request.services.store.reports()
    if not reports:
        return Message.text(request._(NO_REPORTS))
    with request.services.store.engine.connect() as conn:
        counts = current_kind_counts(conn)
    bullets: list[tuple[Span, ...]] = []
    for r in reports:
        line: list[Span] = [
            Span(r.period, bold=True),
            Span(f" — {_counts(request, counts.get(r.period, Counter()))} · "),
            command_span(f"/latest {r.period}"),
        ]
        if request.is_bot_admin:
            line.append(
                Span(
                    request._(" · {warnings}, uploaded by {who} on {when} · sha256 {sha}").format(
                        warnings=request.ngettext(
                            "{n} warning", "{n} warnings", r.warning_count
                        ).format(n=r.warning_count),
                        who=r.uploaded_by,
                        when=f"{r.uploaded_at:%Y-%m-%d %H:%M}",
                        sha=r.sha256[:12],
                    )
                )
            )
        bullets.append(tuple(line))
    return Message((Heading(request._("Reports")), BulletList(tuple(bullets))))


#: The word a confirmation button adds to ``/reports remove MONTH``.
CONFIRM = "confirm"


def remove_report(request: Request, words: list[str]) -> Message:
    """``/reports remove MONTH``: bot admins only; asks first, with a button that confirms."""
    if not request.is_bot_admin:
        return Message.text(request._("Only bot admins remove reports."), notice=True)
    confirmed = bool(words) and words[-1].lower() == CONFIRM
    if confirmed:
        words = words[:-1]
    if len(words) != 1:
        return Message.text(
            request._("Say which month to remove, e.g. {example}").format(
                example=request.typed("/reports remove 2026-01")
            )
        )
    month = parse_month(words[0])
    if month is None:
        return Message.text(
            request._(
                "“{value}” is not a month. Write it as 2026-01, for example: {example}"
            ).format(value=echo(words[0]), example=request.typed("/reports remove 2026-01"))
        )
    missing = no_such_month(request, month)
    if missing is not None:
        return missing
    store = request.services.store
    if not confirmed:
        with store.engine.connect() as conn:
            n = sum(current_kind_counts(conn).get(month, Counter()).values())
        items = cards.kind_count("item", n, request.words)
        return Message(
            (
                Paragraph(
                    (
                        Span(
                            request._(
                                "Remove the {month} report and its {items}? They leave every "
                                "answer, digest, page and feed; what chats were already sent is "
                                "never sent again."
                            ).format(month=month, items=items)
                        ),
                    )
                ),
                choices(
                    [
                        (
                            request._("Remove {month}").format(month=month),
                            f"/reports remove {month} {CONFIRM}",
                        )
                    ]
                ),
            )
        )
    removed = store.remove_periods([month])
    items = cards.kind_count("item", removed.get(month, 0), request.words)
    return Message.text(
        request._("Removed the {month} report and its {items}.").format(month=month, items=items)
    )
