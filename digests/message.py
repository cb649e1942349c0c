"""The neutral message: what the bot says, with no platform in it.

Commands and the digest builder produce a :class:`Message`; renderers in ``channels/`` turn it
into Telegram HTML, Slack Block Kit or console text, and split it to fit each platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from digests.words import N_


@dataclass(frozen=True)
class Span:
    """A run of inline text. ``url`` makes it a link.

    ``command`` marks text the reader can send as a command (``/model GLM-4.7 2025-12``): shown as
    its text today, it is what a platform's button would send.
    """

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    url: str | None = None
    command: str | None = None


Spans = tuple[Span, ...]


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    spans: Spans


@dataclass(frozen=True)
class BulletList:
    items: tuple[Spans, ...]


@dataclass(frozen=True)
class Quote:
    """Quoted text; ``expandable`` asks platforms that can to fold it (Telegram)."""

    spans: Spans
    expandable: bool = False


@dataclass(frozen=True)
class Image:
    url: str
    alt: str = ""


@dataclass(frozen=True)
class Divider:
    """A boundary between items: the preferred place to split a long message."""


@dataclass(frozen=True)
class Context:
    """A small footer line (period, hints, "3 more: /digest clay")."""

    spans: Spans


@dataclass(frozen=True)
class Button:
    """A button that sends ``command`` as if the reader had typed it.

    ``style`` is ``""``, ``primary`` or ``danger`` (platforms without styles ignore it).
    ``url`` makes it a link button instead: pressing it opens the page (``command`` is empty).
    """

    label: str
    command: str
    style: str = ""
    url: str | None = None


@dataclass(frozen=True)
class Actions:
    """A row of buttons. Platforms without buttons show them as numbered choices to type."""

    buttons: tuple[Button, ...]


Block = Heading | Paragraph | BulletList | Quote | Image | Divider | Context | Actions


#: The words of the link to a message's web page (whoever sets ``web_url`` translates them into
#: ``web_label``).
WEB_LINK_TEXT = N_("Open on the web")


@dataclass(frozen=True)
class Message:
    """A reply or a digest. ``link_preview`` is off for cards, which carry many links.

    ``web_url`` is where the same thing reads better (the web face): renderers show it as a last
    "Open on the web" line (``web_label``, in the chat's language), through :attr:`shown_blocks`,
    and platforms with link buttons as a button beside it too.
    ``edit``: when this answers a button press, it replaces the message that held the button
    (paging, "More"); a typed command's answer is always a new message.
    ``notice``: a short answer for the presser alone (a refusal, a stale button, a thank-you):
    a toast or an ephemeral message where the platform has one, a plain reply otherwise.
    ``thread``: commands whose answers belong in this message's thread (each digest entry's full
    card), for platforms set to thread digests.
    """

    blocks: tuple[Block, ...]
    link_preview: bool = False
    tags: tuple[str, ...] = field(default=())
    web_url: str | None = None
    edit: bool = False
    notice: bool = False
    thread: tuple[str, ...] = field(default=())
    web_label: str = WEB_LINK_TEXT

    @property
    def shown_blocks(self) -> tuple[Block, ...]:
        """The blocks a renderer shows: ``blocks``, then the web link when there is one."""
        if not self.web_url:
            return self.blocks
        return (*self.blocks, Context((Span(self.web_label, url=self.web_url),)))

    def web_button(self) -> Button | None:
        """The link button to the web page, for platforms that have link buttons."""
        if not self.web_url:
            return None
        return Button(self.web_label, "", url=self.web_url)

    @classmethod
    def text(cls, *paragraphs: str, notice: bool = False) -> Message:
        """A message of plain paragraphs."""
        return cls(tuple(Paragraph((Span(p),)) for p in paragraphs), notice=notice)

    def buttons(self) -> list[Button]:
        """Every button of the message, in order (the console numbers them so)."""
        return [b for block in self.blocks if isinstance(block, Actions) for b in block.buttons]

    def plain(self) -> str:
        """The message as plain text, without styling (a fallback and for tests)."""
        lines: list[str] = []
        for block in self.shown_blocks:
            match block:
                case Heading(text=t):
                    lines.append(t)
                case Paragraph(spans=s) | Context(spans=s) | Quote(spans=s):
                    lines.append("".join(x.text for x in s))
                case BulletList(items=items):
                    lines.extend("• " + "".join(x.text for x in it) for it in items)
                case Image(url=u, alt=a):
                    lines.append(f"{a} {u}".strip())
                case Divider():
                    lines.append("")
        return "\n".join(lines)


def command_span(command: str) -> Span:
    """A command the reader can send, shown as code (and, later, as a button)."""
    return Span(command, code=True, command=command)


def commands_in(message: Message) -> list[str]:
    """Every command the message offers, in order (what buttons would be made from)."""
    found: list[str] = []
    for block in message.blocks:
        rows: tuple[Spans, ...] = ()
        match block:
            case Paragraph(spans=s) | Context(spans=s) | Quote(spans=s):
                rows = (s,)
            case BulletList(items=items):
                rows = items
        found.extend(span.command for row in rows for span in row if span.command)
    return found


def spans(*parts: str | Span) -> Spans:
    """Build a span tuple from strings (plain) and spans."""
    return tuple(p if isinstance(p, Span) else Span(p) for p in parts)


_BLOCKS: dict[str, type] = {
    "heading": Heading,
    "paragraph": Paragraph,
    "bullets": BulletList,
    "quote": Quote,
    "image": Image,
    "divider": Divider,
    "context": Context,
    "actions": Actions,
}
_NAMES = {cls: name for name, cls in _BLOCKS.items()}


def _span_json(span: Span) -> dict[str, object]:
    data: dict[str, object] = {"t": span.text}
    for flag in ("bold", "italic", "code"):
        if getattr(span, flag):
            data[flag] = True
    if span.url:
        data["url"] = span.url
    if span.command:
        data["cmd"] = span.command
    return data


def _span_from(data: dict[str, object]) -> Span:
    url = data.get("url")
    cmd = data.get("cmd")
    return Span(
        str(data["t"]),
        bool(data.get("bold")),
        bool(data.get("italic")),
        bool(data.get("code")),
        str(url) if url else None,
        str(cmd) if cmd else None,
    )


def message_to_json(message: Message) -> dict[str, object]:
    """A JSON-safe form of a message, for the outbox."""
    blocks: list[dict[str, object]] = []
    for block in message.blocks:
        entry: dict[str, object] = {"type": _NAMES[type(block)]}
        match block:
            case Heading(text=t):
                entry["text"] = t
            case Paragraph(spans=s) | Context(spans=s):
                entry["spans"] = [_span_json(x) for x in s]
            case Quote(spans=s, expandable=e):
                entry["spans"] = [_span_json(x) for x in s]
                entry["expandable"] = e
            case BulletList(items=items):
                entry["items"] = [[_span_json(x) for x in it] for it in items]
            case Image(url=u, alt=a):
                entry["url"], entry["alt"] = u, a
            case Actions(buttons=buttons):
                entry["buttons"] = [_button_json(b) for b in buttons]
        blocks.append(entry)
    data: dict[str, object] = {
        "blocks": blocks,
        "link_preview": message.link_preview,
        "tags": list(message.tags),
    }
    if message.web_url:
        data["web_url"] = message.web_url
    if message.web_label != WEB_LINK_TEXT:
        data["web_label"] = message.web_label
    if message.edit:
        data["edit"] = True
    if message.notice:
        data["notice"] = True
    if message.thread:
        data["thread"] = list(message.thread)
    return data


def _button_json(button: Button) -> dict[str, str]:
    data = {"label": button.label, "command": button.command}
    if button.style:
        data["style"] = button.style
    if button.url:
        data["url"] = button.url
    return data


def message_from_json(data: dict[str, object]) -> Message:
    blocks: list[Block] = []
    for entry in data["blocks"]:  # type: ignore[attr-defined]
        kind = entry["type"]
        spans_of = tuple(_span_from(x) for x in entry.get("spans", ()))
        match kind:
            case "heading":
                blocks.append(Heading(entry["text"]))
            case "paragraph":
                blocks.append(Paragraph(spans_of))
            case "context":
                blocks.append(Context(spans_of))
            case "quote":
                blocks.append(Quote(spans_of, bool(entry.get("expandable"))))
            case "bullets":
                blocks.append(
                    BulletList(tuple(tuple(_span_from(x) for x in it) for it in entry["items"]))
                )
            case "image":
                blocks.append(Image(entry["url"], entry.get("alt", "")))
            case "divider":
                blocks.append(Divider())
            case "actions":
                blocks.append(
                    Actions(
                        tuple(
                            Button(b["label"], b["command"], b.get("style", ""), b.get("url"))
                            for b in entry["buttons"]
                        )
                    )
                )
    web_url = data.get("web_url")
    return Message(
        tuple(blocks),
        bool(data.get("link_preview")),
        tuple(data.get("tags", ())),  # type: ignore[arg-type]
        str(web_url) if web_url else None,
        edit=bool(data.get("edit")),
        notice=bool(data.get("notice")),
        thread=tuple(data.get("thread", ())),  # type: ignore[arg-type]
        web_label=str(data.get("web_label") or WEB_LINK_TEXT),
    )
