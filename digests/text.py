"""Text helpers shared by the parser, lookups and search: name normalization and the one rule
for which links report text may carry (search terms: ``digests.terms``)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

_NAME_JUNK = re.compile(r"[\s\-_.·・/:：,，()（）\[\]'\"`]+")


def normalize_name(name: str) -> str:
    """Fold a model or paper name for forgiving lookups: ``GLM 4.7``, ``glm-4.7`` -> ``glm47``."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return _NAME_JUNK.sub("", folded)


#: The only link targets a reader is offered: a report's ``tg://``, ``javascript:``, ``mailto:``,
#: ``file:`` … links are shown as their text alone, in chat and on the web.
LINK_SCHEMES = ("http", "https")
_URL_JUNK = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def link_target(url: str | None) -> str | None:
    """``url`` when a reader may follow it (http or https, with a host, no spaces or control
    characters), else ``None``: then the link's text is shown without it."""
    url = (url or "").strip()
    if not url or _URL_JUNK.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed host such as ``http://[x``
        return None
    return url if parts.scheme.lower() in LINK_SCHEMES and parts.netloc else None


def clean_arg(raw: str) -> str:
    """A command argument with control characters dropped and whitespace collapsed.

    Invisible format characters (``Cf``) go without a trace: a word joiner that renderers put
    after an ``@`` (so a report cannot mention anyone) must not split a copied name in two.
    """
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in raw
        if unicodedata.category(ch) != "Cf"
    )
    return re.sub(r"\s+", " ", text).strip()


def echo(arg: str, limit: int = 60) -> str:
    """An argument as echoed back to its sender: cleaned and shortened (renderers escape it)."""
    arg = clean_arg(arg)
    return arg if len(arg) <= limit else arg[: limit - 1] + "…"
