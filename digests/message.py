"""The neutral message: what the bot says, with no platform in it.

Commands and the digest builder produce a :class:`Message`; renderers in ``channels/`` turn it
into Telegram HTML, Slack Block Kit or console text, and split it to fit each platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """A run of inline text. ``url`` makes it a link."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    url: str | None = None


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


Block = Heading | Paragraph | BulletList | Quote | Image | Divider | Context


@dataclass(frozen=True)
class Message:
    """A reply or a digest. ``link_preview`` is off for cards, which carry many links."""

    blocks: tuple[Block, ...]
    link_preview: bool = False
    tags: tuple[str, ...] = field(default=())

    @classmethod
    def text(cls, *paragraphs: str) -> Message:
        """A message of plain paragraphs."""
        return cls(tuple(Paragraph((Span(p),)) for p in paragraphs))

    def plain(self) -> str:
        """The message as plain text, without styling (a fallback and for tests)."""
        lines: list[str] = []
        for block in self.blocks:
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


def spans(*parts: str | Span) -> Spans:
    """Build a span tuple from strings (plain) and spans."""
    return tuple(p if isinstance(p, Span) else Span(p) for p in parts)
