"""Render a neutral message as Telegram HTML (parse mode ``HTML``), split to Telegram's limit.

Only tags Telegram accepts are produced: ``b i code a blockquote`` (``blockquote expandable``
for folded quotes). Lists become ``•`` lines, paragraphs blank lines. Every piece of text is
escaped (``&`` first, then ``<`` ``>``, and ``"`` in attributes), control characters other
than newlines are dropped, and an ``@username`` from a report mentions nobody (a word joiner
follows the ``@``: :func:`channels.layout.defuse`). Links are http(s) only. Pure: no Telegram
SDK import, so the CLI can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from channels.layout import (
    clean_text,
    defuse_spans,
    entities,
    escape_text,
    figure_url,
    first_figure,
    paginate,
    safe_url,
    utf16_len,
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

#: Telegram's maximum message length, in UTF-16 code units.
TELEGRAM_LIMIT = 4096
#: Room kept free in every message for the ``(12/34)`` part marker.
MARKER_HEADROOM = 24
#: The smallest ``limit`` that leaves room for text besides the marker.
MIN_LIMIT = 64
DIVIDER = "\u2500" * 8
BULLET = "• "


escape = escape_text


def _escape_attr(text: str) -> str:
    return entities(clean_text(text)).replace('"', "&quot;")


def render_spans(spans: Spans, *, in_italic: bool = False) -> str:
    """Inline HTML for spans; ``in_italic`` when inside ``<i>`` already (no nested ``<i>``)."""
    out: list[str] = []
    for span in defuse_spans(spans):
        if not span.text:
            continue
        html = escape(span.text)
        if span.code:
            html = f"<code>{html}</code>"
        if span.italic and not in_italic:
            html = f"<i>{html}</i>"
        if span.bold:
            html = f"<b>{html}</b>"
        url = safe_url(span.url)
        if url:
            html = f'<a href="{_escape_attr(url)}">{html}</a>'
        out.append(html)
    return "".join(out)


def render_block(block: Block) -> str:
    """One block as HTML, without the blank line that separates it from the next."""
    match block:
        case Heading(text=text):
            return f"<b>{escape(text)}</b>" if text.strip() else ""
        case Paragraph(spans=s):
            return render_spans(s)
        case Context(spans=s):
            inner = render_spans(s, in_italic=True)
            return f"<i>{inner}</i>" if inner else ""
        case BulletList(items=items):
            return "\n".join(BULLET + render_spans(item) for item in items)
        case Quote(spans=s, expandable=expandable):
            inner = render_spans(s)
            if not inner:
                return ""
            return f"<blockquote{' expandable' if expandable else ''}>{inner}</blockquote>"
        case Image(url=url, alt=alt):
            return "🖼 " + render_spans((Span(alt.strip() or "image", url=url),))
        case Divider():
            return DIVIDER
        case Actions():
            return ""  # buttons go in the part's inline keyboard (render_telegram_parts)
    return ""  # pragma: no cover - the Block union is exhaustive


def render_page(blocks: Sequence[Block]) -> str:
    """The HTML of one message: blocks separated by blank lines, dividers as a thin line."""
    parts = [render_block(b) for b in blocks]
    return "\n\n".join(p for p in parts if p).strip("\n")


def render_telegram(message: Message, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Render ``message`` as Telegram HTML texts, each at most ``limit`` UTF-16 code units.

    Long messages are split at item (divider) boundaries first, then between blocks, then at
    blank lines, line breaks and spaces; tags are closed before a cut and reopened after it.
    With more than one part, each ends with its marker ``(i/n)``. A message with no visible
    text renders as an empty list (Telegram rejects empty messages).
    """
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")
    return [part.text for part in render_telegram_parts(message, limit)]


#: Buttons in one keyboard row at most, and their labels' total length.
ROW_BUTTONS = 3
ROW_CHARS = 36


@dataclass(frozen=True)
class TelegramPart:
    """One message to send: its HTML, and its inline keyboard as rows of buttons."""

    text: str
    rows: list[list[Button]] = field(default_factory=list)


def keyboard_rows(block: Actions) -> list[list[Button]]:
    """A block's buttons in rows: up to :data:`ROW_BUTTONS` whose labels fit :data:`ROW_CHARS`."""
    rows: list[list[Button]] = []
    for button in block.buttons:
        button = replace(button, label=" ".join(clean_text(button.label).split()) or "…")
        row = rows[-1] if rows else None
        width = sum(len(b.label) for b in row) if row else 0
        if row is None or len(row) >= ROW_BUTTONS or width + len(button.label) > ROW_CHARS:
            rows.append([button])
        else:
            row.append(button)
    return rows


def render_telegram_parts(message: Message, limit: int = TELEGRAM_LIMIT) -> list[TelegramPart]:
    """Like :func:`render_telegram`, with each part's buttons: the buttons of the blocks on that
    page (on the part before, when a page holds nothing but buttons)."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")
    budget = limit - MARKER_HEADROOM

    def fits(blocks: Sequence[Block]) -> bool:
        return utf16_len(render_page(blocks)) <= budget

    parts: list[tuple[str, list[list[Button]]]] = []
    orphans: list[list[Button]] = []  # buttons met before any visible text
    for page in paginate(with_web_button(message), fits):
        text = render_page(page)
        rows = [row for b in page if isinstance(b, Actions) for row in keyboard_rows(b)]
        if _visible(text):
            parts.append((text, orphans + rows))
            orphans = []
        elif parts:
            parts[-1][1].extend(rows)
        else:
            orphans.extend(rows)
    if len(parts) > 1:
        parts = [
            (f"{text}\n\n<i>({i}/{len(parts)})</i>", rows)
            for i, (text, rows) in enumerate(parts, 1)
        ]
    return [TelegramPart(text, rows) for text, rows in parts]


def with_web_button(message: Message) -> tuple[Block, ...]:
    """The blocks shown, and an "Open on the web" link button beside the text link (its url
    http(s) only, like every link)."""
    button = message.web_button()
    if button is None or safe_url(button.url) is None:
        return message.shown_blocks
    return (*message.shown_blocks, Actions((button,)))


def _visible(html: str) -> bool:
    """Whether the HTML shows any text once tags are removed (whitespace alone is rejected)."""
    depth = 0
    for ch in html:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0 and not ch.isspace():
            return True
    return False


def telegram_send_kwargs(message: Message, *, images: bool = True) -> dict[str, Any]:
    """Plain keyword values for ``send_message``; the adapter maps them to PTB's types.

    With ``images``, a message that holds a figure shows it as its link preview, large and above
    the text (``preview_url``, ``show_above_text``, ``prefer_large_media``: Bot API
    ``LinkPreviewOptions``), on its first part. The figure's link stays in the text as well.
    """
    kwargs: dict[str, Any] = {
        "parse_mode": "HTML",
        "disable_web_page_preview": not message.link_preview,
    }
    figure = first_figure(message) if images else None
    if figure is not None:
        kwargs.update(
            disable_web_page_preview=False,
            preview_url=figure_url(figure.url),
            show_above_text=True,
            prefer_large_media=True,
        )
    return kwargs
