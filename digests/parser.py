"""Report Markdown -> :class:`Report`: typed items, in report order, with warnings.

Pure (no I/O). One markdown-it pass; cells and list items are read from the inline tokens it
produced (see :mod:`digests.cells`); tables are classified by their headers, not their position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from digests.cells import (
    METHOD_LABELS,
    PROBLEM_LABELS,
    Chunk,
    cell_chunks,
    cell_papers,
    chunks_of_paragraph,
    first_link,
    image_of,
    keep_chunks,
    label_key,
    leading_name,
    plain_of,
    render,
    split_lines,
    take_label,
)
from digests.errors import ReportError
from digests.hygiene import decode_report, is_blank
from digests.items import (
    HIGHLIGHTS,
    MONTHLY_KINDS,
    Image,
    Item,
    Kind,
    ParseWarning,
    Part,
    Report,
    identity_link,
)
from digests.sections import (
    column_role,
    english_in_parens,
    is_name_header,
    is_topic_header,
    jsonable,
    period_of,
    section_name,
    theme_of,
)
from digests.summary import cut_summary, model_aliases, paper_aliases
from digests.text import link_target, normalize_name

__all__ = ["parse_report"]

_MD = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)

HIGHLIGHTS_TITLE = "Highlights"
NO_ITEMS = (
    "no items found: expected tables of models or topics (a first column such as 模型名称/Model "
    "or 主题/Topic with Key Papers), an Observatory image, or bullets with bold labels"
)

_TLDR = {"tl;dr", "tldr", "tl,dr", "tl dr", "一句话总结", "一句话", "总结", "in short", "one-liner"}

_RADAR = re.compile(r"observatory|radar|雷达", re.IGNORECASE)
_MODEL_SECTION = re.compile(r"\bmodels?\b|模型|基座|\(the clay\)", re.IGNORECASE)
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_YAML_KEY = re.compile(r"^[\w-]+\s*:")


@dataclass
class _Draft:
    kind: Kind
    theme: str
    theme_title: str
    title: str
    url: str | None
    line: int
    chunks: list[tuple[str, Chunk]] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    topic: str | None = None
    papers: list[str] = field(default_factory=list)
    aliases: tuple[str, ...] = ()
    summary: str = ""


def parse_report(text: str | bytes, source: str = "<report>") -> Report:
    """Parse a report. Raises :class:`ReportError` (and nothing else) when it cannot be accepted."""
    body, sha = decode_report(text, source)
    try:
        return _Parser(body, source, sha).run()
    except ReportError:
        raise
    except Exception as exc:  # the contract: nothing but ReportError leaves the parser
        raise ReportError(
            f"internal parser error ({type(exc).__name__}: {exc}); please report this file",
            source=source,
        ) from exc


class _Parser:
    def __init__(self, text: str, source: str, sha: str) -> None:
        self.text = text
        self.source = source
        self.sha = sha
        self.lines = text.split("\n")
        self.tokens: list[Token] = _MD.parse(text)
        self.meta: dict[str, Any] = {}
        self.title = ""
        self.h1_period: str | None = None
        self.drafts: list[_Draft] = []
        self.warnings: list[ParseWarning] = []
        self.theme = ("general", "General")
        self.in_radar = False
        self.radar: _Draft | None = None
        self.radar_title = "Industry Radar"
        self._raw_period: Any = None
        # the last item of a list of entries: a labelled paragraph right after it continues it
        self.last_entry: _Draft | None = None

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(ParseWarning(line, message))

    # --- driver ---------------------------------------------------------------------------

    def run(self) -> Report:
        self._front_matter()
        toks = self.tokens
        i, n = 0, len(toks)
        while i < n:
            tok = toks[i]
            t = tok.type
            line = tok.map[0] + 1 if tok.map else 0
            if t != "paragraph_open":
                self.last_entry = None if t != "bullet_list_open" else self.last_entry
            if t == "heading_open":
                self._heading(int(tok.tag[1:]), plain_of(toks[i + 1].children or []), line)
                i += 3
            elif t == "table_open":
                j = self._close(i)
                self._table(toks[i : j + 1])
                i = j + 1
            elif t in ("bullet_list_open", "ordered_list_open"):
                j = self._close(i)
                self._list(toks[i : j + 1], line)
                i = j + 1
            elif t == "paragraph_open":
                self._paragraph(toks[i + 1], line)
                i += 3
            elif t in ("front_matter", "hr"):
                i += 1
            elif t == "html_block":
                if not tok.content.strip().startswith("<!--"):
                    self.warn(line, f"raw HTML block not placed: {tok.content.strip()[:60]!r}")
                i += 1
            elif tok.nesting == 1:
                j = self._close(i)
                self.warn(
                    line, f"{t.removesuffix('_open')} not placed (lines {line}-{self._end(i)})"
                )
                i = j + 1
            else:
                if tok.content.strip():
                    self.warn(line, f"{t} not placed: {tok.content.strip()[:60]!r}")
                i += 1
        return self._finish()

    def _close(self, i: int) -> int:
        open_tok = self.tokens[i]
        want = open_tok.type.removesuffix("_open") + "_close"
        for j in range(i + 1, len(self.tokens)):
            tok = self.tokens[j]
            if tok.type == want and tok.level == open_tok.level:
                return j
        return len(self.tokens) - 1

    def _end(self, i: int) -> int:
        m = self.tokens[i].map
        return m[1] if m else 0

    # --- front matter, headings, paragraphs ------------------------------------------------

    def _front_matter(self) -> None:
        fm = next((t for t in self.tokens[:1] if t.type == "front_matter"), None)
        if fm is None:
            opened = self.lines[0].strip() == "---" and len(self.lines) > 1
            if opened and _YAML_KEY.match(self.lines[1]):
                raise ReportError(
                    "front matter opened with '---' is never closed: add a '---' line after it",
                    source=self.source,
                    line=1,
                )
            return
        try:
            data = yaml.safe_load(fm.content)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 2 if mark is not None else 1
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise ReportError(
                f"front matter is not valid YAML ({problem}): fix it or remove it",
                source=self.source,
                line=line,
            ) from None
        except Exception as exc:  # a YAML bomb or a recursion: still the user's file
            raise ReportError(
                f"front matter cannot be read ({type(exc).__name__})", source=self.source, line=1
            ) from None
        if data is None:
            return
        if not isinstance(data, dict):
            raise ReportError(
                f"front matter must be a mapping such as 'period: 2026-01', not a {type(data).__name__}",
                source=self.source,
                line=1,
            )
        self.meta = jsonable(data)
        self._raw_period = data.get("period")

    def _heading(self, level: int, text: str, line: int) -> None:
        if level == 1 and not self.title:
            self.title = text.strip()
            self.h1_period = period_of(text)
            return
        self.in_radar = bool(_RADAR.search(text))
        self.radar = None
        if self.in_radar:
            self.theme = (HIGHLIGHTS, HIGHLIGHTS_TITLE)
            self.radar_title = english_in_parens(text) or "Industry Radar"
        else:
            self.theme = theme_of(text)

    def _paragraph(self, inline: Token, line: int) -> None:
        children = inline.children or []
        if self.in_radar:
            if self.radar is None:
                self.radar = _Draft(
                    Kind.RADAR, HIGHLIGHTS, HIGHLIGHTS_TITLE, self.radar_title, None, line
                )
                self.drafts.append(self.radar)
            images: list[Image] = []
            md, plain = render(children, images)
            self.radar.images.extend(images)
            for image in images:
                if image.alt:
                    self.radar.chunks.append(
                        ("Radar", Chunk("", [image.alt], [image.alt], [image]))
                    )
            if md.strip():
                self.radar.chunks.append(("Radar", Chunk("", [md], [plain])))
            if not self.radar.summary:
                self.radar.summary = cut_summary(images[0].alt if images else plain)
            return
        if self.last_entry is not None and take_label(split_lines(children)[0]) is not None:
            found: list[Image] = []
            lines = split_lines(children)
            chunks = keep_chunks(
                (c for ln in lines for c in chunks_of_paragraph([ln], found)), sep="\n"
            )
            self.last_entry.chunks.extend(("", c) for c in chunks)
            self.last_entry.images.extend(found)
            return
        what = (
            "image"
            if all(c.type == "image" or not c.content.strip() for c in children)
            else "paragraph"
        )
        self.warn(
            line,
            f"{what} not placed (not in a table, list or radar section): "
            f"{inline.content.strip()[:60]!r}",
        )

    # --- lists: insights ------------------------------------------------------------------

    def _list(self, toks: list[Token], line: int) -> None:
        base = toks[0].level
        items: list[tuple[int, list[Token]]] = []
        for tok in toks[1:-1]:
            if tok.type == "list_item_open" and tok.level == base + 1:
                items.append((tok.map[0] + 1 if tok.map else line, []))
            elif items:
                items[-1][1].append(tok)
        skipped = 0
        self.last_entry = None
        for item_line, body in items:
            inlines = [t for t in body if t.type == "inline"]
            if inlines and self._entry(item_line, inlines):
                continue
            taken = take_label(list(inlines[0].children or [])) if inlines else None
            if taken is None:
                skipped += 1
                continue
            label, lead_images, rest = taken
            chunk = Chunk(label)
            chunk.images.extend(image_of(t) for t in lead_images)
            md, plain = render(rest, chunk.images)
            chunk.add(md, plain)
            prefix = ""
            for tok in body[body.index(inlines[0]) + 1 :]:
                if tok.type == "list_item_open":
                    prefix = f"{tok.info}{tok.markup} " if tok.info else "- "
                elif tok.type == "inline":
                    md, plain = render(tok.children or [], chunk.images)
                    chunk.add(prefix + md, prefix + plain, sep="\n")
                    prefix = ""
            draft = _Draft(Kind.INSIGHT, HIGHLIGHTS, HIGHLIGHTS_TITLE, label, None, item_line)
            draft.chunks.append(("Insight", chunk))
            draft.images = list(chunk.images)
            self.drafts.append(draft)
        if skipped:
            self.warn(
                line,
                f"list of {len(items)} item{'' if len(items) == 1 else 's'}: {skipped} without "
                "a bold label not placed",
            )

    def _entry(self, line: int, inlines: list[Token]) -> bool:
        """A list item that names a model or paper (a link or bold name, then labelled text)
        becomes an item of the current section's theme, as a table row would."""
        lines = split_lines(inlines[0].children or [])
        named = leading_name(lines[0])
        if named is None:
            # "**SGLang**:" alone on its line, its labelled parts below it
            taken = take_label(lines[0])
            more = len(lines) > 1 or len(inlines) > 1
            if taken is None or plain_of(taken[2]) or not more:
                return False
            named = (taken[0], None, [])
        title, url, rest = named
        all_lines = [rest, *lines[1:]]
        for tok in inlines[1:]:  # nested bullets and further paragraphs of a loose item
            all_lines.extend(split_lines(tok.children or []))
        images: list[Image] = []
        chunks = keep_chunks(
            (c for ln in all_lines for c in chunks_of_paragraph([ln], images)), sep="\n"
        )
        if not chunks or (url is None and not any(c.label for c in chunks)):
            return False
        theme, theme_title = self.theme
        kind = Kind.MODEL if _MODEL_SECTION.search(theme_title) else Kind.PAPER
        draft = _Draft(kind, theme, theme_title, title, url, line)
        draft.chunks = [("", c) for c in chunks]
        draft.images = images
        body = " ".join(c.plain_text for c in chunks)
        draft.aliases = paper_aliases(title, body) if kind is Kind.PAPER else model_aliases(title)
        self.drafts.append(draft)
        self.last_entry = draft
        return True

    # --- tables ---------------------------------------------------------------------------

    def _table(self, toks: list[Token]) -> None:
        line = toks[0].map[0] + 1 if toks[0].map else 0
        header: list[Token] = []
        rows: list[tuple[int, list[Token]]] = []
        in_head = False
        for tok in toks:
            if tok.type == "thead_open":
                in_head = True
            elif tok.type == "thead_close":
                in_head = False
            elif tok.type == "tr_open" and not in_head:
                rows.append((tok.map[0] + 1 if tok.map else line, []))
            elif tok.type == "inline":
                if in_head:
                    header.append(tok)
                elif rows:
                    rows[-1][1].append(tok)
        heads = [plain_of(h.children or []) for h in header]
        for row_line, _cells in rows:
            self._check_width(row_line, len(heads))
        name_col = next((c for c, h in enumerate(heads) if is_name_header(h)), None)
        topic_col = next((c for c, h in enumerate(heads) if is_topic_header(h)), None)
        roles = [column_role(h) for h in heads]
        if name_col is not None:
            for row_line, cells in rows:
                self._model_row(heads, name_col, row_line, cells)
        elif topic_col is not None and any(roles):
            for row_line, cells in rows:
                self._topic_row(heads, roles, topic_col, row_line, cells)
        else:
            first = heads[0] if heads else ""
            self.warn(
                line,
                f"table not recognized (first column {first!r}): expected a model-name column "
                f"(模型名称/Model) or 主题/Topic with Key Papers; its {len(rows)} "
                f"row{' was' if len(rows) == 1 else 's were'} not placed",
            )

    def _check_width(self, row_line: int, width: int) -> None:
        if not 0 < row_line <= len(self.lines):
            return
        src = self.lines[row_line - 1].strip()
        src = src.removeprefix("|")
        if src.endswith("|") and not src.endswith("\\|"):
            src = src[:-1]
        cells = len(_UNESCAPED_PIPE.split(src))
        if cells > width:
            self.warn(
                row_line,
                f"row has {cells} cells but the header has {width}; "
                "the extra cells were not placed",
            )

    def _model_row(self, heads: list[str], name_col: int, line: int, cells: list[Token]) -> None:
        children = cells[name_col].children or [] if name_col < len(cells) else []
        cell_text = plain_of(children)
        link = first_link(children)
        title = (link[0] if link and link[0] else cell_text).strip()
        if not title:
            self.warn(line, "model row without a name in its first column not placed")
            return
        theme, theme_title = self.theme
        draft = _Draft(Kind.MODEL, theme, theme_title, title, link[1] if link else None, line)
        for c, cell in enumerate(cells):
            if c == name_col:
                continue
            section = section_name(heads[c] if c < len(heads) else "", c)
            for chunk in cell_chunks(cell.children or [], draft.images):
                draft.chunks.append((section, chunk))
        draft.aliases = model_aliases(title, cell_text)
        self.drafts.append(draft)

    def _topic_row(
        self, heads: list[str], roles: list[str], topic_col: int, line: int, cells: list[Token]
    ) -> None:
        children = cells[topic_col].children or [] if topic_col < len(cells) else []
        link = first_link(children)
        title = plain_of(children) or (link[0] if link else "")
        if not title:
            self.warn(line, "topic row without a topic in its first column not placed")
            return
        theme, theme_title = self.theme
        topic = _Draft(Kind.TOPIC, theme, theme_title, title, link[1] if link else None, line)
        self.drafts.append(topic)
        for c, cell in enumerate(cells):
            if c == topic_col:
                continue
            role = roles[c] if c < len(roles) else ""
            if role == "papers":
                papers, problems = cell_papers(cell.children or [])
                for problem in problems:
                    self.warn(line, f"topic {title!r}: {problem} not placed")
                section = section_name(heads[c], c)
                for paper in papers:
                    draft = _Draft(Kind.PAPER, theme, theme_title, paper.title, paper.url, line)
                    draft.topic = title
                    draft.chunks = [(section, ch) for ch in paper.chunks]
                    draft.images = paper.images
                    body = " ".join(ch.plain_text for ch in paper.chunks)
                    draft.aliases = paper_aliases(paper.title, body)
                    self.drafts.append(draft)
                    topic.papers.append(paper.title)
                continue
            section = role or section_name(heads[c] if c < len(heads) else "", c)
            for chunk in cell_chunks(cell.children or [], topic.images):
                topic.chunks.append((section, chunk))
        topic.aliases = (title,)

    # --- finishing ------------------------------------------------------------------------

    def _period(self) -> str:
        raw = self._raw_period
        if raw is not None:
            period = period_of(raw)
            if period:
                return period
            self.warn(1, f"front matter period {raw!r} is not YYYY-MM; looked elsewhere")
        if self.h1_period:
            return self.h1_period
        from_name = period_of(re.split(r"[\\/]", self.source)[-1])
        if from_name:
            return from_name
        raise ReportError(
            "no period: add 'period: YYYY-MM' to the front matter or a YYYY-MM in the title",
            source=self.source,
            line=1,
        )

    def _finish(self) -> Report:
        if not self.drafts:
            raise ReportError(NO_ITEMS, source=self.source)
        period = self._period()
        items: list[Item] = []
        seen: dict[str, int] = {}
        shared = self._shared_links()
        for d in self.drafts:
            if is_blank(d.title):
                # a title of only invisible characters (U+3164...) shows nothing anywhere
                self.warn(d.line, f"{d.kind.value} without a visible title not placed")
                continue
            url = link_target(d.url)  # a name linked to tg://… keeps only its text
            link = identity_link(url) if url and d.kind not in MONTHLY_KINDS else ""
            by_link = bool(link) and (d.kind, link) not in shared
            key = f"{d.kind.value}:{normalize_name(d.title)}"
            for k in (key, f"{d.kind.value}:{link}") if by_link else (key,):
                if k in seen:
                    self.warn(
                        d.line,
                        f"duplicate {d.kind.value} {d.title!r} (first at line "
                        f"{seen[k]}{', the same link' if k != key else ''}) not placed again",
                    )
                    break
            else:
                seen[key] = d.line
                if by_link:
                    seen[f"{d.kind.value}:{link}"] = d.line
                self._place(d, url, bool(link) and not by_link, period, items)
        if not items:
            raise ReportError(NO_ITEMS, source=self.source)
        title = self.title or str(self.meta.get("title") or f"Report {period}")
        return Report(
            source=self.source,
            period=period,
            title=title,
            sha256=self.sha,
            meta=self.meta,
            items=tuple(items),
            warnings=tuple(sorted(self.warnings, key=lambda w: w.line)),
        )

    def _shared_links(self) -> set[tuple[Kind, str]]:
        """(kind, link) pairs that items of different names share: not any one's identity (an
        arXiv id always is: the same paper twice is one)."""
        names: dict[tuple[Kind, str], set[str]] = {}
        for d in self.drafts:
            url = link_target(d.url)
            link = identity_link(url) if url else ""
            if link and not link.startswith("arxiv:"):
                names.setdefault((d.kind, link), set()).add(normalize_name(d.title))
        return {pair for pair, found in names.items() if len(found) > 1}

    def _place(
        self, d: _Draft, url: str | None, shared_link: bool, period: str, items: list[Item]
    ) -> None:
        parts = tuple(Part(s, c.label, c.text, tuple(dict.fromkeys(c.images))) for s, c in d.chunks)
        items.append(
            Item(
                kind=d.kind,
                theme=d.theme,
                theme_title=d.theme_title,
                period=period,
                title=d.title,
                url=url,
                parts=parts,
                summary=self._summary(d),
                images=tuple(dict.fromkeys(d.images)),
                position=len(items),
                line=d.line,
                topic=d.topic,
                papers=tuple(dict.fromkeys(d.papers)),
                aliases=d.aliases or (d.title,),
                shared_link=shared_link,
            )
        )

    @staticmethod
    def _summary(d: _Draft) -> str:
        if d.summary:
            return d.summary
        for _section, chunk in d.chunks:
            if label_key(chunk.label) in _TLDR:
                text = cut_summary(chunk.plain_text, whole=True)
                if text:
                    return text
        # A paper is summed up by its problem (else its approach), never by a remark such as
        # "(NeurIPS oral, must read)" written after its link.
        for wanted in (PROBLEM_LABELS, METHOD_LABELS) if d.kind is Kind.PAPER else ():
            for _section, chunk in d.chunks:
                if label_key(chunk.label) in wanted:
                    text = cut_summary(chunk.plain_text)
                    if text:
                        return text
        for _section, chunk in d.chunks:
            text = cut_summary(chunk.plain_text)
            if text:
                return text
        return cut_summary(d.title, whole=True) or d.title or d.kind.value
