"""Inline tokens of a table cell or list item -> labelled paragraphs, papers and images.

markdown-it has already tokenized every cell (one ``inline`` token per cell, with ``<br>`` as
``html_inline`` children); this module works from those children and never re-parses text.

Vocabulary:

- a *line* is a run of children between ``<br>`` tokens (or soft/hard breaks);
- a *paragraph* is a run of lines between blank lines (``<br><br>``);
- a *label* is bold text at the start of a paragraph followed by a colon (``**TL;DR**：``) or
  ending with one (``**Crucial Insight:**``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from markdown_it.token import Token

from digests.items import Image
from digests.latex import math_to_text

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_COLONS = ":："
_COLON_SET = (":", "：")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_NL_SPACES = re.compile(r" *\n *")
_MANY_NL = re.compile(r"\n{3,}")

Line = list[Token]


@dataclass
class Chunk:
    """A labelled piece of text being assembled: Markdown and plain renderings side by side."""

    label: str = ""
    md: list[str] = field(default_factory=list)
    plain: list[str] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)

    def add(self, md: str, plain: str, sep: str = "") -> None:
        if sep and self.md:
            self.md.append(sep)
            self.plain.append(sep)
        self.md.append(md)
        self.plain.append(plain)

    def merge(self, other: Chunk, sep: str = "\n\n") -> None:
        """Append an unlabelled chunk's text and figures to this one."""
        self.add("".join(other.md), "".join(other.plain), sep=sep)
        self.images.extend(other.images)

    @property
    def text(self) -> str:
        return tidy("".join(self.md))

    @property
    def plain_text(self) -> str:
        return tidy("".join(self.plain))


@dataclass
class Paper:
    title: str
    url: str | None
    chunks: list[Chunk] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)


# Labels that open a paper's parts (folded by label_key): in a paper they start a new part even
# in the middle of a paragraph ("… <br> **Approach**: …").
PROBLEM_LABELS = frozenset(
    {"场景/问题", "场景", "问题", "背景", "problem", "scenario/problem", "scenario", "motivation"}
)
METHOD_LABELS = frozenset(
    {"方法思路", "方法", "思路", "核心方法", "method", "approach", "idea", "solution"}
)
PAPER_LABELS = PROBLEM_LABELS | METHOD_LABELS | {"result", "results", "结果", "结论"}


def label_key(label: str) -> str:
    """``场景 / 问题`` and ``Problem`` as the label sets spell them."""
    return re.sub(r"\s*/\s*", "/", " ".join(label.casefold().split()))


def image_of(tok: Token) -> Image:
    """An image token as an :class:`Image` (its alt text read like any other text)."""
    return Image(str(tok.attrs.get("src", "")), math_to_text(tok.content.strip()))


def tidy(text: str) -> str:
    """Collapse runs of spaces, trim spaces around newlines, at most one blank line, strip."""
    text = _SPACES.sub(" ", text)
    text = _NL_SPACES.sub("\n", text)
    text = _MANY_NL.sub("\n\n", text)
    return text.strip()


def is_br(tok: Token) -> bool:
    return tok.type == "html_inline" and _BR.fullmatch(tok.content.strip()) is not None


def _is_blank(tok: Token) -> bool:
    return tok.type == "text" and not tok.content.strip()


def render(tokens: Sequence[Token], images: list[Image] | None = None) -> tuple[str, str]:
    """Render inline tokens to (Markdown, plain) text. Images are collected, not rendered."""
    md: list[str] = []
    plain: list[str] = []
    hrefs: list[str] = []
    for tok in tokens:
        t = tok.type
        if t == "text":
            md.append(tok.content)
            plain.append(tok.content)
        elif t in ("strong_open", "strong_close", "em_open", "em_close", "s_open", "s_close"):
            md.append(tok.markup)
        elif t == "code_inline":
            md.append(f"{tok.markup}{tok.content}{tok.markup}")
            plain.append(tok.content)
        elif t == "link_open":
            href = str(tok.attrs.get("href", ""))
            if any(c in href for c in " ()<>"):
                href = "<" + href.replace("<", "%3C").replace(">", "%3E") + ">"
            hrefs.append(href)
            md.append("[")
        elif t == "link_close":
            md.append("](" + (hrefs.pop() if hrefs else "") + ")")
        elif t == "image":
            if images is not None:
                images.append(image_of(tok))
        elif t in ("softbreak", "hardbreak"):
            md.append("\n")
            plain.append("\n")
        elif t == "html_inline":
            if is_br(tok):
                md.append("\n")
                plain.append("\n")
            else:
                md.append(tok.content)
                plain.append(tok.content)
        else:
            md.append(tok.content)
            plain.append(tok.content)
    return math_to_text("".join(md)), math_to_text("".join(plain))


def plain_of(tokens: Sequence[Token]) -> str:
    return tidy(render(tokens)[1])


def split_lines(children: Sequence[Token]) -> list[Line]:
    """Split at ``<br>`` and line breaks that are not inside a link or emphasis."""
    lines: list[Line] = [[]]
    depth = 0
    for tok in children:
        if tok.nesting == 1:
            depth += 1
        elif tok.nesting == -1:
            depth = max(0, depth - 1)
        if depth == 0 and (is_br(tok) or tok.type in ("softbreak", "hardbreak")):
            lines.append([])
        else:
            lines[-1].append(tok)
    return lines


def _line_blank(line: Line) -> bool:
    return all(_is_blank(t) for t in line)


def split_paragraphs(children: Sequence[Token]) -> list[list[Line]]:
    """Paragraphs (lists of non-blank lines) separated by blank lines (``<br><br>``)."""
    paras: list[list[Line]] = []
    current: list[Line] = []
    for line in split_lines(children):
        if _line_blank(line):
            if current:
                paras.append(current)
                current = []
        else:
            current.append(line)
    if current:
        paras.append(current)
    return paras


def _lead(line: Line) -> int:
    """Index of the first token that is neither blank text nor an image."""
    i = 0
    while i < len(line) and (_is_blank(line[i]) or line[i].type == "image"):
        i += 1
    return i


def take_label(line: Line) -> tuple[str, Line, Line] | None:
    """If the line starts with a label, return (label, leading images, rest of the line)."""
    i = _lead(line)
    if i >= len(line) or line[i].type != "strong_open":
        return None
    depth = 0
    j = i
    for j in range(i, len(line)):
        depth += line[j].nesting if line[j].type in ("strong_open", "strong_close") else 0
        if depth == 0:
            break
    if depth != 0:
        return None
    inner = plain_of(line[i + 1 : j])
    rest = list(line[j + 1 :])
    if inner.endswith(_COLON_SET):
        label = inner.rstrip(_COLONS + " ").strip()
        # a second colon right after the bold (`**A:**：`) belongs to the label too
        if rest and rest[0].type == "text" and rest[0].content.lstrip()[:1] in _COLON_SET:
            rest[0] = _with_content(rest[0], rest[0].content.lstrip()[1:])
    elif rest and rest[0].type == "text" and rest[0].content.lstrip()[:1] in _COLON_SET:
        label = inner.strip()
        rest[0] = _with_content(rest[0], rest[0].content.lstrip()[1:])
    else:
        return None
    if not label:
        return None
    images = [t for t in line[:i] if t.type == "image"]
    return label, images, rest


def _with_content(tok: Token, content: str) -> Token:
    return Token("text", "", 0, content=content)


def _add_line(chunk: Chunk, line: Line, images: list[Image]) -> None:
    md, plain = render(line, images)
    chunk.add(md, plain, sep="\n")


def chunks_of_paragraph(
    para: list[Line], images: list[Image], opens: frozenset[str] = frozenset()
) -> list[Chunk]:
    """One paragraph -> chunks: a label at its start, and label-only lines inside it.

    Each chunk keeps the figures of its own lines (and those just before its label); ``images``
    collects them all, in order, for the item. A line whose label is in ``opens`` starts a part
    even with text after it on the same line.
    """
    chunks: list[Chunk] = []
    for n, line in enumerate(para):
        taken = take_label(line)
        if taken is not None and (
            n == 0 or all(_is_blank(t) for t in taken[2]) or label_key(taken[0]) in opens
        ):
            label, lead_images, rest = taken
            chunk = Chunk(label)
            chunk.images.extend(image_of(t) for t in lead_images)
            md, plain = render(rest, chunk.images)
            chunk.add(md, plain)
            chunks.append(chunk)
        else:
            if not chunks:
                chunks.append(Chunk())
            _add_line(chunks[-1], line, chunks[-1].images)
    for chunk in chunks:
        images.extend(chunk.images)
    return chunks


def cell_chunks(children: Sequence[Token], images: list[Image]) -> list[Chunk]:
    """A cell -> its labelled paragraphs. An unlabelled paragraph joins the one before it; a
    paragraph that is only a figure goes with the paragraph after it (or before, at the end)."""
    return keep_chunks(
        chunk for para in split_paragraphs(children) for chunk in chunks_of_paragraph(para, images)
    )


def keep_chunks(chunks: Iterable[Chunk], sep: str = "\n\n") -> list[Chunk]:
    """Join unlabelled chunks to the one before; hand figure-only chunks to a neighbour."""
    out: list[Chunk] = []
    waiting: list[Image] = []
    for chunk in chunks:
        if not chunk.label and not chunk.text:
            if out:
                out[-1].images.extend(chunk.images)
            else:
                waiting.extend(chunk.images)
            continue
        if waiting:
            chunk.images[:0] = waiting
            waiting = []
        if not chunk.label and out:
            out[-1].merge(chunk, sep)
        else:
            out.append(chunk)
    return out


def first_link(children: Sequence[Token]) -> tuple[str, str] | None:
    """(plain link text, href) of the first link, if any."""
    for i, tok in enumerate(children):
        if tok.type == "link_open":
            depth = 0
            for j in range(i, len(children)):
                depth += children[j].nesting if children[j].type.startswith("link_") else 0
                if depth == 0:
                    return plain_of(children[i + 1 : j]), str(tok.attrs.get("href", ""))
            return plain_of(children[i + 1 :]), str(tok.attrs.get("href", ""))
    return None


def leading_name(line: Line) -> tuple[str, str | None, Line] | None:
    """A name at the start of a list item: a link, or bold text that is not a label.

    Returns (name, href or None, rest of the line without a separator such as ``:`` or ``—``).
    """
    link = _leading_link(line)
    if link is not None:
        name, href, rest = link
        found: tuple[str, str | None, Line] = (name or href, href or None, rest)
    else:
        i = _lead(line)
        if i >= len(line) or line[i].type != "strong_open" or take_label(line) is not None:
            return None
        depth = 0
        for j in range(i, len(line)):
            depth += line[j].nesting if line[j].type in ("strong_open", "strong_close") else 0
            if depth == 0:
                break
        if depth != 0:
            return None
        inner_link = first_link(line[i + 1 : j])  # **[vLLM](https://…)**
        found = (plain_of(line[i + 1 : j]), inner_link[1] if inner_link else None, line[j + 1 :])
    name, url, rest = found
    rest = list(rest)
    if rest and rest[0].type == "text":
        head = rest[0].content.lstrip(" :：-–—|·")
        rest[0] = _with_content(rest[0], head)
    return (name, url or None, rest) if name else None


def _leading_link(line: Line) -> tuple[str, str, Line] | None:
    """A link at the start of a line: (text, href, rest of the line)."""
    i = _lead(line)
    if i >= len(line) or line[i].type != "link_open":
        return None
    depth = 0
    for j in range(i, len(line)):
        depth += line[j].nesting if line[j].type.startswith("link_") else 0
        if depth == 0:
            text = plain_of(line[i + 1 : j])
            return text, str(line[i].attrs.get("href", "")), list(line[:i]) + list(line[j + 1 :])
    return None


_SENTENCE_END = re.compile(r"[。！？.!?；;]\s*$")


def _title_line(para: list[Line]) -> str | None:
    """A paper title without a link: a short first line that is not a sentence."""
    first = para[0]
    if take_label(first) is not None:
        return None
    text = plain_of(first)
    if not text or len(text) > 200:
        return None
    lead = first[_lead(first)] if _lead(first) < len(first) else None
    is_bold = lead is not None and lead.type == "strong_open"
    has_labels = any(take_label(line) is not None for line in para[1:])
    if is_bold or (has_labels and not _SENTENCE_END.search(text)):
        return text.strip("*").strip()
    return None


def cell_papers(children: Sequence[Token]) -> tuple[list[Paper], list[str]]:
    """A Key Papers cell -> papers, and messages about text that belongs to no paper."""
    papers: list[Paper] = []
    problems: list[str] = []
    for para in split_paragraphs(children):
        link = _leading_link(para[0])
        body: list[Line]
        if link is not None:
            title, href, rest = link
            paper = Paper(title or href, href or None)
            papers.append(paper)
            body = ([rest] if not _line_blank(rest) else []) + para[1:]
        elif (title_line := _title_line(para)) is not None:
            paper = Paper(title_line, None)
            papers.append(paper)
            body = para[1:]
        elif papers:
            paper = papers[-1]
            body = para
        else:
            problems.append(f"text before the first paper title: {plain_of(para[0])[:60]!r}")
            continue
        if not body:
            continue
        new = chunks_of_paragraph(body, paper.images, PAPER_LABELS)
        if new and not new[0].label and paper.chunks and body is para:
            paper.chunks[-1].merge(new[0])
            new = new[1:]
        for chunk in new:
            if chunk.text or chunk.label:
                paper.chunks.append(chunk)
            elif paper.chunks:  # a figure on a line of its own illustrates what it follows
                paper.chunks[-1].images.extend(chunk.images)
    return papers, problems
