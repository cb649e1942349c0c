"""Render a neutral message as plain terminal text (the console channel and ``digestbot ask``).

Headings are underlined, lists use ``•``, quotes ``│``, links read ``text (url)`` and images
``[image: alt] url`` (http(s) only: a ``tg://`` link shows its text alone, as in chat). With
``color=True`` bold and headings use ANSI bold and context lines are dimmed; the text itself
never carries control characters from a report.
"""

from __future__ import annotations

import unicodedata

from channels.layout import clean_text, safe_url
from digests.message import (
    Actions,
    Block,
    BulletList,
    Context,
    Divider,
    Heading,
    Image,
    Message,
    Paragraph,
    Quote,
    Spans,
)

BOLD = "\x1b[1m"
DIM = "\x1b[2m"
RESET = "\x1b[0m"
RULE = "─" * 40


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK, most emoji) characters count two."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _spans(spans: Spans, color: bool) -> str:
    out: list[str] = []
    for span in spans:
        text = clean_text(span.text)
        if not text:
            continue
        if span.code:
            text = f"`{text}`"
        url = safe_url(span.url)
        if url:
            text = url if text.strip() == url else f"{text} ({url})"
        if span.bold and color:
            text = f"{BOLD}{text}{RESET}"
        out.append(text)
    return "".join(out)


def _block(block: Block, color: bool, first: int = 1) -> str:
    """One block; ``first`` is the number of its first button (buttons are numbered in order)."""
    match block:
        case Heading(text=text):
            text = " ".join(clean_text(text).split())
            if not text:
                return ""
            title = f"{BOLD}{text}{RESET}" if color else text
            return f"{title}\n{'═' * max(3, min(display_width(text), 60))}"
        case Paragraph(spans=s):
            return _spans(s, color)
        case Context(spans=s):
            text = _spans(s, color)
            return f"{DIM}{text}{RESET}" if color and text else text
        case BulletList(items=items):
            return "\n".join("• " + _spans(item, color).replace("\n", "\n  ") for item in items)
        case Quote(spans=s):
            text = _spans(s, color)
            return "\n".join("│ " + line for line in text.split("\n")) if text else ""
        case Image(url=url, alt=alt):
            return f"[image: {clean_text(alt).strip() or 'image'}] {safe_url(url) or ''}".strip()
        case Divider():
            return RULE
        case Actions(buttons=buttons):
            return "   ".join(
                f"[{n}] {clean_text(b.label).strip()}" for n, b in enumerate(buttons, first)
            )
    return ""  # pragma: no cover - the Block union is exhaustive


def render_console(message: Message, color: bool = False) -> str:
    """The message as readable text, blocks separated by blank lines; buttons are numbered
    choices (``[1] More``), in order over the whole message."""
    parts = []
    first = 1
    for block in message.shown_blocks:
        parts.append(_block(block, color, first))
        if isinstance(block, Actions):
            first += len(block.buttons)
    return "\n\n".join(p for p in parts if p.strip())
