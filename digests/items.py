"""Typed items parsed from a report: the domain's nouns."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from digests.periods import link_key
from digests.text import normalize_name


class Kind(StrEnum):
    MODEL = "model"
    PAPER = "paper"
    TOPIC = "topic"
    INSIGHT = "insight"
    RADAR = "radar"


HIGHLIGHTS = "highlights"
#: Kinds that belong to their month alone: every report has its own "Crucial Insight" and radar.
MONTHLY_KINDS = frozenset({Kind.INSIGHT, Kind.RADAR})


@dataclass(frozen=True)
class Image:
    url: str
    alt: str = ""


@dataclass(frozen=True)
class Part:
    """One labelled paragraph of an item.

    ``section`` is the column (or field) it came from, in English when the header has English in
    parentheses (``Mechanism``), else the header as written (``整体趋势/演进``). ``label`` is the
    bold label without its trailing colon (``[Infra] 超大 MoE``, ``TL;DR``, ``场景/问题``), empty
    when the paragraph had none. ``text`` is Markdown inline text (bold, links, code kept; ``<br>``
    turned into newlines). ``images`` are the figures that stood inside this paragraph (or just
    before its label): a card shows them with the part they illustrate.
    """

    section: str
    label: str
    text: str
    images: tuple[Image, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"section": self.section, "label": self.label, "text": self.text}
        if self.images:  # only when there are any, so items without figures hash as before
            data["images"] = [{"url": i.url, "alt": i.alt} for i in self.images]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Part:
        images = tuple(Image(**i) for i in data.get("images", ()))
        return cls(data["section"], data["label"], data["text"], images)


@dataclass(frozen=True)
class Theme:
    slug: str
    title: str


@dataclass(frozen=True)
class Item:
    """One bite-size thing a report says: a model, a paper, a topic, an insight or the radar."""

    kind: Kind
    theme: str
    theme_title: str
    period: str
    title: str
    url: str | None
    parts: tuple[Part, ...]
    summary: str
    images: tuple[Image, ...] = ()
    position: int = 0
    line: int = 0
    topic: str | None = None
    papers: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    #: Its link is not its own: another item of its kind in its report has it too (a blog post
    #: shared by two models), so it is known by its name (see :attr:`key`).
    shared_link: bool = False

    @property
    def name_norm(self) -> str:
        return normalize_name(self.title)

    @property
    def name_key(self) -> str:
        """The key by name alone: kind and normalized title (and the month, for monthly kinds)."""
        if self.kind in MONTHLY_KINDS:
            return f"{self.kind.value}:{self.period}:{self.name_norm}"
        return f"{self.kind.value}:{self.name_norm}"

    @property
    def key(self) -> str:
        """Identity: the same key in a new version of a month is the same item, and the same key
        in two months is the same model or paper again (a newer copy supersedes the older one).

        A model, paper or topic is known by its arXiv id or canonical link where it has one (the
        same paper under another title in another month is the same item), else by its name.
        Insights and the radar are each month's own, so their key carries the period: January's
        "Crucial Insight" is never taken for February's.
        """
        if self.kind not in MONTHLY_KINDS and self.url and not self.shared_link:
            link = identity_link(self.url)
            if link:
                return f"{self.kind.value}:{link}"
        return self.name_key

    @property
    def content_hash(self) -> str:
        """Changes when anything a reader sees changes."""
        payload = json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "theme": self.theme,
            "theme_title": self.theme_title,
            "period": self.period,
            "title": self.title,
            "url": self.url,
            "summary": self.summary,
            "parts": [p.to_dict() for p in self.parts],
            "images": [{"url": i.url, "alt": i.alt} for i in self.images],
            "position": self.position,
            "line": self.line,
            "topic": self.topic,
            "papers": list(self.papers),
            "aliases": list(self.aliases),
            # only when set, so items without a shared link hash as before
            **({"shared_link": True} if self.shared_link else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Item:
        return cls(
            kind=Kind(data["kind"]),
            theme=data["theme"],
            theme_title=data.get("theme_title", data["theme"]),
            period=data["period"],
            title=data["title"],
            url=data.get("url"),
            parts=tuple(Part.from_dict(p) for p in data.get("parts", ())),
            summary=data.get("summary", ""),
            images=tuple(Image(**i) for i in data.get("images", ())),
            position=data.get("position", 0),
            line=data.get("line", 0),
            topic=data.get("topic"),
            papers=tuple(data.get("papers", ())),
            aliases=tuple(data.get("aliases", ())),
            shared_link=bool(data.get("shared_link", False)),
        )


def identity_link(url: str) -> str:
    """An item's link as its identity: an arXiv id in any form, or a link to a page of its own
    (with a path: a bare site such as ``https://github.com`` names nothing); "" for none."""
    key = link_key(url)
    if key.startswith("arxiv:"):
        return key
    host, _, path = key.partition("/")
    return key if "." in host and path.strip("/") else ""


@dataclass(frozen=True)
class ParseWarning:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Report:
    """A parsed report. ``items`` are in report order."""

    source: str
    period: str
    title: str
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)
    items: tuple[Item, ...] = ()
    warnings: tuple[ParseWarning, ...] = ()

    @property
    def themes(self) -> tuple[Theme, ...]:
        seen: dict[str, Theme] = {}
        for item in self.items:
            seen.setdefault(item.theme, Theme(item.theme, item.theme_title))
        return tuple(seen.values())
