"""Headings, table headers and front matter values: the small vocabulary of a report's layout.

Section headings become themes (``基座模型追踪 (The Clay)`` -> ``clay``), table headers are
classified by keywords (a model-name column, a topic column, Key Papers, trend, practice value),
and front matter values are made JSON-friendly and turned into a ``YYYY-MM`` period.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

_NAME_HEADERS = {"模型名称", "模型", "模型名", "名称", "model", "models", "model name", "name"}
_TOPIC_HEADERS = {"主题", "话题", "方向", "领域", "topic", "topics", "theme", "area", "direction"}
_PAREN = re.compile(r"[（(]([^()（）]*[A-Za-z][^()（）]*)[)）]")
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
_NUMBERING = re.compile(
    r"^(?:\d{1,2}(?:\.\d{1,2})*|[一二三四五六七八九十]{1,3}|[IVX]{1,4})[.、)）:：](?!\d)\s*"
    r"|^第[一二三四五六七八九十\d]{1,3}[章节部分]\s*"
)
_PERIOD = re.compile(r"(?<!\d)((?:19|20)\d\d)\s*(?:[-/._]|年)\s*(\d{1,2})(?!\d)")
_DECOR = set("\u200d\ufe0f\ufe0e#*-–—·•|")


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def period_of(value: Any) -> str | None:
    if isinstance(value, dt.date):  # datetime is a date too
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, int) and not isinstance(value, bool) and 190001 <= value <= 209912:
        value = str(value)
        value = f"{value[:4]}-{value[4:]}"
    if isinstance(value, str):
        m = _PERIOD.search(value)
        if m and 1 <= int(m.group(2)) <= 12:
            return f"{m.group(1)}-{int(m.group(2)):02d}"
    return None


def strip_decoration(text: str) -> str:
    """Drop leading emoji, symbols and numbering: "🏗️ 1. 基座 (The Clay)" -> "基座 (The Clay)"."""

    def lstrip_symbols(s: str) -> str:
        i = 0
        while i < len(s) and (unicodedata.category(s[i])[0] in "SZC" or s[i] in _DECOR):
            i += 1
        return s[i:]

    text = lstrip_symbols(" ".join(text.split()))
    text = _NUMBERING.sub("", text, count=1)
    return lstrip_symbols(text).strip()


def english_in_parens(text: str) -> str | None:
    found = _PAREN.findall(text)
    return " ".join(found[-1].split()) if found else None


def _slug(words: list[str]) -> str:
    words = [w.lower() for w in words]
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    return "-".join(words)


def theme_of(heading: str) -> tuple[str, str]:
    """(slug, title) of a section heading."""
    title = strip_decoration(heading) or heading.strip() or "Report"
    paren = english_in_parens(title)
    slug = _slug(_ASCII_WORD.findall(paren)) if paren else ""
    if not slug:
        slug = _slug(_ASCII_WORD.findall(title))
    if not slug:
        slug = re.sub(r"[\W_]+", "-", title).strip("-").lower()
    return slug or "section", title


def section_name(header: str, n: int) -> str:
    return english_in_parens(header) or header.strip() or f"Column {n + 1}"


def _header_key(header: str) -> tuple[str, str]:
    base = _PAREN.sub("", header)
    base = re.sub(r"[（(][^()（）]*[)）]", "", base)
    return " ".join(base.casefold().split()), (english_in_parens(header) or "").casefold()


def is_name_header(header: str) -> bool:
    base, eng = _header_key(header)
    return base in _NAME_HEADERS or eng in _NAME_HEADERS


def is_topic_header(header: str) -> bool:
    base, eng = _header_key(header)
    return base in _TOPIC_HEADERS or eng in _TOPIC_HEADERS


def column_role(header: str) -> str:
    low = header.casefold()
    if "paper" in low or "论文" in header:
        return "papers"
    if "趋势" in header or "演进" in header or "trend" in low or "evolution" in low:
        return "Trend"
    if (
        "实践" in header
        or "参考价值" in header
        or "practic" in low  # practice, practical
        or "takeaway" in low
        or "why it matters" in low
    ):
        return "Practice Value"
    return ""
