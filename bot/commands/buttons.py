"""Buttons: the commands only buttons send, and the buttons added to what commands answer.

A button runs a command exactly as if it had been typed (through the same dispatcher, so the
same permissions apply). Three commands exist for buttons and are left out of menus and /help:

    /more [N] COMMAND    COMMAND's card with its folded parts whole (the "More" button; edits),
                         in pages of :data:`PAGE_CHARS`; page N > 1 follows as a new message
    /results N TEXT      page N of /search TEXT (Next / Previous; edits the results)
    /feedback ID up|down 👍 / 👎 on a digest entry, per chat, item and user (counted in /status)
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from bot.commands.core import Request, clean_arg, command, echo
from bot.i18n import N_
from bot.store.actions import DOWN, UP, item_title, record_vote
from bot.store.search import Match
from bot.web.links import search_path
from digests import cards
from digests.items import Item
from digests.message import (
    WEB_LINK_TEXT,
    Actions,
    Block,
    BulletList,
    Button,
    Context,
    Divider,
    Heading,
    Message,
    Paragraph,
    Quote,
    Span,
    Spans,
)
from digests.periods import arxiv_id, split_month
from digests.words import Words

#: Results per /search page.
PAGE = 6
#: A card longer than this (characters of text) is shown folded, with a "More" button.
FOLD_AT = 900
#: Characters of a folded part shown before "More".
FOLDED = 120
#: Characters of text in one page of a full card: at most a few messages on every platform
#: (``channels.base.MAX_PARTS``); the rest is behind "More".
PAGE_CHARS = 3500
#: Longest button label; Slack allows 75, Telegram shows about 30 on a phone.
LABEL = 40
#: Formatted with ``help``, the platform's way to type /help.
STALE = N_("This button has expired or its item is gone. Send the command again, e.g. {help}.")

#: A pick list's label shared by several items, with their kind and month (:func:`item_labels`).
TAGGED = N_("{title} ({kind}, {month})")
#: ... and numbered where even that and the title's end are alike.
NUMBERED = N_("{title} ({kind}, {month}, {n})")

_LOOKUPS = ("model", "paper", "topic")
_VOTES = {"up": (UP, "👍"), "down": (DOWN, "👎")}


def label(text: str, limit: int = LABEL) -> str:
    """A button label: one line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def choices(pairs: Iterable[tuple[str, str]]) -> Actions:
    """A row of buttons from (label, command) pairs."""
    return Actions(tuple(Button(label(text), cmd) for text, cmd in pairs))


def item_choices(request: Request, entries: Iterable[tuple[Item, str]]) -> Actions:
    """A button per (item, command), labelled by :func:`item_labels`."""
    return item_buttons(entries, request.words)


def item_buttons(entries: Iterable[tuple[Item, str]], words: Words) -> Actions:
    """A button per (item, command), labelled by :func:`item_labels` in ``words``' language.

    Two items whose commands are alike (papers whose short titles are, ``/paper Scaling``) are
    sent by what names each alone: its arXiv id, else its whole title."""
    pairs = list(entries)
    labels = item_labels([item for item, _ in pairs], words)
    counts = Counter(cmd for _, cmd in pairs)
    pairs = [(item, _exact(item, cmd) if counts[cmd] > 1 else cmd) for item, cmd in pairs]
    return Actions(tuple(Button(text, cmd) for text, (_, cmd) in zip(labels, pairs, strict=True)))


def _exact(item: Item, command: str) -> str:
    """``command`` (``/paper NAME [MONTH]``) naming ``item`` by its arXiv id or whole title."""
    if item.kind.value not in _LOOKUPS:
        return command
    _name, month = split_month(command.partition(" ")[2])
    name = (arxiv_id(item.url) if item.url else None) or item.title
    return f"/{item.kind.value} {name}" + (f" {month}" if month else "")


def item_labels(items: Sequence[Item], words: Words) -> list[str]:
    """Button labels for a pick list of ``items`` that never share a label (one rule for every
    platform: each renders at least :data:`LABEL` characters of a label).

    A label shared by several (a title, or its first :data:`LABEL` characters) gets the kind and
    month, ``Zettelkasten (paper, 2026-01)``; labels alike even so (the same kind and month)
    show the end of their title instead, ``…Long Horizons: Part Two``; and titles the same to
    the end are numbered, ``Zettelkasten (paper, 2026-01, 2)``."""
    labels = [label(item.title) for item in items]

    def tagged(item: Item, n: int = 0) -> str:
        form = words.gettext(NUMBERED if n else TAGGED)
        values = {"kind": cards.kind_name(item.kind, words), "month": item.period, "n": n}
        room = LABEL - len(form.format(title="", **values))
        return form.format(title=label(item.title, room), **values)

    def tail(item: Item) -> str:
        title = " ".join(item.title.split())
        if len(title) <= LABEL:
            return title
        end = title[-(LABEL - 1) :]
        if title[-LABEL] != " " and " " in end:  # from a word's start
            end = end[end.index(" ") :]
        return "…" + end.lstrip()

    steps: list[Callable[[Item, int], str]] = [
        lambda item, _n: tagged(item),
        lambda item, _n: tail(item),
        tagged,
    ]
    for step in steps:
        counts, seen = Counter(labels), Counter[str]()
        relabelled = []
        for item, text in zip(items, labels, strict=True):
            if counts[text] > 1:
                seen[text] += 1
                text = step(item, seen[text])
            relabelled.append(text)
        labels = relabelled
    return labels


def with_blocks(message: Message, *blocks: Block, **changes: object) -> Message:
    """``message`` with ``blocks`` added at the end (and other fields changed)."""
    return dataclasses.replace(message, blocks=(*message.blocks, *blocks), **changes)  # type: ignore[arg-type]


# -- cards ----------------------------------------------------------------------------------------


def card_buttons(request: Request, card: Message, match: Match) -> Message:
    """A card with a button per other month it is in, and its long parts folded behind "More".

    A month's button sends ``COMMAND MONTH`` (``/model GLM-4.7 2025-12``).
    """
    item = match.item.item
    others = cards.other_months(item, match.periods)[: cards.ALSO_IN_MAX]
    blocks: list[Block] = []
    if others:
        also = request._("Also in {month}")
        blocks.append(choices((also.format(month=p), cards.command_for(item, p)) for p in others))
    if request.full:
        return with_blocks(card, *blocks, edit=True)
    folded, cut = fold(card.blocks)
    if cut:
        again = f"/more /{request.name} {request.arg}"
        blocks.insert(0, Actions((Button(request._("More"), again, "primary"),)))
    return dataclasses.replace(card, blocks=(*folded, *blocks))


def fold(blocks: Sequence[Block]) -> tuple[list[Block], bool]:
    """A card longer than :data:`FOLD_AT` characters with each part cut to its first sentence
    (at most :data:`FOLDED` characters); whether anything was cut."""
    if sum(len(_text(b)) for b in blocks) <= FOLD_AT:
        return list(blocks), False
    out: list[Block] = []
    cut = False
    for block in blocks:
        folded = block
        if isinstance(block, BulletList):
            folded = BulletList(tuple(_shorten(item, FOLDED) for item in block.items))
        elif isinstance(block, Quote):
            folded = Quote(_shorten(block.spans, FOLDED), expandable=False)
        elif isinstance(block, Paragraph) and not all(s.bold for s in block.spans):
            folded = Paragraph(_shorten(block.spans, FOLDED))
        cut = cut or folded != block
        out.append(folded)
    return out, cut


def page_of(
    blocks: Sequence[Block], page: int, limit: int = PAGE_CHARS
) -> tuple[list[Block], bool]:
    """Page ``page`` (from 1) of ``blocks``, about ``limit`` characters of markup a page; whether
    more pages follow. A block longer than a page is cut between pages (at a sentence or word
    end), so no text is lost."""
    pages: list[list[Block]] = [[]]
    room = limit
    for block in blocks:
        size = _block_size(block)
        while size > room and _cuttable(block):
            head, block = _cut(block, room)
            if head is not None:
                pages[-1].append(head)
            pages.append([])
            room = limit
            size = _block_size(block)
        if size > room and pages[-1]:
            pages.append([])
            room = limit
        pages[-1].append(block)
        room -= size
    pages = [p for p in pages if any(_text(b) for b in p)] or [[]]
    index = min(max(page, 1), len(pages)) - 1
    return pages[index], index < len(pages) - 1


def _size(text: str) -> int:
    # Markup escapes & < > as entities of up to five characters (HTML): count them so, or a
    # page of them would overflow a few messages.
    return len(text) + 4 * sum(text.count(ch) for ch in "&<>")


def _span_size(span: Span) -> int:
    # A link costs its address and the markup around it as well, and so does a style.
    styles = 13 * (span.bold + span.italic + span.code)
    return _size(span.text) + styles + (len(span.url) + 16 if span.url else 0)


def _block_size(block: Block) -> int:
    match block:
        case Paragraph(spans=s) | Quote(spans=s) | Context(spans=s):
            return sum(_span_size(x) for x in s)
        case BulletList(items=items):
            return sum(_span_size(x) + 4 for item in items for x in item)
        case Heading(text=t):
            return _size(t)
    return 0


def _fitting(text: str, room: int) -> int:
    """How many characters of ``text`` fit in ``room`` (as :func:`_size` counts them)."""
    used = 0
    for n, ch in enumerate(text):
        used += 5 if ch in "&<>" else 1
        if used > room:
            return n
    return len(text)


def _cuttable(block: Block) -> bool:
    return isinstance(block, Paragraph | Quote | BulletList) and len(_text(block)) > 1


def _cut(block: Block, room: int) -> tuple[Block | None, Block]:
    """``block`` split after about ``room`` characters of markup (None first when none fit)."""
    if isinstance(block, BulletList):
        items = list(block.items)
        used = 0
        for n, item in enumerate(items):
            size = sum(_span_size(x) + 4 for x in item)
            if used + size > room:
                if n == 0:
                    head, tail = _split_spans(item, room)
                    return (
                        BulletList((head,)) if head else None,
                        BulletList((tail, *items[1:])),
                    )
                return BulletList(tuple(items[:n])), BulletList(tuple(items[n:]))
            used += size
        return block, BulletList(())
    assert isinstance(block, Paragraph | Quote)
    head, tail = _split_spans(block.spans, room)
    first = dataclasses.replace(block, spans=head) if head else None
    return first, dataclasses.replace(block, spans=tail)


def _split_spans(spans: Spans, room: int) -> tuple[Spans, Spans]:
    if room < 40:
        return (), spans  # too little room for a useful piece: start the next page with it
    head: list[Span] = []
    used = 0
    for n, span in enumerate(spans):
        size = _span_size(span)
        if used + size <= room:
            head.append(span)
            used += size
            continue
        fits = _fitting(span.text, room - used - (size - _size(span.text)))
        end = max(span.text.rfind(ch, 0, fits) for ch in "。.!?！？；;，, \n") + 1
        end = end if end >= fits // 2 else fits
        if not head:
            end = max(end, 1)  # a fresh page always takes something: paging ends
        if end <= 0:
            return tuple(head), spans[n:]
        head.append(dataclasses.replace(span, text=span.text[:end]))
        return tuple(head), (dataclasses.replace(span, text=span.text[end:]), *spans[n + 1 :])
    return tuple(head), ()


def _text(block: Block) -> str:
    match block:
        case Paragraph(spans=s) | Quote(spans=s) | Context(spans=s):
            return "".join(x.text for x in s)
        case BulletList(items=items):
            return "".join(x.text for item in items for x in item)
        case Heading(text=t):
            return t
    return ""


def _shorten(spans: Spans, limit: int) -> Spans:
    text = "".join(s.text for s in spans)
    if len(text) <= limit:
        return spans
    end = max(text.rfind(ch, 0, limit) for ch in "。.!?！？；;，, \n")
    end = end + 1 if end >= limit // 2 else limit
    out: list[Span] = []
    pos = 0
    for span in spans:
        if pos >= end:
            break
        piece = span.text[: end - pos]
        out.append(dataclasses.replace(span, text=piece))
        pos += len(span.text)
    out.append(Span(" …"))
    return tuple(out)


@command(
    "more",
    usage=N_("/more [PAGE] COMMAND"),
    example="/more /model GLM-4.7",
    needs_arg=True,
    menu=False,
    description="a card with its folded parts whole (the More button)",
)
def more_command(request: Request) -> Message:
    number, _, rest = request.arg.partition(" ")
    page = 1
    if number.isdigit() and rest.strip():
        page, arg = int(number), rest.strip()
    else:
        arg = request.arg
    parsed = request.commands.split(arg)
    spec = request.commands.get(parsed[0]) if parsed else None
    # Only lookups: /more must not become a way around the permission checks of other commands.
    if parsed is None or spec is None or spec.name not in _LOOKUPS:
        return Message.text(request._("/more takes a lookup, e.g. /more /model GLM-4.7"))
    raw = parsed[1]
    inner = dataclasses.replace(
        request, name=spec.name, arg=clean_arg(raw), raw_arg=raw, spec=spec, full=True
    )
    card = spec.fn(inner)
    text = [b for b in card.blocks if not isinstance(b, Actions)]
    buttons = [b for b in card.blocks if isinstance(b, Actions)]
    shown, more = page_of(text, page)
    if more:
        again = f"/more {page + 1} /{spec.name} {inner.arg}"
        buttons.insert(0, Actions((Button(request._("More"), again, "primary"),)))
    # The first page replaces the folded card; later ones follow it, so the reader keeps both.
    return dataclasses.replace(card, blocks=(*shown, *buttons), edit=page <= 1)


# -- search pages ---------------------------------------------------------------------------------


def search_page(request: Request, text: str, page: int) -> Message:
    """Page ``page`` of the search for ``text``, with Previous / Next buttons (they edit it)."""
    hits = request.services.finder.search(text, limit=page * PAGE + 1)
    shown = hits[(page - 1) * PAGE : page * PAGE]
    if not shown:
        if page > 1 and hits:
            return Message.text(
                request._("There is no page {page} of “{query}”.").format(
                    page=page, query=echo(text)
                ),
                notice=True,
            )
        return Message.text(
            request._("Nothing matches “{query}”. Try fewer or other words.").format(
                query=echo(text)
            )
        )
    title = request._("Search: {query}").format(query=echo(text, 80))
    if page > 1:
        title += request._(" · page {page}").format(page=page)
    blocks: list[Block] = [Heading(title)]
    newest = request.services.finder.newest_periods(shown)
    opens: list[tuple[Item, str]] = []
    for n, hit in enumerate(shown):
        if n:
            blocks.append(Divider())
        item = hit.item
        kind = cards.kind_name(item.kind, request.words)
        theme = cards.theme_label(item.theme_title, request.words)
        blocks.append(Context((Span(f"{kind} · {item.period} · {theme}"),)))
        # a hit in an older month opens that month's copy, not the newest one
        older = newest.get(item.key, item.period) != item.period
        opens.append((item, cards.command_for(item, item.period if older else None)))
        blocks.extend(cards.digest_entry(item, opens[-1][1], words=request.words))
    blocks.append(item_choices(request, opens))
    pager: list[Button] = []
    if page > 1:
        pager.append(Button(request._("‹ Previous"), f"/results {page - 1} {text}"))
    if len(hits) > page * PAGE:
        pager.append(Button(request._("Next ›"), f"/results {page + 1} {text}"))
    if pager:
        blocks.append(Actions(tuple(pager)))
    web = request.services.web
    link = web.url(search_path(), q=text) if web is not None else None
    return Message(tuple(blocks), edit=True, web_url=link, web_label=request._(WEB_LINK_TEXT))


_RESULTS = re.compile(r"^(\d{1,3})\s+(.+)$", re.S)


@command(
    "results",
    usage=N_("/results PAGE TEXT"),
    example="/results 2 蒸馏",
    needs_arg=True,
    menu=False,
    description="a page of search results (the Next and Previous buttons)",
)
def results_command(request: Request) -> Message:
    match = _RESULTS.match(request.arg)
    if match is None or int(match.group(1)) < 1:
        return Message.text(request._("Usage: /results PAGE TEXT — for example: /results 2 蒸馏"))
    return search_page(request, match.group(2), int(match.group(1)))


# -- feedback -------------------------------------------------------------------------------------


@command(
    "feedback",
    usage=N_("/feedback ITEM up|down"),
    example="/feedback 12 up",
    needs_arg=True,
    menu=False,
    description="👍 or 👎 on a digest entry (its buttons)",
)
def feedback_command(request: Request) -> Message:
    words = request.arg.split()
    if len(words) != 2 or not words[0].isdigit() or words[1].lower() not in _VOTES:
        return Message.text(
            request._("Usage: /feedback ITEM up|down — the 👍 / 👎 buttons send it.")
        )
    vote, emoji = _VOTES[words[1].lower()]
    store = request.services.store
    with store.engine.begin() as conn:
        title = item_title(conn, int(words[0]))
        if title is None:
            return Message.text(request._(STALE).format(help=request.typed("/help")), notice=True)
        changed = record_vote(
            conn,
            platform=request.platform,
            chat_id=request.chat_id,
            item_id=int(words[0]),
            user_id=request.user_id,
            vote=vote,
            now=request.services.clock(),
        )
    if not changed:
        return Message.text(
            request._("You said {vote} to “{title}” already.").format(
                vote=emoji, title=label(title)
            ),
            notice=True,
        )
    return Message.text(
        request._("Thanks: {vote} noted for “{title}”.").format(vote=emoji, title=label(title)),
        notice=True,
    )
