"""Items as neutral messages: full cards for lookups, bite-size entries for digests.

Pure functions from :class:`~digests.items.Item` to :class:`~digests.message.Message`; the
renderers in ``channels/`` turn those into each platform's format. Part texts are Markdown inline
text and become styled spans through :func:`inline`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

from digests.items import Image as ItemImage
from digests.items import Item, Kind, Part
from digests.message import (
    WEB_LINK_TEXT,
    Actions,
    Block,
    BulletList,
    Button,
    Context,
    Divider,
    Heading,
    Image,
    Message,
    Paragraph,
    Quote,
    Span,
    Spans,
    command_span,
)
from digests.parser import HIGHLIGHTS_TITLE
from digests.text import link_target
from digests.words import ENGLISH, N_, Words

#: A part longer than this (characters) is shown as a folded quote instead of a bullet.
LONG_PART = 400
#: Paper titles are shortened to about this many characters in ``/paper`` hints.
SHORT_TITLE = 40

_MD = MarkdownIt("commonmark")
_BREAK_TAG = re.compile(r"(?i)^<br\s*/?>$")
_FILENAME_ALT = re.compile(r"(?i)^(image|img|screenshot)?[\w .-]*\.(png|jpe?g|gif|webp|svg)$")
_SPACED_NEWLINE = re.compile(r"[ \t]*\n[ \t]*")
_STYLES = {"strong": "bold", "em": "italic"}


_MARKUP = re.compile(r"[*_`\[\]<>!\\&]")


@functools.lru_cache(maxsize=8192)
def inline(md: str) -> Spans:
    """Markdown inline text as spans: bold, italic, code and links; newlines kept as ``"\\n"``.

    ``<br>`` becomes a newline; other raw HTML stays as literal text (renderers escape it).
    Images inside the text become links to the image. A link that is not http(s)
    (``[x](tg://…)``) keeps its text and loses its target. Cached: cards of popular items repeat.
    """
    if not _MARKUP.search(md):
        plain = _SPACED_NEWLINE.sub("\n", md).strip(" ")
        return (Span(plain),) if plain else ()
    out: list[Span] = []
    style = {"bold": 0, "italic": 0}
    links: list[str | None] = []

    def add(text: str, *, code: bool = False, url: str | None = None) -> None:
        if out and out[-1].text.endswith("\n"):
            text = text.lstrip(" ")
        text = _SPACED_NEWLINE.sub("\n", text)
        if not text:
            return
        span = Span(
            text,
            bold=style["bold"] > 0,
            italic=style["italic"] > 0,
            code=code,
            url=url or (links[-1] if links else None),
        )
        last = out[-1] if out else None
        if last and (last.bold, last.italic, last.code, last.url) == (
            span.bold,
            span.italic,
            span.code,
            span.url,
        ):
            out[-1] = Span(last.text + text, span.bold, span.italic, span.code, span.url)
        else:
            out.append(span)

    for token in _MD.parseInline(md)[0].children or ():
        kind, _, edge = token.type.rpartition("_")
        if kind in _STYLES and edge in ("open", "close"):
            style[_STYLES[kind]] += 1 if edge == "open" else -1
        elif token.type == "link_open":
            links.append(link_target(str(token.attrs.get("href", ""))))
        elif token.type == "link_close":
            links.pop() if links else None
        elif token.type == "code_inline":
            add(token.content, code=True)
        elif token.type in ("softbreak", "hardbreak"):
            add("\n")
        elif token.type == "image":
            add(token.content or "image", url=link_target(str(token.attrs.get("src", ""))))
        elif token.type == "html_inline" and _BREAK_TAG.match(token.content.strip()):
            add("\n")
        else:
            add(token.content)
    return tuple(out)


#: Column names the parser takes from a report's headers; other headers are shown as written.
SECTION_NAMES = (
    N_("Mechanism"),
    N_("Capability"),
    N_("Value"),
    N_("Trend"),
    N_("Practice Value"),
)


def kind_name(kind: Kind, words: Words = ENGLISH) -> str:
    """``model``, ``paper``… in the reader's language."""
    match kind:
        case Kind.MODEL:
            return words.gettext("model")
        case Kind.PAPER:
            return words.gettext("paper")
        case Kind.TOPIC:
            return words.gettext("topic")
        case Kind.RADAR:
            return words.gettext("radar")
    return words.gettext("insight")


def kind_count(kind: str, n: int, words: Words = ENGLISH) -> str:
    """``1 model``, ``3 papers``, ``2 个模型``: a count of items of one kind, plural right."""
    num = words.number(n)
    match kind:
        case "model":
            text = words.ngettext("{n} model", "{n} models", n)
        case "paper":
            text = words.ngettext("{n} paper", "{n} papers", n)
        case "topic":
            text = words.ngettext("{n} topic", "{n} topics", n)
        case "radar":
            text = words.ngettext("{n} radar", "{n} radars", n)
        case "insight":
            text = words.ngettext("{n} insight", "{n} insights", n)
        case _:
            text = words.ngettext("{n} item", "{n} items", n)
    return text.format(n=num)


def theme_label(title: str, words: Words = ENGLISH) -> str:
    """A theme's title as shown: the report's own words, except the parser's name for a month's
    insights and radar ("Highlights"), which is ours and so in the reader's language."""
    return words.gettext(N_("Highlights")) if title == HIGHLIGHTS_TITLE else title


def command_for(item: Item, period: str | None = None) -> str:
    """The chat command that shows ``item``'s whole card, e.g. ``/model GLM-4.7``; with
    ``period``, that month's copy (``/model GLM-4.7 2025-12``). Highlights name their month."""
    month = f" {period}" if period else ""
    match item.kind:
        case Kind.MODEL:
            return f"/model {item.title}{month}"
        case Kind.PAPER:
            return f"/paper {short_title(item.title)}{month}"
        case Kind.TOPIC:
            return f"/topic {item.title}{month}"
    return f"/highlights {item.period}"


def short_title(title: str, limit: int = SHORT_TITLE) -> str:
    """A title short enough for a command: the part before a colon, or the first words."""
    title = " ".join(title.split())
    head = re.split(r"\s*[:：]\s+", title, maxsplit=1)[0]
    if 2 <= len(head) <= limit:
        return head
    if len(title) <= limit:
        return title
    cut = title.rfind(" ", 0, limit + 1)
    return title[: cut if cut > 0 else limit]


def _link_label(url: str) -> str:
    parts = urlsplit(url)
    label = (parts.netloc.removeprefix("www.") + parts.path).rstrip("/") or url
    return label if len(label) <= 60 else label[:59] + "…"


def _link(url: str | None) -> tuple[Block, ...]:
    url = link_target(url)
    return (Paragraph((Span("🔗 "), Span(_link_label(url), url=url))),) if url else ()


def _meta(item: Item, words: Words, *extra: str) -> Context:
    bits = [kind_name(item.kind, words), item.period, theme_label(item.theme_title, words), *extra]
    return Context((Span(" · ".join(b for b in bits if b)),))


def _part_spans(part: Part, title: str) -> Spans:
    text = inline(part.text.strip())
    if not part.label or part.label == title:
        return text
    return (Span(part.label, bold=True), Span(": "), *text)


def _parts(parts: Sequence[Part], title: str) -> list[Block]:
    """Short labelled parts as bullets, unlabelled ones as paragraphs, long ones as folded
    quotes, in order; a part's figures right after it."""
    blocks: list[Block] = []
    bullets: list[Spans] = []

    def flush() -> None:
        if bullets:
            blocks.append(BulletList(tuple(bullets)))
            bullets.clear()

    for part in parts:
        spans = _part_spans(part, title)
        if part.images and not part.label and part.text.strip() in {i.alt for i in part.images}:
            # the text is the figure's own description (the radar): the figure carries it
            flush()
            blocks.extend(_figure(image, "", title) for image in part.images)
            continue
        if not long_part(part) and part.label and part.label != title:
            bullets.append(spans)
        else:
            flush()
            blocks.append(Quote(spans, expandable=True) if long_part(part) else Paragraph(spans))
        if part.images:
            flush()
            name = f"{title} · {part.label}" if part.label and part.label != title else title
            blocks.extend(_figure(image, part.text, name) for image in part.images)
    flush()
    return blocks


def long_part(part: Part) -> bool:
    return len(part.text) > LONG_PART


def _figure(image: ItemImage, text: str, fallback: str) -> Image:
    """An image block; an alt text that is a file name or repeats the text gives way."""
    alt = image.alt.strip()
    if not alt or _FILENAME_ALT.match(alt) or alt in text:
        alt = fallback
    return Image(image.url, alt)


def _parts_or_summary(item: Item) -> list[Block]:
    if item.parts:
        return _parts(item.parts, item.title)
    return [Paragraph(inline(item.summary))] if item.summary.strip() else []


def _sections(item: Item, words: Words = ENGLISH) -> list[Block]:
    """Each section (column) titled, with its parts; untitled parts first."""
    order: dict[str, list[Part]] = {}
    for part in item.parts:
        order.setdefault(part.section, []).append(part)
    blocks: list[Block] = []
    for section, parts in order.items():
        if section:
            blocks.append(Paragraph((Span(words.gettext(section), bold=True),)))
        blocks.extend(_parts(parts, item.title))
    return blocks


def _images(item: Item, words: Words = ENGLISH) -> list[Block]:
    """The item's figures that no part shows (a topic's, or from an older parse)."""
    images: list[Block] = []
    texts = [p.text for p in item.parts]
    shown = {image for part in item.parts for image in part.images}
    for n, image in enumerate(item.images, 1):
        if image in shown:
            continue
        alt = image.alt.strip()
        if not alt or _FILENAME_ALT.match(alt) or any(alt in t for t in texts):
            alt = words.gettext("{title} · figure {n}").format(title=item.title, n=n)
        images.append(Image(image.url, alt))
    return images


def _footer(item: Item, other_periods: Sequence[str], words: Words) -> tuple[Block, ...]:
    """ "Also in: 2025-12 /model X 2025-12": each other month, with the command that opens it."""
    others = other_months(item, other_periods)
    if not others:
        return ()
    shown = others[:ALSO_IN_MAX]
    listed = words.join(shown)
    if len(others) > len(shown):
        rest = len(others) - len(shown)
        listed += words.ngettext(" and {n} more month", " and {n} more months", rest).format(
            n=words.number(rest)
        )
    spans: list[Span] = [Span(words.gettext("Also in: {periods}").format(periods=listed))]
    for n, period in enumerate(shown):
        spans += [Span(" · " if n else " — "), command_span(command_for(item, period))]
    return (Context(tuple(spans)),)


#: A card names (and has buttons for) at most this many of the other months an item is in, the
#: newest first: a model in every month of years of reports would otherwise fill the card, and
#: Slack refuses an actions block of more than 25 elements.
ALSO_IN_MAX = 6


def other_months(item: Item, periods: Sequence[str]) -> list[str]:
    """The months other than the item's own that it is in, as given (newest first)."""
    return [p for p in dict.fromkeys(periods) if p != item.period]


def _card(
    item: Item,
    body: Sequence[Block],
    other_periods: Sequence[str],
    *extra: str,
    web_url: str | None = None,
    words: Words = ENGLISH,
) -> Message:
    blocks = (
        Heading(item.title),
        _meta(item, words, *extra),
        *_link(item.url),
        *body,
        *_images(item, words),
        *_footer(item, other_periods, words),
    )
    return Message(blocks, link_preview=False, tags=(item.kind.value, item.theme), web_url=web_url)


def model_card(item: Item, other_periods: Sequence[str] = (), *, words: Words = ENGLISH) -> Message:
    """A model: name, period and theme, link, each column's labelled parts, images."""
    return _card(item, _sections(item, words), other_periods, words=words)


def paper_card(item: Item, other_periods: Sequence[str] = (), *, words: Words = ENGLISH) -> Message:
    """A paper: title, link, topic, then its labelled paragraphs (场景/问题, 方法思路, …)."""
    topic = words.gettext("topic: {topic}").format(topic=item.topic) if item.topic else ""
    return _card(item, _parts(item.parts, item.title), other_periods, topic, words=words)


def topic_card(
    item: Item,
    papers: Sequence[Item] = (),
    other_periods: Sequence[str] = (),
    *,
    words: Words = ENGLISH,
) -> Message:
    """A topic: trend and practice value by column, then its papers with their commands."""
    body = _sections(item, words)
    entries: list[Spans] = [
        (Span(p.title, url=link_target(p.url)), Span("  "), command_span(command_for(p)))
        for p in papers
    ]
    known = {p.title for p in papers}
    entries += [
        (Span(title), Span("  "), command_span(f"/paper {short_title(title)}"))
        for title in item.papers
        if title not in known
    ]
    if entries:
        papers_label = words.gettext("Papers")
        body += [Paragraph((Span(papers_label, bold=True),)), BulletList(tuple(entries))]
    return _card(item, body, other_periods, words=words)


def insight_card(
    item: Item, other_periods: Sequence[str] = (), *, words: Words = ENGLISH
) -> Message:
    """An insight: its label as the heading and its text."""
    return _card(item, _parts_or_summary(item), other_periods, words=words)


def radar_card(item: Item, other_periods: Sequence[str] = (), *, words: Words = ENGLISH) -> Message:
    """The industry radar: its summary text and the image."""
    return _card(item, _parts_or_summary(item), other_periods, words=words)


def card(
    item: Item,
    other_periods: Sequence[str] = (),
    papers: Sequence[Item] = (),
    web_url: str | None = None,
    *,
    words: Words = ENGLISH,
) -> Message:
    """The full card for any item; ``papers`` are used for topics, ``other_periods`` otherwise.

    ``web_url`` (the item's web page) adds an "Open on the web" link.
    """
    match item.kind:
        case Kind.MODEL:
            message = model_card(item, other_periods, words=words)
        case Kind.PAPER:
            message = paper_card(item, other_periods, words=words)
        case Kind.TOPIC:
            message = topic_card(item, papers, other_periods, words=words)
        case Kind.RADAR:
            message = radar_card(item, other_periods, words=words)
        case _:
            message = insight_card(item, other_periods, words=words)
    if not web_url:
        return message
    return replace(message, web_url=web_url, web_label=words.gettext(WEB_LINK_TEXT))


def digest_entry(
    item: Item,
    command: str | None = None,
    item_id: int | None = None,
    *,
    words: Words = ENGLISH,
    note: str | None = None,
) -> tuple[Block, ...]:
    """One bite-size digest entry: the title with its link, the summary, the command for more
    (``command``, or the one that opens the newest copy), ``note`` (why it is here) in italics;
    with the item's database id, its buttons: Details, 👍 and 👎."""
    title = Paragraph((Span(item.title, bold=True, url=link_target(item.url)),))
    summary = (Paragraph(inline(item.summary)),) if item.summary.strip() else ()
    more = Context((Span(words.gettext("More: ")), command_span(command or command_for(item))))
    # the radar is a picture first: a highlights digest shows it
    figures = tuple(_images(item, words)) if item.kind is Kind.RADAR else ()
    why = (Context((Span(note, italic=True),)),) if note else ()
    if item_id is None:
        return (title, *summary, *figures, more, *why)
    return (title, *summary, *figures, more, *why, entry_actions(item, item_id, command, words))


def entry_actions(
    item: Item, item_id: int, command: str | None = None, words: Words = ENGLISH
) -> Actions:
    """A digest entry's buttons: its card, and 👍 / 👎 (``/feedback ID up|down``)."""
    name = " ".join(item.title.split())
    name = name if len(name) <= 24 else name[:23].rstrip() + "…"
    return Actions(
        (
            Button(
                words.gettext("Details: {name}").format(name=name), command or command_for(item)
            ),
            Button("👍", f"/feedback {item_id} up"),
            Button("👎", f"/feedback {item_id} down"),
        )
    )


def highlights_message(
    period: str,
    items: Sequence[Item],
    other_periods: Sequence[str],
    *,
    words: Words = ENGLISH,
) -> Message:
    """A month's highlights: the radar (its text and image), then each insight, then the other
    months' highlights as commands."""
    blocks: list[Block] = [Heading(words.gettext("Highlights · {period}").format(period=period))]
    for item in items:
        if item.kind is Kind.RADAR:
            blocks.append(Paragraph((Span(item.title, bold=True),)))
            blocks.extend(_parts_or_summary(item))
            blocks.extend(_images(item, words))
    for item in items:
        if item.kind is Kind.INSIGHT:
            blocks.append(Paragraph((Span(item.title, bold=True),)))
            blocks.extend(_parts_or_summary(item))
            blocks.extend(_images(item, words))
    others = [p for p in other_periods if p != period]
    if others:
        spans: list[Span] = [Span(words.gettext("Other months: "))]
        separator = words.join(("", ""))
        for n, other in enumerate(others):
            spans += [Span(separator) if n else Span(""), command_span(f"/highlights {other}")]
        blocks.append(Context(tuple(s for s in spans if s.text)))
    return Message(tuple(blocks), tags=("highlights",))


def digest_message(
    theme_title: str,
    period_label: str,
    items: Sequence[Item],
    remaining: int,
    web_url: str | None = None,
    item_ids: Sequence[int] | None = None,
    words: Words = ENGLISH,
    notes: Sequence[str | None] = (),
) -> Message:
    """A weekly digest: a heading, the entries separated by dividers, and what is left.

    ``web_url`` (the theme's web page) adds an "Open on the web" link. With ``item_ids`` (the
    items' database ids) each entry has its buttons, and the message's ``thread`` holds each
    entry's card command (for platforms that thread digests).
    """
    title = theme_label(theme_title, words)
    blocks: list[Block] = [Heading(f"{title} · {period_label}" if period_label else title)]
    for n, item in enumerate(items):
        if n:
            blocks.append(Divider())
        blocks.extend(
            digest_entry(
                item,
                item_id=item_ids[n] if item_ids is not None else None,
                words=words,
                note=notes[n] if n < len(notes) else None,
            )
        )
    if remaining > 0:
        slug = items[0].theme if items else ""
        more = words.ngettext("{n} more to come", "{n} more to come", remaining)
        hint: list[Span] = [Span(more.format(n=words.number(remaining)))]
        if slug:
            hint += [Span(words.gettext(" · preview: ")), command_span(f"/digest {slug}")]
    else:
        hint = [Span(words.gettext("That's everything in this theme for now."))]
    blocks += [Divider(), Context(tuple(hint))]
    thread = tuple(command_for(i) for i in items) if item_ids is not None else ()
    return Message(
        tuple(blocks),
        link_preview=False,
        tags=("digest",),
        web_url=web_url,
        thread=thread,
        web_label=words.gettext(WEB_LINK_TEXT),
    )
