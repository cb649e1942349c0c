"""Months as people write them, and identifiers of papers as people paste them.

``2026-01``, ``2026/01``, ``202601``, ``Jan 2026``, ``January 2026`` and ``2026年1月`` are all the
period ``2026-01``. arXiv identifiers come bare (``2507.20534``, ``arXiv:2507.20534v2``) or inside
arXiv, alphaXiv and Hugging Face papers links; each is reduced to the bare id.
"""

from __future__ import annotations

import re

_MONTHS = {
    name: n
    for n, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        1,
    )
    for name in names
}
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_NUMERIC = re.compile(rf"^{_YEAR}(?:[-/.]|年)?(?P<month>0[1-9]|1[0-2]|[1-9])月?$")
_NAMED = re.compile(rf"^(?P<name>[a-z]+)\.?,?\s*{_YEAR}$")
_NAMED_AFTER = re.compile(rf"^{_YEAR}\s+(?P<name>[a-z]+)\.?$")

#: How a month is written in examples and hints.
MONTH_FORMAT = "YYYY-MM"


def parse_month(text: str) -> str | None:
    """``Jan 2026`` -> ``2026-01``; None when ``text`` is not a month."""
    raw = " ".join(text.casefold().split())
    numeric = _NUMERIC.match(raw.replace(" ", ""))
    if numeric:
        if len(raw.replace(" ", "")) == 5:  # "20261" is not a month
            return None
        return f"{numeric.group('year')}-{int(numeric.group('month')):02d}"
    named = _NAMED.match(raw) or _NAMED_AFTER.match(raw)
    if named:
        month = _MONTHS.get(named.group("name"))
        if month:
            return f"{named.group('year')}-{month:02d}"
    return None


def split_month(arg: str) -> tuple[str, str | None]:
    """A command argument as (query, month): the month is its last word or two, or all of it.

    ``GLM-4.7 2026-01`` -> (``GLM-4.7``, ``2026-01``); ``Kimi K2 Jan 2026`` -> (``Kimi K2``,
    ``2026-01``); ``GLM-4.7`` -> (``GLM-4.7``, None).
    """
    words = arg.split()
    for take in (2, 1):
        if len(words) >= take:
            month = parse_month(" ".join(words[-take:]))
            if month:
                return " ".join(words[:-take]), month
    return arg.strip(), None


_ARXIV_ID = r"(?P<id>\d{4}\.\d{4,5})(?:v\d+)?"
_ARXIV_BARE = re.compile(rf"^(?:arxiv\s*:\s*)?{_ARXIV_ID}(?:\.pdf)?$", re.IGNORECASE)
_ARXIV_LINK = re.compile(
    rf"(?:arxiv\.org|alphaxiv\.org|huggingface\.co|hf\.co)/(?:abs|pdf|html|papers|overview)/"
    rf"{_ARXIV_ID}",
    re.IGNORECASE,
)


def arxiv_id(text: str) -> str | None:
    """The bare arXiv id in ``text`` (an id in any form, or a link to one), else None."""
    text = text.strip().strip("<>")
    bare = _ARXIV_BARE.match(text)
    if bare:
        return bare.group("id")
    link = _ARXIV_LINK.search(text)
    return link.group("id") if link else None


def link_key(url: str) -> str:
    """Links compared loosely: scheme, ``www.``, a trailing slash, case, and for arXiv the
    form (abs, pdf, html, version, Hugging Face papers) do not matter."""
    found = arxiv_id(url)
    if found:
        return f"arxiv:{found}"
    url = re.sub(r"^https?://(www\.)?", "", url.strip().strip("<>"), flags=re.IGNORECASE)
    return url.split("#")[0].rstrip("/").casefold()


def looks_like_link(text: str) -> bool:
    """A pasted link or arXiv id, rather than words to look up by name."""
    text = text.strip()
    return bool(
        text.startswith(("http://", "https://", "www."))
        or arxiv_id(text)
        or re.match(r"^[\w-]+(\.[\w-]+)+/\S*$", text)
    )
