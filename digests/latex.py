"""LaTeX math in report text -> readable Unicode (``$\\rightarrow$`` -> ``→``), by pylatexenc.

Only text between math delimiters is converted, with pandoc's rule for ``$``: the opening ``$`` is
followed by a non-space, the closing one preceded by a non-space and not followed by a digit, so
prices such as "$5 and $10" stay as written. pylatexenc loads on first use.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_MATH = re.compile(
    r"\$\$(?P<display>[^$]+?)\$\$"
    r"|(?<![\\$\w])\$(?=[^\s$])(?P<inline>[^$\n]*?[^\s$\\])\$(?!\d)"
)


@functools.cache
def _converter() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces="based-on-source")


def _convert(match: re.Match[str]) -> str:
    source = match.group("display") or match.group("inline") or ""
    return _reading(source) or match.group(0)


@functools.lru_cache(maxsize=4096)
def _reading(source: str) -> str:
    """The Unicode reading of one math span (cached: a cell's text is rendered more than once)."""
    try:
        text = str(_converter().latex_to_text(source))
    except Exception:  # pylatexenc is tolerant, but a report must never fail on its math
        return ""
    return " ".join(text.split())


def math_to_text(text: str) -> str:
    """Replace every LaTeX math span in ``text`` with its Unicode reading."""
    if "$" not in text:
        return text
    return _MATH.sub(_convert, text)
