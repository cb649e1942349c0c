"""Render a neutral message as Discord message payloads of embeds.

One embed per item (the groups between dividers): a title (the item's first heading), a
markdown description, and context lines as the footer. Within Discord's limits, with headroom:
4,096 characters of description, 256 of title, 2,048 of footer, 6,000 across a message's embeds,
10 embeds a message. Message ``content`` is left empty (2,000 characters would be its limit), so
nothing a report says can ping: embeds never notify, and the adapter sends with no allowed
mentions. Markdown characters in report text are backslash-escaped, and a word joiner follows
every ``@`` that could mention (:func:`channels.layout.defuse`), in titles and footers too. An
item's first figure is the embed's image (Discord fetches it; ``images=False``, as
``DIGESTBOT_IMAGES=false`` asks, keeps it a link, as are any further images). Pure: no
discord.py import.

Buttons are message components: action rows (at most :data:`MAX_ROWS` of
:data:`ROW_BUTTONS`) of buttons whose ``custom_id`` is the command they send (the adapter swaps
a command longer than a ``custom_id`` holds for a stored token, :mod:`channels.buttons`), on the
message that holds their blocks; a link button (style 5) opens its ``url``. The web page is
that link button: an embed's footer cannot hold a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from channels.layout import (
    clean_text,
    defuse,
    defuse_spans,
    figure_url,
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

MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FOOTER = 2048
MAX_MESSAGE_CHARS = 6000
MAX_CONTENT = 2000
#: Kept free of every limit above: Discord's counting of some characters is not documented.
HEADROOM = 96
COLOR = 0x3B82F6
#: Message components: rows of buttons a message, buttons a row, a label's and a url's length.
MAX_ROWS = 5
ROW_BUTTONS = 5
MAX_LABEL = 80
MAX_URL = 512
MAX_CUSTOM_ID = 100
#: Button styles: primary (blurple), secondary (grey), danger (red), link.
STYLES = {"primary": 1, "": 2, "danger": 4}
LINK_STYLE = 5
BULLET = "• "

Embed = dict[str, Any]
Payload = dict[str, Any]

_MARKDOWN = set("\\*_~`|<>[]@")
#: Markdown only at the start of a line: headings, lists, quotes.
_LINE_START = set("#->+")


def escape(text: str) -> str:
    """Backslash-escape the markdown and mention characters of report text."""
    out: list[str] = []
    line_start = True
    for ch in defuse(clean_text(text)):
        if ch in _MARKDOWN or (line_start and ch in _LINE_START):
            out.append("\\" + ch)
        else:
            out.append(ch)
        line_start = ch == "\n" or (line_start and ch == " ")
    return "".join(out)


def plain(text: str, limit: int) -> str:
    text = " ".join(defuse(clean_text(text)).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _url(url: str) -> str:
    return "".join(
        {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E"}.get(c, c) for c in url
    )


def render_spans(spans: Spans) -> str:
    """Discord markdown: ``**bold**``, ``*italic*``, `` `code` ``, ``[text](url)``."""
    out: list[str] = []
    for span in defuse_spans(spans):
        if not span.text:
            continue
        url = safe_url(span.url)
        if span.code and not url:
            # Inside a code span Discord shows backslashes as they are: only a backtick could
            # end it early, so that one becomes a look-alike.
            text = wrap_lines(clean_text(span.text).replace("`", "ˋ"), "`")
        else:
            text = escape(span.text)
        if span.italic:
            text = wrap_lines(text, "*")
        if span.bold:
            text = wrap_lines(text, "**")
        if url:
            label = text.replace("\n", " ").strip() or escape(url)
            text = f"[{label}]({_url(url)})"
        out.append(text)
    return "".join(out)


def render_block(block: Block) -> str:
    match block:
        case Heading(text=text):
            title = plain(text, MAX_DESCRIPTION)
            return f"**{escape(title)}**" if title else ""
        case Paragraph(spans=s):
            return render_spans(s)
        case BulletList(items=items):
            return "\n".join(BULLET + render_spans(item) for item in items)
        case Quote(spans=s):
            text = render_spans(s)
            return "\n".join("> " + line for line in text.split("\n")) if text.strip() else ""
        case Image(url=url, alt=alt):
            return "🖼 " + render_spans((Span(alt.strip() or "image", url=url),))
        case Context(spans=s):
            return render_spans(s)
    return ""


def render_embed(blocks: Sequence[Block], *, images: bool = True) -> Embed:
    """One item as one embed: first heading as title, context lines as footer, and (with
    ``images``) its first figure as the embed's image."""
    blocks = list(blocks)
    embed: Embed = {"type": "rich", "color": COLOR}
    if images:
        figure = next((b for b in blocks if isinstance(b, Image) and figure_url(b.url)), None)
        if figure is not None:
            embed["image"] = {"url": figure_url(figure.url)}
            blocks = [b for b in blocks if b is not figure]
    first = blocks[0] if blocks else None
    if isinstance(first, Heading) and plain(first.text, MAX_TITLE):
        embed["title"] = plain(first.text, MAX_TITLE)
        blocks = blocks[1:]
    body = [render_block(b) for b in blocks if not isinstance(b, Context)]
    description = "\n\n".join(p for p in body if p.strip())
    if description:
        embed["description"] = description
    footer = " · ".join(
        plain("".join(x.text for x in b.spans), MAX_FOOTER)
        for b in blocks
        if isinstance(b, Context)
    ).strip(" ·")
    if footer:
        embed["footer"] = {"text": footer}
    return embed


def _items(blocks: Sequence[Block]) -> list[list[Block]]:
    items: list[list[Block]] = [[]]
    for block in blocks:
        if isinstance(block, Divider):
            items.append([])
        else:
            items[-1].append(block)
    return [i for i in items if i]


def embed_chars(embed: Embed) -> int:
    """What Discord counts towards the 6,000: title, description and footer text."""
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed.get("footer", {}).get("text", ""))
    )


def render_page(blocks: Sequence[Block], *, images: bool = True) -> list[Embed]:
    embeds = [render_embed(item, images=images) for item in _items(blocks)]
    return [e for e in embeds if embed_chars(e) or "image" in e]


def _fits(blocks: Sequence[Block]) -> bool:
    # Checked without images: an embed's image takes none of the text limits.
    embeds = render_page(blocks, images=False)
    return (
        len(embeds) <= MAX_EMBEDS
        and all(len(e.get("description", "")) <= MAX_DESCRIPTION - HEADROOM for e in embeds)
        and all(len(e.get("footer", {}).get("text", "")) <= MAX_FOOTER - HEADROOM for e in embeds)
        and sum(embed_chars(e) for e in embeds) <= MAX_MESSAGE_CHARS - HEADROOM
    )


def render_button(button: Button) -> dict[str, Any] | None:
    """A button component: sending its command (``custom_id``), or a link (style 5)."""
    label = plain(button.label, MAX_LABEL) or "…"
    if button.url is not None:
        url = safe_url(button.url)
        if url is None or len(url) > MAX_URL:
            return None  # a link that may not be followed is no button
        return {"type": 2, "style": LINK_STYLE, "label": label, "url": url}
    if not button.command:
        return None
    return {
        "type": 2,
        "style": STYLES.get(button.style, STYLES[""]),
        "label": label,
        "custom_id": button.command,
    }


def components(buttons: Sequence[Button]) -> list[dict[str, Any]]:
    """Action rows of ``buttons``: :data:`ROW_BUTTONS` a row, at most :data:`MAX_ROWS` rows; a
    command twice in one message is one button (a ``custom_id`` is unique in its message)."""
    seen: set[str] = set()
    shown = []
    for button in buttons:
        element = render_button(button)
        ident = None if element is None else str(element.get("custom_id", element.get("url")))
        if element is None or ident is None or ident in seen:
            continue
        seen.add(ident)
        shown.append(element)
    shown = shown[: MAX_ROWS * ROW_BUTTONS]
    return [
        {"type": 1, "components": shown[i : i + ROW_BUTTONS]}
        for i in range(0, len(shown), ROW_BUTTONS)
    ]


def _buttons(blocks: Sequence[Block]) -> list[Button]:
    return [b for block in blocks if isinstance(block, Actions) for b in block.buttons]


def render_discord(message: Message, *, images: bool = True) -> list[Payload]:
    """Render ``message`` as message payloads (``{"embeds": [...]}``, and ``components`` when
    it has buttons) within Discord's limits.

    Long messages are split at item boundaries, then between blocks, then inside a block
    (:func:`channels.layout.paginate`); a message with nothing to show renders as ``[]``. A
    page's buttons go with it (with the page before, when it shows nothing else).
    """
    blocks = message.blocks
    web = message.web_button()
    if web is not None and safe_url(web.url) is not None:
        blocks = (*blocks, Actions((web,)))
    payloads: list[Payload] = []
    pending: list[Button] = []  # buttons met before any embed
    for page in paginate(blocks, _fits):
        embeds = render_page(page, images=images)
        buttons = _buttons(page)
        if embeds:
            payloads.append({"embeds": embeds, "buttons": [*pending, *buttons]})
            pending = []
        elif payloads:
            payloads[-1]["buttons"].extend(buttons)
        else:
            pending.extend(buttons)
    for payload in payloads:
        rows = components(payload.pop("buttons"))
        if rows:
            payload["components"] = rows
    return payloads
