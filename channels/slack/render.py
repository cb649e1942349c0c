"""Render a neutral message as Slack ``chat.postMessage`` payloads (Block Kit with mrkdwn).

All report text is escaped (exactly ``&`` ``<`` ``>``), so ``<!channel>`` or ``<@U123>`` in a
report shows as text and never notifies anyone; a plain ``@here`` or ``@channel`` gets a word
joiner after its ``@`` (:func:`channels.layout.defuse`), so Slack does not parse it either.
Figures become image blocks with their alt text (``images=False``: links); Slack fetches image
urls itself and rejects the whole message when one fails, so :func:`images_as_links` gives the
same payload with links, for a second try. Pure: no Slack SDK import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels.layout import (
    clean_text,
    defuse,
    defuse_spans,
    entities,
    escape_text,
    figure_url,
    paginate,
    safe_url,
    wrap_lines,
)
from channels.slack.rich import actions_blocks, needs_rich, plain_spans, rich_chars, rich_text
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
    Span,
    Spans,
)

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ALT_CHARS = 2000
MAX_IMAGE_URL = 3000
#: Text across all blocks of one message. Slack documents no total, but rejects messages with
#: ``msg_blocks_too_long`` at about 13k characters of blocks: stay well under that.
MAX_MESSAGE_CHARS = 11_000
#: Length of the plain-text ``text`` fallback (notifications, screen readers).
FALLBACK_CHARS = 300
BULLET = "• "

SlackBlock = dict[str, Any]


escape = escape_text


def _escape_url(url: str) -> str:
    return entities(clean_text(url)).replace("|", "%7C")


def escape_truncated(text: str, limit: int) -> str:
    """Escape ``text`` and cut it so the escaped result has at most ``limit`` characters, ending
    with "…" when cut; an entity is never cut in half."""
    text = defuse(clean_text(text))
    escaped = entities(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    size = 0
    for ch in text:
        piece = entities(ch)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return "".join(out).rstrip() + "…"


def render_spans(spans: Spans) -> str:
    """mrkdwn for spans: ``*bold*``, ``_italic_``, `` `code` ``, ``<url|text>``."""
    out: list[str] = []
    for span in defuse_spans(spans):
        if not span.text:
            continue
        text = escape(span.text)
        url = safe_url(span.url)
        if url:
            label = text.replace("\n", " ").strip() or _escape_url(url)
            text = f"<{_escape_url(url)}|{label}>"
        else:
            if span.code:
                text = wrap_lines(text, "`")
            if span.italic:
                text = wrap_lines(text, "_")
        if span.bold:
            text = wrap_lines(text, "*")
        out.append(text)
    return "".join(out)


def _section(text: str) -> SlackBlock | None:
    if not text.strip():
        return None
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _image_link(url: str, alt: str) -> SlackBlock | None:
    return _section("🖼 " + render_spans((Span(alt.strip() or "image", url=url),)))


def render_block(block: Block, *, images: bool = True, rich: bool = True) -> SlackBlock | None:
    """One neutral block as one Slack block, or ``None`` when it has nothing to show.

    ``rich=False`` gives the mrkdwn form even where styles need ``rich_text`` (for measuring).
    """
    match block:
        case Heading(text=text):
            plain = " ".join(clean_text(text).split())
            if not plain:
                return None
            text = escape_truncated(plain, MAX_HEADER_CHARS)
            return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}
        case Paragraph(spans=s):
            if rich and needs_rich(s):
                return rich_text("section", [s])
            return _section(render_spans(s))
        case BulletList(items=items):
            if rich and any(needs_rich(item) for item in items):
                return rich_text("list", list(items))
            return _section("\n".join(BULLET + render_spans(item) for item in items))
        case Quote(spans=s):
            if rich and needs_rich(s):
                return rich_text("quote", [s])
            text = render_spans(s)
            if not text.strip():
                return None
            return _section("\n".join("&gt; " + line for line in text.split("\n")))
        case Image(url=url, alt=alt):
            shown = figure_url(url) if images else None
            if shown and len(shown) <= MAX_IMAGE_URL:
                alt_text = " ".join(clean_text(alt).split()) or "image"
                return {
                    "type": "image",
                    "image_url": shown,
                    # plain text, not mrkdwn: Slack shows it as is and never parses it
                    "alt_text": alt_text[:MAX_ALT_CHARS],
                }
            return _image_link(url, alt)
        case Context(spans=s):
            # A context line holds mrkdwn only: styles that mrkdwn cannot place are dropped.
            text = render_spans(plain_spans(s) if needs_rich(s) else s)
            if not text.strip():
                return None
            return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
        case Divider():
            return {"type": "divider"}
        case Actions():
            return None  # rendered by render_blocks, which numbers the buttons
    return None  # pragma: no cover - the Block union is exhaustive


def render_blocks(blocks: Sequence[Block], *, images: bool = True) -> list[SlackBlock]:
    """The Slack blocks for a page of neutral blocks (buttons numbered through the page)."""
    out: list[SlackBlock] = []
    buttons = 0
    for block in blocks:
        if isinstance(block, Actions):
            out.extend(actions_blocks(block, buttons))
            buttons += len(block.buttons)
        elif (rendered := render_block(block, images=images)) is not None:
            out.append(rendered)
    return out


def images_as_links(payload: dict[str, Any]) -> dict[str, Any]:
    """The same payload with every image block turned into a link (Slack could not fetch one)."""
    blocks = []
    for block in payload.get("blocks", ()):
        if block.get("type") == "image":
            block = _image_link(block["image_url"], block.get("alt_text", "")) or block
        blocks.append(block)
    return {**payload, "blocks": blocks}


def has_images(payload: dict[str, Any]) -> bool:
    return any(b.get("type") == "image" for b in payload.get("blocks", ()))


def block_chars(block: SlackBlock) -> list[int]:
    """The length of each text object in a Slack block."""
    if block["type"] in ("rich_text", "actions"):
        return [rich_chars(block)]
    if "text" in block:
        return [len(block["text"]["text"])]
    return [len(e.get("text", "")) for e in block.get("elements", ())]


def _fits(blocks: Sequence[Block]) -> bool:
    rendered = render_blocks(blocks)
    if len(rendered) > MAX_BLOCKS:
        return False
    # Text is measured in its mrkdwn form even when it goes as rich_text: that size grows with
    # the text, so a shorter piece of a split never measures longer than a longer one.
    sizes = [
        n
        for block in blocks
        for b in ([render_block(block, rich=False)] if not isinstance(block, Actions) else [])
        if b is not None
        for n in block_chars(b)
    ]
    sizes += [n for b in rendered if b["type"] in ("rich_text", "actions") for n in block_chars(b)]
    return all(n <= MAX_SECTION_CHARS for n in sizes) and sum(sizes) <= MAX_MESSAGE_CHARS


def fallback_text(blocks: Sequence[Block]) -> str:
    """Plain-text fallback for notifications: escaped, at most :data:`FALLBACK_CHARS`."""
    plain = " ".join(clean_text(Message(tuple(blocks)).plain()).split())
    if not plain:  # a page of buttons only: their labels
        labels = (b.label for block in blocks if isinstance(block, Actions) for b in block.buttons)
        plain = " ".join(clean_text(" · ".join(labels)).split()) or "…"
    return escape_truncated(plain, FALLBACK_CHARS)


def render_slack(message: Message, *, images: bool = True) -> list[dict[str, Any]]:
    """Render ``message`` as one or more ``chat.postMessage`` payloads (without ``channel``).

    Each payload has at most :data:`MAX_BLOCKS` blocks, :data:`MAX_SECTION_CHARS` per text and
    :data:`MAX_MESSAGE_CHARS` in all; longer messages are split at item (divider) boundaries,
    then between blocks, then inside a block at line and word boundaries.
    """
    payloads = []
    shown = message.shown_blocks
    button = message.web_button()
    if button is not None and safe_url(button.url) is not None:
        shown = (*shown, Actions((button,)))  # "Open on the web" as a link button too
    for page in paginate(shown, _fits):
        blocks = render_blocks(page, images=images)
        if not blocks:
            continue
        payloads.append(
            {
                "text": fallback_text(page),
                "blocks": blocks,
                "unfurl_links": message.link_preview,
                "unfurl_media": message.link_preview,
            }
        )
    return payloads
