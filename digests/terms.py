"""Search terms: what the index stores of an item and what a query asks of it.

The index (``index_terms``): Latin words lower-cased and stemmed (Snowball's English stemmer:
``distillation``, ``distill`` -> ``distil``), a run of CJK characters as its overlapping character
bigrams (a lone character stays itself), and names (``name_terms``) also whole, normalized
(``glm47``, ``amemagenticmemoryforllmagents``), so a name typed without its spaces still meets.

A query (``plan``) becomes groups, one per word that means something: Chinese is cut into words
by jieba (with the glossary's words in its dictionary), Latin words are stemmed, stopwords go.
Each group has alternatives, every alternative a list of index terms that must all be there: the
word itself (a Chinese word as its bigrams, so ``光学压缩`` finds ``光学上下文压缩``), its
equivalents in ``search_words.yaml`` (``推理`` <-> ``reasoning``, ``mcp`` <-> ``model context
protocol``) and, for a Latin word the names never use, the names' words one or two typos away.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import yaml
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from digests.text import normalize_name

_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+", re.UNICODE)
_IS_CJK = re.compile(rf"[{_CJK}]")
_NOT_WORD = re.compile(r"\W+", re.UNICODE)

#: One alternative: index terms that must all be in an item.
Alternative = tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """A query as the index sees it (see the module's docstring)."""

    #: per query word (or glossary phrase): its alternatives, the words as typed first
    groups: tuple[tuple[Alternative, ...], ...]
    #: The whole query as a normalized name, matched as the start of an item's name ('' if short).
    name: str

    def terms(self) -> list[str]:
        """Every term of every alternative, once each."""
        return list(dict.fromkeys(t for g in self.groups for alt in g for t in alt))


# -- the words file -------------------------------------------------------------------------------


@functools.cache
def _words() -> dict[str, Any]:
    text = files("digests").joinpath("search_words.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


@functools.cache
def _stopwords() -> frozenset[str]:
    lists = _words()["stopwords"]
    return frozenset(str(w).casefold() for w in (*lists["en"], *lists["zh"]))


@functools.cache
def _equivalents() -> dict[tuple[str, ...], tuple[Alternative, ...]]:
    """Each entry's key (its words, stemmed) -> the index terms of every entry on its line."""
    out: dict[tuple[str, ...], tuple[Alternative, ...]] = {}
    for line in _words()["equivalents"]:
        entries = [str(e) for e in line]
        alternatives = tuple(dict.fromkeys(_phrase_terms(e) for e in entries))
        for entry in entries:
            out.setdefault(_key(entry), alternatives)
    return out


def _phrase_terms(phrase: str) -> Alternative:
    """The index terms a phrase must all have: Latin words stemmed, Chinese as bigrams."""
    return tuple(t for w in _words_of(phrase) for t in _own_terms(w))


def _key(phrase: str) -> tuple[str, ...]:
    return tuple(_stem(w) if not _IS_CJK.match(w) else w for w in _words_of(phrase))


def _words_of(phrase: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", phrase).casefold()
    return [m.group() for m in _TOKEN.finditer(folded)]


# -- the tools ------------------------------------------------------------------------------------


@functools.cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word)) if word.isalpha() else word


@functools.cache
def _segmenter() -> Any:
    """A jieba tokenizer of its own (the global one stays untouched), knowing the glossary's
    Chinese words, so ``强化学习`` or ``智能体`` stay one word."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for line in _words()["equivalents"]:
        for entry in line:
            entry = str(entry)
            if _IS_CJK.match(entry) and len(entry) > 1:
                tokenizer.add_word(entry)
    return tokenizer


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


# -- the index ------------------------------------------------------------------------------------


def index_terms(text: str) -> list[str]:
    """Terms of ``text`` for the index: Latin words stemmed, CJK runs as character bigrams."""
    terms: list[str] = []
    for word in _words_of(text):
        if _IS_CJK.match(word):
            terms.extend(_bigrams(word))
            if len(word) > 1:
                terms.extend(word)  # each character too, for a query word of one
        else:
            terms.append(_stem(word))
    return terms


def name_terms(names: Collection[str]) -> list[str]:
    """Names as index terms: their words (as :func:`index_terms`) and each name whole."""
    terms = index_terms(" ".join(names))
    terms.extend(dict.fromkeys(w for w in (_whole(n) for n in names) if w))
    return terms


def _whole(name: str) -> str:
    return _NOT_WORD.sub("", normalize_name(name))


def vocabulary_words(text: str) -> Iterator[str]:
    """The Latin words of ``text`` as the index stores them (for typo tolerance)."""
    for word in _words_of(text):
        if not _IS_CJK.match(word) and word.isalpha() and len(word) > 2:
            yield _stem(word)


# -- queries --------------------------------------------------------------------------------------


def plan(query: str, vocabulary: Collection[str] = ()) -> Plan:
    """``query`` as groups of alternatives (see the module's docstring).

    ``vocabulary``: the stemmed words of the items' names; a query word longer than three
    letters that is not among them also tries the ones a typo or two away.
    """
    words = _query_words(query)
    meaningful = [w for w in words if w not in _stopwords()] or words
    groups: list[tuple[Alternative, ...]] = []
    n = 0
    while n < len(meaningful):
        size, alternatives = _glossary_at(meaningful, n)
        word = meaningful[n]
        # the words as typed come first: another alternative never weighs more than they do
        own: list[Alternative] = [_phrase_terms(" ".join(meaningful[n : n + size]))]
        if size == 1 and vocabulary and not _IS_CJK.match(word):
            own.extend((t,) for t in _near(_stem(word), vocabulary))
        groups.append(tuple(dict.fromkeys((*own, *alternatives))))
        n += size
    whole = _whole(query)
    return Plan(tuple(g for g in groups if g)[:12], whole if len(whole) >= 3 else "")


def _query_words(query: str) -> list[str]:
    out: list[str] = []
    for word in _words_of(query):
        if _IS_CJK.match(word):
            out.extend(w for w in _segmenter().lcut(word) if w.strip())
        else:
            out.append(word)
    return out


def _glossary_at(words: list[str], n: int) -> tuple[int, tuple[Alternative, ...]]:
    """The longest glossary phrase starting at ``words[n]``: its length and alternatives."""
    table = _equivalents()
    for size in (4, 3, 2, 1):
        if n + size > len(words):
            continue
        key = _key(" ".join(words[n : n + size]))
        if key in table:
            return size, table[key]
    return 1, ()


def _own_terms(word: str) -> Alternative:
    if _IS_CJK.match(word):
        # a lone character is found at the start of a bigram too
        return tuple(_bigrams(word))
    return (_stem(word),)


def _near(word: str, vocabulary: Collection[str]) -> list[str]:
    """Vocabulary words one typo from ``word`` (two for long words), when it is not one."""
    if len(word) < 4 or word in vocabulary or not word.isalpha():
        return []
    limit = 1 if len(word) < 8 else 2
    hits = process.extract(
        word, vocabulary, scorer=Levenshtein.distance, score_cutoff=limit, limit=3
    )
    return [hit for hit, _distance, _index in hits]
