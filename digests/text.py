"""Text helpers shared by the parser, lookups and search: name normalization, search terms and
the one rule for which links report text may carry."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

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


# Words the reports write in either language: a search for one also finds the other.
GLOSSARY: tuple[tuple[str, ...], ...] = (
    ("蒸馏", "distillation", "distill"),
    ("记忆", "memory"),
    ("强化学习", "reinforcement", "rl"),
    ("奖励", "reward", "rewards"),
    ("智能体", "agent", "agents"),
    ("注意力", "attention"),
    ("稀疏", "sparse"),
    ("推理", "reasoning", "inference"),
    ("多模态", "multimodal", "omni"),
    ("长上下文", "long-context"),
    ("幻觉", "hallucination", "hallucinations"),
    ("个性化", "personalization", "persona"),
    ("辩论", "debate"),
    ("工具", "tool", "tools"),
    ("评测", "benchmark", "evaluation"),
    ("预训练", "pretraining", "pre-training"),
    ("后训练", "post-training", "posttraining"),
)


def search_groups(query: str) -> list[list[list[str]]]:
    """A query as groups of alternatives, each alternative a list of terms that must all match.

    ``蒸馏 模型`` -> ``[[["蒸馏"], ["distillation"], ["distill"]], [["模型"]]]``: every group must
    match (or, in a looser pass, any group), and a group matches through any of its alternatives.
    """
    words = unicodedata.normalize("NFKC", query).casefold().split()
    groups: list[list[list[str]]] = []
    for word in words:
        alternatives = [search_terms(word)]
        for entry in GLOSSARY:
            if word in entry:
                alternatives.extend(search_terms(w) for w in entry if w != word)
        alternatives = [a for a in alternatives if a]
        if alternatives:
            groups.append(alternatives)
    return groups


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
