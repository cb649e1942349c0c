"""Slack blocks that mrkdwn cannot express: styled text next to CJK characters, and buttons.

Slack's mrkdwn takes ``*``, ``_`` and `` ` `` as markers only at word boundaries (a space,
punctuation, the start or end of the text), so ``视为*可缓存*的`` shows its asterisks. Text whose
styles would put a marker next to a CJK character (or inside a word) is sent as a ``rich_text``
block instead, whose elements carry their style without markers. Buttons become an ``actions``
block; each button's ``value`` is the command it sends.
"""

from __future__ import annotations

import re
from typing import Any

from channels.layout import clean_text, defuse_spans, safe_url
from digests.message import Actions, Span, Spans

SlackBlock = dict[str, Any]

#: Han, kana, Hangul, CJK punctuation and full-width forms.
CJK = re.compile(
    r"[\u2e80-\u2fff\u3000-\u30ff\u3100-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    r"\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]"
)
#: Slack's limits on buttons: label, value, and buttons in one actions block.
BUTTON_LABEL = 75
BUTTON_VALUE = 2000
BUTTON_URL = 3000
ACTIONS_PER_BLOCK = 25
ACTION_PREFIX = "digestbot-"
#: The ``action_id`` prefix of link buttons (whose press is only acknowledged).
LINK_PREFIX = "digestbot-link-"


def _styled(span: Span) -> bool:
    return span.bold or span.italic or span.code


def _boundary(ch: str | None) -> bool:
    """Whether mrkdwn sees a word boundary at ``ch`` (None: the start or end of the text)."""
    return ch is None or ch.isspace() or (ch.isascii() and not ch.isalnum())


def needs_rich(spans: Spans) -> bool:
    """Whether mrkdwn would put a style marker next to a CJK character or inside a word."""
    pieces = [s for s in spans if s.text]
    for n, span in enumerate(pieces):
        if not _styled(span) or not span.text.strip():
            continue
        core = span.text.strip()
        if CJK.match(core[0]) or CJK.match(core[-1]):
            return True
        before = _edge(pieces[n - 1], -1) if n and not span.text[0].isspace() else None
        nxt = n + 1 < len(pieces) and not span.text[-1].isspace()
        after = _edge(pieces[n + 1], 0) if nxt else None
        if not _boundary(before) or not _boundary(after):
            return True
    return False


def _edge(span: Span, at: int) -> str:
    """The character mrkdwn shows at the edge of a neighbouring span: a styled span or a link
    starts and ends with its marker (punctuation), a plain one with its text."""
    if _styled(span) or safe_url(span.url):
        return "*"
    return span.text[at]


def rich_elements(spans: Spans) -> list[dict[str, Any]]:
    """``rich_text_section`` elements for spans: text and links, each with its style."""
    out: list[dict[str, Any]] = []
    for span in defuse_spans(spans):
        text = clean_text(span.text)
        if not text:
            continue
        style = {k: True for k in ("bold", "italic", "code") if getattr(span, k)}
        url = safe_url(span.url)
        element: dict[str, Any] = (
            {"type": "link", "url": url, "text": text} if url else {"type": "text", "text": text}
        )
        if style:
            element["style"] = style
        out.append(element)
    return out


def rich_text(kind: str, rows: list[Spans]) -> SlackBlock | None:
    """A ``rich_text`` block: ``section`` (one row), ``list`` (a bullet per row) or ``quote``."""
    sections = [
        {"type": "rich_text_section", "elements": els} for els in map(rich_elements, rows) if els
    ]
    if not sections:
        return None
    if kind == "list":
        inner: list[dict[str, Any]] = [
            {"type": "rich_text_list", "style": "bullet", "elements": sections}
        ]
    elif kind == "quote":
        inner = [{"type": "rich_text_quote", "elements": sections[0]["elements"]}]
    else:
        inner = sections
    return {"type": "rich_text", "elements": inner}


def plain_spans(spans: Spans) -> Spans:
    """The spans without bold, italic or code (for context lines, which cannot be rich)."""
    return tuple(Span(s.text, url=s.url) for s in spans)


def actions_blocks(block: Actions, first: int) -> list[SlackBlock]:
    """``actions`` blocks of buttons; ``action_id`` is unique in the message from ``first`` on."""
    buttons = []
    for n, button in enumerate(block.buttons, first):
        label = " ".join(clean_text(button.label).split()) or "…"
        element: dict[str, Any] = {
            "type": "button",
            "text": {"type": "plain_text", "text": label[:BUTTON_LABEL], "emoji": True},
        }
        url = safe_url(button.url)
        if url is not None:
            # A link button: Slack opens the page and still sends a press, acknowledged only.
            element.update(action_id=f"{LINK_PREFIX}{n}", url=url[:BUTTON_URL])
        elif button.url is not None:
            continue  # a link that may not be followed is no button
        else:
            element.update(action_id=f"{ACTION_PREFIX}{n}", value=button.command[:BUTTON_VALUE])
        if button.style in ("primary", "danger"):
            element["style"] = button.style
        buttons.append(element)
    return [
        {"type": "actions", "elements": buttons[i : i + ACTIONS_PER_BLOCK]}
        for i in range(0, len(buttons), ACTIONS_PER_BLOCK)
    ]


def rich_chars(block: SlackBlock) -> int:
    """The characters of text in a ``rich_text`` or ``actions`` block (size budgets)."""
    if block["type"] == "actions":
        return sum(
            len(e["text"]["text"]) + len(e.get("value", "")) + len(e.get("url", ""))
            for e in block["elements"]
        )
    total = 0
    stack: list[Any] = list(block.get("elements", ()))
    while stack:
        element = stack.pop()
        total += len(element.get("text", "")) if isinstance(element.get("text"), str) else 0
        stack.extend(element.get("elements", ()))
    return total
