"""Text helpers shared by the parser, lookups and search: name normalization and search terms."""

from __future__ import annotations

import re
import unicodedata

_NAME_JUNK = re.compile(r"[\s\-_.·・/:：,，()（）\[\]'\"`]+")
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+", re.UNICODE)


def normalize_name(name: str) -> str:
    """Fold a model or paper name for forgiving lookups: ``GLM 4.7``, ``glm-4.7`` -> ``glm47``."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return _NAME_JUNK.sub("", folded)


def search_terms(text: str) -> list[str]:
    """Split text into search terms that a plain word index can match.

    Latin words become lowercase words; a run of CJK characters becomes its overlapping character
    bigrams (a lone character stays itself), since CJK text has no spaces between words.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    terms: list[str] = []
    for match in _TOKEN.finditer(folded):
        run = match.group()
        if re.match(rf"[{_CJK}]", run):
            if len(run) == 1:
                terms.append(run)
            else:
                terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            terms.append(run)
    return terms
