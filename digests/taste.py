"""Digests with taste: a chat's 👍 / 👎 order its next digests. Pure.

An item is *like* one the chat voted on when they share a topic, a model family (``GLM-4.6`` and
``GLM-4.7``: the name's leading letters) or title terms. Each vote adds its sign times that
likeness to a candidate's score; candidates are then ordered by score, highest first, and in digest
order among equals. So items like the liked ones come first, items like the disliked ones last,
and nothing is ever dropped: it only waits behind the others. Each moved entry says why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

from digests.cards import short_title
from digests.compose import Candidate
from digests.items import Item, Kind
from digests.text import normalize_name, search_terms
from digests.words import ENGLISH, Words

#: Below this likeness an item is not "like" a voted one (one shared word is not enough).
LIKE = 1.0
TOPIC, FAMILY, TERM = 2.0, 2.0, 0.5
#: Title words too common in the reports to make two items alike.
_COMMON = frozenset(
    (
        *("a", "an", "and", "as", "at", "by", "for", "from", "in", "is", "of", "on", "or"),
        *("the", "to", "via", "with", "without", "model", "models", "llm", "llms", "language"),
        *("large", "learning", "training", "agent", "agents", "ai", "new", "towards", "toward"),
        *("using", "based"),
    )
)
_FAMILY = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Vote:
    """A chat's net vote on an item: the sum of its members' 👍 (+1) and 👎 (-1)."""

    item: Item
    vote: int


@dataclass(frozen=True)
class _Traits:
    topic: str
    family: str
    terms: frozenset[str] = field(default_factory=frozenset)


def _traits(item: Item) -> _Traits:
    topic = normalize_name(item.topic or (item.title if item.kind is Kind.TOPIC else ""))
    family = ""
    if item.kind is Kind.MODEL:
        found = _FAMILY.match(normalize_name(item.title))
        family = found.group() if found and len(found.group()) >= 2 else ""
    words = " ".join((item.title, *item.aliases))
    terms = frozenset(t for t in search_terms(words) if t not in _COMMON and not t.isdigit())
    return _Traits(topic, family, frozenset(t for t in terms if len(t) > 1 or not t.isascii()))


def likeness(a: Item, b: Item) -> float:
    """How alike two items are: shared topic, model family, title terms."""
    return _likeness(_traits(a), _traits(b))


def _likeness(a: _Traits, b: _Traits) -> float:
    score = 0.0
    if a.topic and a.topic == b.topic:
        score += TOPIC
    if a.family and a.family == b.family:
        score += FAMILY
    score += TERM * min(len(a.terms & b.terms), 4)
    return score


@dataclass
class Taste:
    """A chat's votes, ready to order candidates."""

    votes: Sequence[Vote]

    @cached_property
    def _voted(self) -> list[tuple[Vote, _Traits]]:
        return [(v, _traits(v.item)) for v in self.votes if v.vote]

    def order(self, pool: Sequence[Candidate], words: Words = ENGLISH) -> list[Candidate]:
        """``pool`` (in digest order) reordered by the chat's taste, each moved entry with a note
        saying which vote moved it."""
        if not self._voted:
            return list(pool)
        scored = []
        for n, cand in enumerate(pool):
            traits = _traits(cand.item)
            score = 0.0
            best_up: tuple[float, Item | None] = (0.0, None)
            best_down: tuple[float, Item | None] = (0.0, None)
            for vote, voted in self._voted:
                like = _likeness(traits, voted)
                if like < LIKE:
                    continue
                score += like if vote.vote > 0 else -like
                if vote.vote > 0 and like > best_up[0]:
                    best_up = (like, vote.item)
                if vote.vote < 0 and like > best_down[0]:
                    best_down = (like, vote.item)
            note = None
            if score > 0 and best_up[1] is not None:
                title = short_title(best_up[1].title)
                note = words.gettext("because you liked {title}").format(title=title)
            elif score < 0 and best_down[1] is not None:
                title = short_title(best_down[1].title)
                note = words.gettext("later than the rest: like {title}, which you disliked")
                note = note.format(title=title)
            scored.append((-score, n, replace(cand, note=note) if note else cand))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [cand for _, _, cand in scored]
