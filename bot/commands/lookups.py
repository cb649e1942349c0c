"""Lookup commands: /model, /paper, /topic, /search, /themes (month commands: bot/monthly.py).

Each of /model, /paper and /topic takes a month after its query (``/model GLM-4.7 2025-12``) and
an item's link or arXiv id in any form in place of a name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from rapidfuzz import fuzz

from bot.commands.buttons import card_buttons, choices, item_choices, search_page
from bot.commands.core import Request, command, echo
from bot.i18n import N_
from bot.store.items import theme_kind_counts, topic_papers
from bot.store.search import Match
from digests import cards, names
from digests.items import Item, Kind
from digests.message import (
    Block,
    BulletList,
    Context,
    Heading,
    Message,
    Paragraph,
    Span,
    command_span,
)
from digests.periods import arxiv_id, looks_like_link, split_month
from digests.text import normalize_name

CLEAR = 88.0  # a fuzzy score this high, well ahead of the next, is "the one you meant"
CLOSE = 72.0  # scores from here up are offered in a pick list
#: Names below this rapidfuzz WRatio score are never suggested: "llama" is not "Mistral Large 3".
SUGGEST = 66.0
#: A search hit this many times the next one's score is answered with its card.
CLEAR_HIT = 1.5


def _card(
    request: Request, match: Match, asked: Kind, query: str, *, fuzzy: bool = False
) -> Message:
    item = match.item.item
    papers: list[Item] = []
    if item.kind is Kind.TOPIC:
        papers = _papers_of(request, item)
    web = request.services.web
    message = cards.card(
        item,
        other_periods=match.periods,
        papers=papers,
        web_url=web.item_url(item) if web is not None else None,
        words=request.words,
    )
    notes: list[Block] = []
    if item.kind is not asked:
        notes.append(
            Context(
                (
                    Span(
                        request._("That link is a {kind}'s, not a {asked}'s: ").format(
                            kind=cards.kind_name(item.kind, request.words),
                            asked=cards.kind_name(asked, request.words),
                        )
                    ),
                    command_span(cards.command_for(item)),
                )
            )
        )
    elif fuzzy and normalize_name(query) not in _names(item):
        closest = request._("Closest match for “{query}”").format(query=echo(query))
        notes.append(Context((Span(closest),)))
    if notes:
        head, *rest = message.blocks
        message = replace(message, blocks=(head, *notes, *rest))
    message = card_buttons(request, message, match)
    if papers:
        # a topic's papers, each one press away (after More and the other months)
        message = replace(
            message,
            blocks=(
                *message.blocks,
                item_choices(request, ((p, cards.command_for(p)) for p in papers)),
            ),
        )
    return message


def _names(item: Item) -> set[str]:
    return {normalize_name(n) for n in (item.title, *item.aliases)}


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


def _pick_list(
    request: Request,
    kind: Kind,
    query: str,
    matches: list[Match],
    month: str | None,
    *,
    exact: bool = True,
) -> Message:
    """Several items to choose from: "Several … match" when each of them is named by the query,
    "Did you mean" when they were found by their text or a similar name."""
    shown = matches[:8]
    bullets = tuple(
        (
            Span(m.item.item.title, bold=True, url=m.item.item.url),
            Span(f" — {request.words.join(m.periods)} — "),
            command_span(cards.command_for(m.item.item, month)),
        )
        for m in shown
    )
    if exact:
        lead = _several(request, kind, query)
    else:
        lead = request._("Did you mean one of these? (nothing is named “{query}”)").format(
            query=echo(query)
        )
    return Message(
        (
            Paragraph((Span(lead),)),
            BulletList(bullets),
            item_choices(
                request, ((m.item.item, cards.command_for(m.item.item, month)) for m in shown)
            ),
        ),
    )


def _closest_hint(request: Request, kind: Kind, query: str, closest: list[Match]) -> Message:
    blocks: list[Block] = [Paragraph((Span(_none(request, kind, query)),))]
    if closest:
        names = joined((command_span(cards.command_for(m.item.item)) for m in closest[:5]), request)
        blocks.append(Paragraph((Span(request._("Closest: ")), *names)))
    blocks.append(
        Context(
            (
                Span(request._("Search all text instead: ")),
                command_span(f"/search {echo(query, 40)}"),
            )
        )
    )
    return Message(tuple(blocks))


def joined(items: Iterable[Span], request: Request | None = None) -> tuple[Span, ...]:
    """Spans separated by commas (``、`` in Chinese, given the request)."""
    separator = request.words.join(("", "")) if request is not None else ", "
    out: list[Span] = []
    for n, span in enumerate(items):
        if n:
            out.append(Span(separator))
        out.append(span)
    return tuple(out)


def _unique(matches: Iterable[Match]) -> list[Match]:
    return list({(m.item.item.kind, m.item.item.key): m for m in matches}.values())


def _answer(
    request: Request,
    kind: Kind,
    query: str,
    matches: list[Match],
    month: str | None,
    *,
    fuzzy: bool = False,
    exact: bool = True,
) -> Message:
    """One match is answered with its card (that month's copy when a month was asked for);
    several give a pick list."""
    matches = _unique(matches)
    if month:
        finder = request.services.finder
        in_month = [m for m in (finder.in_period(m, month) for m in matches) if m is not None]
        if not in_month:
            return _not_in_month(request, kind, query, matches, month)
        matches = in_month
    if not matches:  # gone since they were found: nothing to offer, no "Did you mean"
        return _closest_hint(request, kind, query, [])
    if len(matches) == 1:
        return _card(request, matches[0], kind, query, fuzzy=fuzzy)
    return _pick_list(request, kind, query, matches, month, exact=exact)


def _not_in_month(
    request: Request, kind: Kind, query: str, matches: list[Match], month: str
) -> Message:
    spans: list[Span] = []
    for m in matches[:5]:
        for period in m.periods:
            spans.append(command_span(cards.command_for(m.item.item, period)))
    what = matches[0].item.item.title if len(matches) == 1 else f"“{echo(query)}”"
    return Message(
        (
            Paragraph(
                (
                    Span(
                        request._("The {month} report has no {kind} {what}.").format(
                            month=month, kind=cards.kind_name(kind, request.words), what=what
                        )
                    ),
                )
            ),
            Paragraph((Span(request._("It is in: ")), *joined(spans, request))),
        )
    )


def no_such_month(request: Request, month: str) -> Message | None:
    """None when ``month`` has a report, else a reply listing the months there are."""
    periods = [r.period for r in request.services.store.reports()]
    if month in periods:
        return None
    if not periods:
        return Message.text(request._("No reports yet. An admin can send me a report's .md file."))
    months = joined((command_span(f"/latest {p}") for p in periods), request)
    return Message(
        (
            Paragraph((Span(request._("There is no report for {month}.").format(month=month)),)),
            Paragraph((Span(request._("Months: ")), *months)),
        )
    )


def _resolve(request: Request, kind: Kind, arg: str) -> Message:
    """The forgiving lookup shared by /model, /paper and /topic, with an optional month."""
    query, month = split_month(arg)
    if not query:
        name = request._("NAME")
        return Message.text(
            request._("Which {kind}? For example: {example}").format(
                kind=cards.kind_name(kind, request.words),
                example=request.typed(f"/{kind.value} {name} {month}"),
            )
        )
    if month and (missing := no_such_month(request, month)) is not None:
        return missing
    finder = request.services.finder
    if looks_like_link(query):
        found = finder.by_link(query)
        if found:
            same = [m for m in found if m.item.item.kind is kind]
            return _answer(request, kind, query, same or found, month)
        if arxiv_id(query) or query.startswith(("http://", "https://")):
            return Message(
                (
                    Paragraph(
                        (Span(request._("No item links to “{query}”.").format(query=echo(query))),)
                    ),
                    Context(
                        (
                            Span(request._("Search all text instead: ")),
                            command_span("/search " + query),
                        )
                    ),
                )
            )
    for step in (finder.by_name, finder.by_prefix):
        found = step(kind.value, query)
        if found:
            return _answer(request, kind, query, found, month)
    if kind is Kind.MODEL:
        return _resolve_model(request, query, month)
    hits = finder.hits(query, kind=kind.value, limit=6)
    if hits:
        found = finder.matches(kind.value, [h.item.item.key for h in hits])
        # a hit far ahead of the next is the one meant; else the reader chooses
        clear = len(hits) == 1 or hits[0].score >= CLEAR_HIT * hits[1].score
        return _answer(
            request, kind, query, found[:1] if clear else found, month, fuzzy=True, exact=False
        )
    fuzzy = finder.fuzzy(kind.value, query, cutoff=SUGGEST)
    close = [m for m in fuzzy if m.score >= CLOSE]
    if (
        close
        and close[0].score >= CLEAR
        and (len(close) == 1 or close[1].score < close[0].score - 5)
    ):
        return _answer(request, kind, query, close[:1], month, fuzzy=True)
    if close:
        return _answer(request, kind, query, close, month, fuzzy=True, exact=False)
    return _closest_hint(request, kind, query, fuzzy)


def _resolve_model(request: Request, query: str, month: str | None) -> Message:
    """A model by family and version (``digests.names``): the query's family must be a model's
    (or a typo of it) and its version, if it has one, that model's. Other words narrow the
    family by its names (``longcat omni``), else by its text (``GLM 思考模式``). No fitting
    model: it says so, with the family's models and what the text search finds."""
    finder = request.services.finder
    asked = names.parse(query)
    family: dict[str, names.ModelName] = {}
    for candidates in names.family_of(asked, finder.model_families()):
        for key, parsed in candidates:
            family.setdefault(key, parsed)
    fitting = {key: n for key, n in family.items() if asked.version_fits(n)}
    if asked.words and fitting:
        named = {key: sum(_names_word(w, n) for w in asked.words) for key, n in fitting.items()}
        most = max(named.values())
        if most:
            fitting = {key: fitting[key] for key, score in named.items() if score == most}
        else:
            hits = finder.hits(query, kind=Kind.MODEL.value, limit=10)
            best = [h.item.item.key for h in hits if h.item.item.key in fitting]
            if not best:
                return _no_model(request, query, _some(request, family))
            return _answer(
                request,
                Kind.MODEL,
                query,
                finder.matches(Kind.MODEL.value, best[:1]),
                month,
                fuzzy=True,
            )
    if not fitting:
        return _no_model(request, query, _some(request, family))
    if asked.version and not asked.words:
        # "deepsek v3.2": the one of that very version without other words, when there is one
        plain = [k for k, n in fitting.items() if not n.words and n.version == asked.version]
        if len(plain) == 1:
            fitting = {plain[0]: fitting[plain[0]]}
    found = _some(request, fitting, 8)
    return _answer(request, Kind.MODEL, query, found, month, fuzzy=True)


def _some(request: Request, models: dict[str, names.ModelName], most: int = 6) -> list[Match]:
    """At most ``most`` of these models (by key: a pick list shows no more)."""
    return request.services.finder.matches(Kind.MODEL.value, sorted(models)[:most])


def _names_word(word: str, name: names.ModelName) -> bool:
    """Whether one of ``name``'s other words is ``word`` (or a typo of it)."""
    return any(
        w == word or (len(word) >= 4 and fuzz.ratio(w, word) >= names.FAMILY_LIKE)
        for w in name.words
    )


def _no_model(request: Request, query: str, family: list[Match]) -> Message:
    """No model is named ``query``: say so, with the models of its family and the search hits."""
    blocks: list[Block] = [
        Paragraph(
            (Span(request._("No model “{query}” in the reports.").format(query=echo(query))),)
        )
    ]
    offered: list[tuple[Item, str]] = []
    if family:
        spans = [command_span(cards.command_for(m.item.item)) for m in family[:6]]
        blocks.append(
            Paragraph((Span(request._("Models of that family: ")), *joined(spans, request)))
        )
        offered.extend((m.item.item, cards.command_for(m.item.item)) for m in family[:6])
    listed = {(m.item.item.kind, m.item.item.key) for m in family}
    hits = [
        h
        for h in request.services.finder.search(query, limit=5 + len(listed))
        if (h.item.kind, h.item.key) not in listed
    ][:5]
    if hits:
        spans = [command_span(cards.command_for(h.item)) for h in hits]
        blocks.append(Paragraph((Span(request._("Found in the text: ")), *joined(spans, request))))
        offered.extend((h.item, cards.command_for(h.item)) for h in hits)
    blocks.append(
        Context(
            (
                Span(request._("Search all text instead: ")),
                command_span(f"/search {echo(query, 40)}"),
            )
        )
    )
    if offered:
        unique = list({cmd: (item, cmd) for item, cmd in offered}.values())
        blocks.append(item_choices(request, unique))
    return Message(tuple(blocks))


@command(
    "model",
    usage=N_("/model NAME [MONTH]"),
    example="/model GLM-4.7",
    needs_arg=True,
    description=N_("a model's card (forgiving: glm4.7, kimi k2)"),
)
def model_command(request: Request) -> Message:
    return _resolve(request, Kind.MODEL, request.arg)


@command(
    "paper",
    usage=N_("/paper QUERY [MONTH]"),
    example="/paper rubrics as rewards",
    needs_arg=True,
    description=N_("a paper's card, by title words, short name, arXiv id or link"),
)
def paper_command(request: Request) -> Message:
    return _resolve(request, Kind.PAPER, request.arg)


@command(
    "topic",
    usage=N_("/topic QUERY [MONTH]"),
    example="/topic Agent Memory",
    needs_arg=True,
    description=N_("a topic's trend, practice value and papers"),
)
def topic_command(request: Request) -> Message:
    return _resolve(request, Kind.TOPIC, request.arg)


@command(
    "search",
    usage=N_("/search TEXT"),
    example="/search 蒸馏",
    needs_arg=True,
    description=N_("the best items for Chinese or English text"),
)
def search_command(request: Request) -> Message:
    return search_page(request, request.arg, 1)


def _papers_of(request: Request, topic: Item) -> list[Item]:
    with request.services.store.engine.connect() as conn:
        return topic_papers(conn, topic)


@command(
    "themes",
    usage="/themes",
    example="/themes",
    description=N_("the themes and how to subscribe"),
)
def themes_command(request: Request) -> Message:
    with request.services.store.engine.connect() as conn:
        titles, counts = theme_kind_counts(conn)
    if not titles:
        return Message.text(request._("No reports yet. An admin can send me a report's .md file."))
    bullets = tuple(
        (
            Span(slug, code=True),
            Span(
                # Translators: between a theme's slug and its item counts in /themes.
                request._(" — {theme}: ").format(
                    theme=cards.theme_label(titles[slug], request.words)
                )
            ),
            Span(kind_counts(request, counts[slug])),
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
                    command_span("/subscribe clay mon 09:00"),
                )
            ),
            choices(
                (request._("Subscribe: {theme}").format(theme=slug), f"/subscribe {slug}")
                for slug in sorted(titles)
            ),
        )
    )


def kind_counts(request: Request, counts: Counter[str]) -> str:
    """``8 models, 1 paper``: counts per kind, plurals right, in the chat's language."""
    return request.words.join(
        cards.kind_count(k, n, request.words) for k, n in sorted(counts.items())
    )
