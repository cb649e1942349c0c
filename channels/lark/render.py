"""Render a neutral message as Feishu/Lark interactive cards (``msg_type`` ``interactive``).

One card per part: a header (the first heading of the part, as plain text), then ``markdown``
elements, ``hr`` for item boundaries and ``note`` for footer lines. Report text is escaped so it
can never become markup: ``&`` ``<`` ``>`` as HTML entities (so ``<at id=all></at>`` in a report
shows as text and notifies nobody), and the markdown markers ``* _ ~ ` [ ] \\`` as numeric
entities. Images become links: a card image needs an ``img_key`` uploaded first.

Limits (open.feishu.cn, card JSON): the whole card at most about 30 KB; we keep each card under
:data:`MAX_CARD_BYTES` of UTF-8 JSON, :data:`MAX_ELEMENTS` elements and
:data:`MAX_ELEMENT_CHARS` characters a markdown element. Pure: no Lark SDK import.

Buttons: each row of buttons is an ``action`` element where it stands, each button a ``button``
whose ``value`` is ``{"command": …}`` (the adapter swaps a command too long to carry for
``{"token": …}``, :mod:`channels.buttons`); a link button ("Open on the web") opens its
``url`` and sends no callback. Cards are shared (``update_multi``): a press that updates the
card updates it for everyone in the chat, as an edited Telegram message is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from channels.layout import (
    clean_text,
    defuse,
    defuse_spans,
    escape_text,
    paginate,
    safe_url,
    wrap_lines,
)
from digests.message import (
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
)

MAX_CARD_BYTES = 24_000
MAX_ELEMENTS = 40
MAX_ELEMENT_CHARS = 5_000
MAX_HEADER_CHARS = 100
HEADER_TEMPLATE = "blue"
#: A button's label at most (Feishu shows about this many on a phone), its command's value.
MAX_LABEL = 60
MAX_URL = 2000
#: Buttons in one ``action`` element (they flow onto more lines as the card is narrow).
ACTIONS_PER_ELEMENT = 20
BUTTON_TYPES = {"primary": "primary", "danger": "danger"}
BULLET = "• "
QUOTE_BAR = "┃ "

Card = dict[str, Any]
Element = dict[str, Any]

_MARKDOWN_MARKERS = {c: f"&#{ord(c)};" for c in "*_~`[]\\"}


def escape(text: str) -> str:
    """Escape report text for card markdown: HTML entities, then markdown markers."""
    return "".join(_MARKDOWN_MARKERS.get(ch, ch) for ch in escape_text(text))


def plain(text: str, limit: int) -> str:
    """Plain text (headers, notes) on one line, cut to ``limit`` characters with "…"."""
    text = " ".join(defuse(clean_text(text)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_URL_ESCAPES = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", '"': "%22"}


def _url(url: str) -> str:
    # Parentheses and spaces would end the markdown link early; <> would read as a tag.
    return "".join(_URL_ESCAPES.get(ch, ch) for ch in url)


def render_spans(spans: Spans) -> str:
    """Card markdown for spans: ``**bold**``, ``*italic*``, `` `code` ``, ``[text](url)``."""
    out: list[str] = []
    for span in defuse_spans(spans):
        if not span.text:
            continue
        text = escape(span.text)
        url = safe_url(span.url)
        if span.code and not url:
            text = wrap_lines(text, "`")
        if span.italic:
            text = wrap_lines(text, "*")
        if span.bold:
            text = wrap_lines(text, "**")
        if url:
            label = text.replace("\n", " ").strip() or escape(url)
            text = f"[{label}]({_url(url)})"
        out.append(text)
    return "".join(out)


def _markdown(content: str) -> Element | None:
    return {"tag": "markdown", "content": content} if content.strip() else None


def render_block(block: Block) -> Element | None:
    """One neutral block as one card element, or ``None`` when it shows nothing."""
    match block:
        case Heading(text=text):
            title = plain(text, MAX_ELEMENT_CHARS)
            return _markdown(f"**{escape(title)}**") if title else None
        case Paragraph(spans=s):
            return _markdown(render_spans(s))
        case BulletList(items=items):
            return _markdown("\n".join(BULLET + render_spans(item) for item in items))
        case Quote(spans=s):
            text = render_spans(s)
            return _markdown("\n".join(QUOTE_BAR + line for line in text.split("\n")))
        case Image(url=url, alt=alt):
            return _markdown("🖼 " + render_spans((Span(alt.strip() or "image", url=url),)))
        case Context(spans=s):
            if any(safe_url(x.url) for x in s):  # a line with a link (the web page's) keeps it
                linked = render_spans(tuple(Span(x.text, url=x.url) for x in s)).strip()
                if linked:
                    return {"tag": "note", "elements": [{"tag": "lark_md", "content": linked}]}
            text = plain("".join(x.text for x in s), MAX_ELEMENT_CHARS)
            if not text:
                return None
            return {"tag": "note", "elements": [{"tag": "plain_text", "content": text}]}
        case Divider():
            return {"tag": "hr"}
        case Actions(buttons=buttons):
            shown = [b for b in map(render_button, buttons[:ACTIONS_PER_ELEMENT]) if b]
            return {"tag": "action", "layout": "flow", "actions": shown} if shown else None
    return None  # pragma: no cover - the Block union is exhaustive


def render_button(button: Button) -> Element | None:
    """A ``button``: sending its command (``value``), or opening its http(s) ``url``."""
    label = plain(button.label, MAX_LABEL) or "…"
    element: Element = {
        "tag": "button",
        "text": {"tag": "plain_text", "content": label},
        "type": BUTTON_TYPES.get(button.style, "default"),
    }
    if button.url is not None:
        url = safe_url(button.url)
        if url is None or len(url) > MAX_URL:
            return None  # a link that may not be followed is no button
        element["url"] = url
        return element
    if not button.command:
        return None
    element["value"] = {"command": button.command}
    return element


def render_card(blocks: Sequence[Block]) -> Card:
    """One card for one page: the page's first heading becomes the card header."""
    blocks = list(blocks)
    card: Card = {"config": {"wide_screen_mode": True, "update_multi": True}}
    first = blocks[0] if blocks else None
    if isinstance(first, Heading) and plain(first.text, MAX_HEADER_CHARS):
        blocks = blocks[1:]
        title = plain(first.text, MAX_HEADER_CHARS)
        card["header"] = {
            "title": {"tag": "plain_text", "content": title},
            "template": HEADER_TEMPLATE,
        }
    elements = [e for e in map(render_block, blocks) if e is not None]
    card["elements"] = elements
    return card


def card_bytes(card: Card) -> int:
    """The size of a card as the API receives it (UTF-8 JSON)."""
    return len(json.dumps(card, ensure_ascii=False).encode())


def _element_chars(element: Element) -> int:
    if element["tag"] == "markdown":
        return len(element["content"])
    if element["tag"] == "note":
        return sum(len(e["content"]) for e in element["elements"])
    if element["tag"] == "action":
        return sum(len(b["text"]["content"]) for b in element["actions"])
    return 0


def _fits(blocks: Sequence[Block]) -> bool:
    card = render_card(blocks)
    elements = card["elements"]
    return (
        len(elements) <= MAX_ELEMENTS
        and all(_element_chars(e) <= MAX_ELEMENT_CHARS for e in elements)
        and card_bytes(card) <= MAX_CARD_BYTES
    )


def render_lark(message: Message) -> list[Card]:
    """Render ``message`` as one or more cards, each within the limits above.

    Long messages are split at item (divider) boundaries, then between blocks, then inside a
    block at line and word boundaries (see :func:`channels.layout.paginate`). Buttons stand
    where the message has them; the web link ends the last card, as a line and a link button.
    """
    shown = message.shown_blocks
    button = message.web_button()
    if button is not None and safe_url(button.url) is not None:
        shown = (*shown, Actions((button,)))
    pages = [p for p in paginate(shown, _fits) if p]
    cards = [render_card(p) for p in pages]
    return [c for c in cards if c["elements"] or "header" in c]


def card_content(card: Card) -> str:
    """The ``content`` field of an ``interactive`` message: the card as a JSON string."""
    return json.dumps(card, ensure_ascii=False)
