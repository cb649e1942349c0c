"""Buttons: the commands only buttons send, and the buttons added to what commands answer.

A button runs a command exactly as if it had been typed (through the same dispatcher, so the
same permissions apply). Three commands exist for buttons and are left out of menus and /help:

    /more COMMAND        COMMAND's card with its folded parts whole (the "More" button; edits)
    /results N TEXT      page N of /search TEXT (Next / Previous; edits the results)
    /feedback ID up|down 👍 / 👎 on a digest entry, per chat, item and user (counted in /status)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from bot.commands.core import Request, clean_arg, command, echo
from bot.i18n import N_
from bot.store.actions import DOWN, UP, item_title, record_vote
from bot.store.search import Match
from bot.web.links import search_path
from digests import cards
from digests.message import (
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

#: Results per /search page.
PAGE = 6
#: A card longer than this (characters of text) is shown folded, with a "More" button.
FOLD_AT = 900
#: Characters of a folded part shown before "More".
FOLDED = 120
#: Longest button label; Slack allows 75, Telegram shows about 30 on a phone.
LABEL = 40
STALE = N_("This button has expired or its item is gone. Send the command again, e.g. /help.")

_LOOKUPS = ("model", "paper", "topic")
_VOTES = {"up": (UP, "👍"), "down": (DOWN, "👎")}


def label(text: str, limit: int = LABEL) -> str:
    """A button label: one line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def choices(pairs: Iterable[tuple[str, str]]) -> Actions:
    """A row of buttons from (label, command) pairs."""
    return Actions(tuple(Button(label(text), cmd) for text, cmd in pairs))


def with_blocks(message: Message, *blocks: Block, **changes: object) -> Message:
    """``message`` with ``blocks`` added at the end (and other fields changed)."""
    return dataclasses.replace(message, blocks=(*message.blocks, *blocks), **changes)  # type: ignore[arg-type]


# -- cards ----------------------------------------------------------------------------------------


def card_buttons(request: Request, card: Message, match: Match) -> Message:
    """A card with a button per other month it is in, and its long parts folded behind "More".

    A month's button sends ``COMMAND MONTH`` (``/model GLM-4.7 2025-12``).
    """
    item = match.item.item
    others = [p for p in dict.fromkeys(match.periods) if p != item.period]
    blocks: list[Block] = []
    if others:
        blocks.append(choices((f"Also in {p}", cards.command_for(item, p)) for p in others))
    if request.full:
        return with_blocks(card, *blocks, edit=True)
    folded, cut = fold(card.blocks)
    if cut:
        again = f"/more /{request.name} {request.arg}"
        blocks.insert(0, Actions((Button("More", again, "primary"),)))
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
    usage="/more COMMAND",
    example="/more /model GLM-4.7",
    needs_arg=True,
    menu=False,
    description="a card with its folded parts whole (the More button)",
)
def more_command(request: Request) -> Message:
    parsed = request.commands.split(request.arg)
    spec = request.commands.get(parsed[0]) if parsed else None
    # Only lookups: /more must not become a way around the permission checks of other commands.
    if parsed is None or spec is None or spec.name not in _LOOKUPS:
        return Message.text("/more takes a lookup, e.g. /more /model GLM-4.7")
    raw = parsed[1]
    inner = dataclasses.replace(
        request, name=spec.name, arg=clean_arg(raw), raw_arg=raw, spec=spec, full=True
    )
    return dataclasses.replace(spec.fn(inner), edit=True)


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
    opens: list[tuple[str, str]] = []
    for n, hit in enumerate(shown):
        if n:
            blocks.append(Divider())
        item = hit.item
        kind = cards.kind_name(item.kind, request.words)
        blocks.append(Context((Span(f"{kind} · {item.period} · {item.theme_title}"),)))
        # a hit in an older month opens that month's copy, not the newest one
        older = newest.get(item.key, item.period) != item.period
        opens.append((item.title, cards.command_for(item, item.period if older else None)))
        blocks.extend(cards.digest_entry(item, opens[-1][1], words=request.words))
    blocks.append(choices(opens))
    pager: list[Button] = []
    if page > 1:
        pager.append(Button(request._("‹ Previous"), f"/results {page - 1} {text}"))
    if len(hits) > page * PAGE:
        pager.append(Button(request._("Next ›"), f"/results {page + 1} {text}"))
    if pager:
        blocks.append(Actions(tuple(pager)))
    web = request.services.web
    link = web.url(search_path(), q=text) if web is not None else None
    return Message(tuple(blocks), edit=True, web_url=link)


_RESULTS = re.compile(r"^(\d{1,3})\s+(.+)$", re.S)


@command(
    "results",
    usage="/results PAGE TEXT",
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
    usage="/feedback ITEM up|down",
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
            return Message.text(request._(STALE), notice=True)
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
