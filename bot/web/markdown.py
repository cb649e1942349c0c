"""Report Markdown as safe HTML: text never executes, tables become cards on narrow screens.

markdown-it-py parses the report (GFM tables, front matter dropped). Raw HTML is escaped and shown
as text, except ``<br>`` (the reports break lines in table cells with it). Links and images keep
only http(s) targets, as in chat (``mailto:``, ``tg://``, ``javascript:`` … become plain text).
Every table cell carries its column header (``data-label``) so the stylesheet can show each row
as a labelled card on a phone, and H2/H3 headings get ids (theme slugs where they name a theme,
so an item page can link to its section).

The text is what chat shows: the parser's cleaning (:func:`digests.hygiene.clean_report_text`:
bidirectional overrides and zero-width characters dropped) and its reading of LaTeX math as
Unicode (:func:`digests.latex.math_to_text`: ``$\\rightarrow$`` is ``→``) in text and alt text.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.front_matter import front_matter_plugin

from digests.hygiene import clean_report_text
from digests.latex import math_to_text
from digests.sections import theme_of
from digests.text import link_target

_BREAK = re.compile(r"(?i)^\s*<br\s*/?>\s*$")


def safe_href(url: str) -> str | None:
    """``url`` when a page may link to it or show it: http(s) only, the rule of every renderer
    (:func:`digests.text.link_target`); else None."""
    return link_target(url)


def _filter_links(state: StateCore) -> None:
    """Unsafe links and images lose their target: a link keeps its text, an image its alt."""
    for block in state.tokens:
        children = block.children
        if not children:
            continue
        dropped: list[bool] = []
        out: list[Token] = []
        for token in children:
            if token.type == "link_open":
                href = safe_href(str(token.attrGet("href") or ""))
                dropped.append(href is None)
                if href is None:
                    continue
                token.attrSet("href", href)
                token.attrSet("rel", "nofollow noopener noreferrer")
            elif token.type == "link_close":
                if dropped.pop() if dropped else False:
                    continue
            elif token.type == "image":
                src = safe_href(str(token.attrGet("src") or ""))
                if src is None:
                    alt = Token("text", "", 0)
                    alt.content = token.content or "image"
                    out.append(alt)
                    continue
                token.attrSet("src", src)
                token.attrSet("loading", "lazy")
            out.append(token)
        block.children = out


def _read_math(state: StateCore) -> None:
    """LaTeX math in text and image alt text read as Unicode, as the parser does for chat."""
    for block in state.tokens:
        for token in block.children or ():
            if token.type == "text" and "$" in token.content:
                token.content = math_to_text(token.content)
            elif token.type == "image":
                token.content = math_to_text(token.content)
                for child in token.children or ():
                    if child.type == "text":
                        child.content = math_to_text(child.content)


def _label_cells(state: StateCore) -> None:
    """Give each body cell its column's header as ``data-label``."""
    headers: list[str] = []
    column = 0
    in_head = False
    tokens = state.tokens
    for n, token in enumerate(tokens):
        if token.type == "thead_open":
            headers, in_head = [], True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            column = 0
        elif token.type == "th_open" and in_head:
            headers.append(_plain(tokens[n + 1]))
            _drop_style(token)
        elif token.type == "td_open":
            _drop_style(token)
            if column < len(headers) and headers[column]:
                token.attrSet("data-label", headers[column])
            if column == 0:
                token.attrSet("class", "lead")
            column += 1


def _drop_style(token: Token) -> None:
    # The CSP allows no inline styles; cells are left-aligned by the stylesheet.
    token.attrs.pop("style", None)


def _plain(inline: Token) -> str:
    return "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))


def _anchor_headings(state: StateCore) -> None:
    """Ids for H2/H3 headings: the theme slug of the heading, made unique."""
    used: set[str] = set()
    for n, token in enumerate(state.tokens):
        if token.type != "heading_open" or token.tag not in ("h2", "h3"):
            continue
        slug = theme_of(_plain(state.tokens[n + 1]))[0]
        unique, k = slug, 2
        while unique in used:
            unique, k = f"{slug}-{k}", k + 1
        used.add(unique)
        token.attrSet("id", unique)


_LINE_BLOCKS = ("tr_open", "list_item_open", "paragraph_open", "blockquote_open")


def line_anchor(line: int) -> str:
    """The id of the block a report's line ``line`` (1-based) starts: ``L45``. Items record the
    line they were read from, so their pages link the very row or bullet they came from."""
    return f"L{line}"


def _anchor_lines(state: StateCore) -> None:
    """An id on the outermost table row, list item or paragraph starting each line, and an empty
    ``<span>`` with the id of each further line of a paragraph (after its line breaks), so every
    line an item can be read from is a place on the page. Not for inline text (a part's)."""
    if state.inlineMode:
        return
    used: set[int] = set()
    for token in state.tokens:
        if token.map and token.type in _LINE_BLOCKS and not token.attrGet("id"):
            line = token.map[0] + 1
            if line not in used:
                used.add(line)
                token.attrSet("id", line_anchor(line))
        if token.type != "inline" or not token.map or not token.children:
            continue
        line = token.map[0] + 1
        children: list[Token] = []
        for child in token.children:
            children.append(child)
            if child.type in ("softbreak", "hardbreak"):
                line += 1
                if line not in used:
                    used.add(line)
                    mark = Token("line_anchor", "span", 0)
                    mark.attrSet("id", line_anchor(line))
                    children.append(mark)
        token.children = children


def _line_mark(
    _renderer: Any, tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType
) -> str:
    return f'<span id="{html.escape(str(tokens[idx].attrGet("id")))}"></span>'


def _render_html(
    _renderer: Any, tokens: Sequence[Token], idx: int, _options: OptionsDict, _env: EnvType
) -> str:
    content = tokens[idx].content
    if _BREAK.match(content):
        return "<br>"
    escaped = html.escape(content)
    return escaped if tokens[idx].type == "html_inline" else f"<p>{escaped}</p>\n"


def _table_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return '<div class="table">' + renderer.renderToken(tokens, idx, options, env)


def _table_close(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return renderer.renderToken(tokens, idx, options, env) + "</div>\n"


def _heading_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    anchor = token.attrGet("id")
    opened = renderer.renderToken(tokens, idx, options, env)
    if not anchor:
        return opened
    return f'{opened}<a class="anchor" href="#{html.escape(str(anchor))}" aria-label="Link to this section">#</a> '


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable("table").use(front_matter_plugin)
    md.core.ruler.push("digestbot_math", _read_math)
    md.core.ruler.push("digestbot_links", _filter_links)
    md.core.ruler.push("digestbot_cells", _label_cells)
    md.core.ruler.push("digestbot_anchors", _anchor_headings)
    md.core.ruler.push("digestbot_lines", _anchor_lines)
    md.add_render_rule("line_anchor", _line_mark)
    md.add_render_rule("html_inline", _render_html)
    md.add_render_rule("html_block", _render_html)
    md.add_render_rule("table_open", _table_open)
    md.add_render_rule("table_close", _table_close)
    md.add_render_rule("heading_open", _heading_open)
    md.add_render_rule("front_matter", lambda *_args: "")
    return md


@dataclass(frozen=True)
class Rendered:
    """A report as HTML, with its H2/H3 headings (level, id, text) for a table of contents."""

    html: str
    toc: tuple[tuple[int, str, str], ...]


def report_html(markdown: str) -> Rendered:
    """A whole report as HTML."""
    md = _parser()
    env: dict[str, Any] = {}
    tokens = md.parse(clean_report_text(markdown), env)
    toc = tuple(
        (int(t.tag[1]), str(t.attrGet("id")), _plain(tokens[n + 1]))
        for n, t in enumerate(tokens)
        if t.type == "heading_open" and t.attrGet("id")
    )
    return Rendered(md.renderer.render(tokens, md.options, env), toc)


@functools.lru_cache(maxsize=16384)
def inline_html(markdown: str) -> str:
    """A part's inline Markdown (bold, links, code; ``<br>`` or newlines as breaks) as HTML."""
    rendered = _parser().renderInline(clean_report_text(markdown).strip())
    return rendered.replace("\n", "<br>\n")
