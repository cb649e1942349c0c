"""Short texts derived from an item: its summary (cut at a sentence end) and its aliases."""

from __future__ import annotations

import re
from collections.abc import Iterable

SUMMARY_LIMIT = 200
_WANT = 80  # a first sentence shorter than this takes the next one along when it fits
_MIN_SENTENCE = 10

_CLOSERS = "”’\"'）)」』】》"
_CJK_END = re.compile(rf"[。！？]+[{_CLOSERS}]*")
_ASCII_END = re.compile(rf"(?:(?<![0-9])\.|[!?])+[{_CLOSERS}]*(?=\s|$)")
_ABBREV = re.compile(r"(?:\be\.g|\bi\.e|\bvs|\bet al|\betc|\bFig|\bNo)\.$", re.IGNORECASE)
_SOFT_END = re.compile(rf"[；;][{_CLOSERS}]*")
_CJK_CHAR = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_TRAILING_JUNK = " \t,，、:：;；([（“‘\"'-–—/·"
_MD_LINK = re.compile(
    r"!?\[([^\]]*)\]\((?:<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+\"[^\"]*\")?\)"
)

SENTENCE_ENDINGS = tuple("。！？!?.；;…") + tuple(_CLOSERS)


def plain(markdown: str) -> str:
    """Markdown inline text -> plain-ish text: links to their text, no ``**``, one line."""
    text = _MD_LINK.sub(r"\1", markdown).replace("**", "").replace("__", "")
    return one_line(text)


_CJK_PUNCT_NL = re.compile(r"(?<=[\u3000-\u303f\uff00-\uffef“”‘’])[ \t]*\n\s*")


def one_line(text: str) -> str:
    """Join lines: no space after CJK punctuation (``演进：\\n从`` -> ``演进：从``), else one space."""
    return " ".join(_CJK_PUNCT_NL.sub("", text).split())


def _sentence_ends(text: str) -> list[int]:
    ends: list[int] = [m.end() for m in _CJK_END.finditer(text)]
    for m in _ASCII_END.finditer(text):
        if not _ABBREV.search(text[: m.start() + 1]):
            ends.append(m.end())
    return sorted(e for e in set(ends) if e >= _MIN_SENTENCE)


def _hard_cut(text: str, limit: int) -> str:
    cut = limit - 1
    while cut > 0:
        before, after = text[cut - 1], text[cut]
        if after.isspace() or before.isspace():
            break
        if _CJK_CHAR.match(before) or _CJK_CHAR.match(after):
            break
        cut -= 1
    if cut <= limit // 3:  # one enormous word: cut it anyway rather than lose everything
        cut = limit - 1
    head = text[:cut]
    if head.count("[") > head.count("]"):
        head = head[: head.rfind("[")]
    return head.rstrip(_TRAILING_JUNK) + "…"


def cut_summary(text: str, *, whole: bool = False, limit: int = SUMMARY_LIMIT) -> str:
    """The first sentence or two of ``text`` within ``limit`` characters.

    ``whole`` keeps all of the text when it fits (a TL;DR). Cuts happen at a sentence end
    (``。！？!?.``), else at ``；;``, else at a word or CJK character boundary with "…".
    """
    # plain text: a literal "](" left over from broken link syntax must not read as a link
    text = one_line(text).replace("](", "] (")
    if not text:
        return ""
    if whole and len(text) <= limit:
        return text
    ends = [e for e in _sentence_ends(text) if e <= limit]
    if ends:
        end = ends[0]
        if end < _WANT and len(ends) > 1:
            end = ends[1]
        return text[:end].strip()
    if len(text) <= limit:
        return text
    soft = [m.end() for m in _SOFT_END.finditer(text) if _MIN_SENTENCE <= m.end() <= limit]
    if soft:
        return text[: soft[-1]].strip()
    return _hard_cut(text, limit)


# --- aliases ---------------------------------------------------------------------------------

_STOP = {"LLM", "LLMS", "AI", "RL", "ML", "NLP", "MAS", "API", "GPU", "SOTA", "THE", "A", "AN"}
_ACRONYM = re.compile(r"[A-Z0-9][A-Za-z0-9\-]*[A-Za-z0-9]")
_PAREN = re.compile(r"[（(]\s*([^()（）]{2,20}?)\s*[)）]")
_INTRODUCED = re.compile(
    r"(?:提出(?:了)?|propose[sd]?|introduce[sd]?)\s*(?:一种|一个|一套)?\s*[“\"「`']?"
    r"([A-Za-z][A-Za-z0-9+\-.]*[A-Za-z0-9+])"
    r"(?:\s*[（(]\s*([A-Z][A-Za-z0-9\-]{1,11})\s*[)）])?"
)


def _is_acronym(token: str) -> bool:
    caps = sum(c.isupper() for c in token)
    letters = sum(c.isalpha() for c in token)
    return (
        2 <= len(token) <= 12
        and caps >= 2
        and caps * 2 >= letters
        and token.upper() not in _STOP
        and _ACRONYM.fullmatch(token) is not None
    )


def _short_name(token: str) -> bool:
    return 2 <= len(token) <= 12 and any(c.isupper() for c in token) and token.upper() not in _STOP


def dedupe(names: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        name = " ".join(name.split()).strip(" -–—:：,，")
        key = name.casefold()
        if name and key not in seen:
            seen.add(key)
            out.append(name)
    return tuple(out)


def paper_aliases(title: str, body: str) -> tuple[str, ...]:
    """Short names for a paper: ``A-Mem`` from ``A-Mem: ...``, ``GAD`` from ``GAD Black-Box``,
    acronyms in parentheses, names the method text introduces (``提出 DMAD (...)``)."""
    names: list[str] = [title]
    head = re.split(r"\s*[:：]\s*", title, maxsplit=1)
    if len(head) == 2 and head[0] and len(head[0]) <= 30 and len(head[0].split()) <= 4:
        names.append(head[0])
    words = title.split()
    if len(words) > 1 and _is_acronym(words[0]):
        names.append(words[0])
    for m in _PAREN.finditer(title):
        if _is_acronym(m.group(1)):
            names.append(m.group(1))
    for m in _INTRODUCED.finditer(body):
        if _short_name(m.group(1)):
            names.append(m.group(1))
        if m.group(2) and _is_acronym(m.group(2)):
            names.append(m.group(2))
    return dedupe(names)


def model_aliases(title: str, *others: str) -> tuple[str, ...]:
    """Names for a model: its title, the cell text and link text, spacing/hyphen variants, and the
    name without a parenthesized size (``Qwen3 (235B-A22B)`` -> ``Qwen3``)."""
    names: list[str] = []
    for name in (title, *others):
        if not name:
            continue
        names.append(name)
        bare = _PAREN.sub("", name).strip()
        if bare and bare != name:
            names.append(bare)
        for variant in (name.replace(" ", "-"), name.replace("-", " ")):
            if variant != name and "(" not in variant:
                names.append(variant)
    return dedupe(names)
