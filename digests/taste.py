"""Digests with taste: a chat's 👍 / 👎 order its next digests. Pure.

An item is *like* one the chat voted on when they share a topic, a model family (``GLM-4.6`` and
``GLM-4.7``: the name's leading letters) or title terms. Each vote adds its sign times that
likeness to a candidate's score; candidates are then ordered by score, highest first, and in digest
order among equals. So items like the liked ones come first, items like the disliked ones last,
and nothing is ever dropped: it only waits behind the others. Each moved entry says why.

The votes are indexed by topic, family and term, so a candidate meets only the votes it shares
something with (a Monday stampede orders ten thousand chats' pools).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from digests.cards import short_title
from digests.terms import index_terms
from digests.text import normalize_name
from digests.words import ENGLISH, Words

#: Below this likeness an item is not "like" a voted one (one shared word is not enough).
LIKE = 1.0
TOPIC, FAMILY, TERM = 2.0, 2.0, 0.5
MAX_TERMS = 4
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
class Traits:
    """What likeness looks at: the item's topic, its model family and its title terms."""

    topic: str
    family: str
    terms: frozenset[str]


@lru_cache(maxsize=50_000)
def traits(
    kind: str, title: str, aliases: tuple[str, ...] = (), topic: str | None = None
) -> Traits:
    """An item's traits from its kind (``model``, ``paper``, ``topic``…), title, aliases, topic."""
    subject = normalize_name(topic or (title if kind == "topic" else ""))
    family = ""
    if kind == "model":
        found = _FAMILY.match(normalize_name(title))
        family = found.group() if found and len(found.group()) >= 2 else ""
    terms = frozenset(
        t
        for t in index_terms(" ".join((title, *aliases)))
        if t not in _COMMON and not t.isdigit() and (len(t) > 1 or not t.isascii())
    )
    return Traits(subject, family, terms)


def traits_of(data: Mapping[str, Any]) -> Traits:
    """The traits of an item as stored (``Item.to_dict``), without decoding the whole item."""
    return traits(
        str(data["kind"]), str(data["title"]), tuple(data.get("aliases") or ()), data.get("topic")
    )


def likeness(a: Traits, b: Traits) -> float:
    """How alike two items are: shared topic, model family, title terms."""
    score = 0.0
    if a.topic and a.topic == b.topic:
        score += TOPIC
    if a.family and a.family == b.family:
        score += FAMILY
    return score + TERM * min(len(a.terms & b.terms), MAX_TERMS)


@dataclass(frozen=True)
class Vote:
    """A chat's net vote on an item (its members' 👍 +1 and 👎 -1, summed), with the item's title."""

    title: str
    traits: Traits
    vote: int


class Taste:
    """A chat's votes, indexed to order candidates.

    Every vote of a candidate's model family counts (a family alone is likeness enough), so their
    signed sum is kept per family; topics and terms are looked up vote by vote.
    """

    def __init__(self, votes: Sequence[Vote]) -> None:
        self.votes = [v for v in votes if v.vote]
        self._topic: dict[str, list[int]] = defaultdict(list)
        self._term: dict[str, list[int]] = defaultdict(list)
        self._family_sum: dict[str, int] = defaultdict(int)
        #: Per family, its most recent liked and disliked vote.
        self._family_up: dict[str, int] = {}
        self._family_down: dict[str, int] = {}
        for n, vote in enumerate(self.votes):
            if vote.traits.topic:
                self._topic[vote.traits.topic].append(n)
            if family := vote.traits.family:
                self._family_sum[family] += 1 if vote.vote > 0 else -1
                (self._family_up if vote.vote > 0 else self._family_down).setdefault(family, n)
            for term in vote.traits.terms:
                self._term[term].append(n)

    def rank(
        self, pool: Sequence[Traits], words: Words = ENGLISH, limit: int | None = None
    ) -> list[tuple[int, str | None]]:
        """The pool's indexes (it is in digest order) reordered by taste, the first ``limit``
        (all by default), each with its note: which vote moved it (None when none did)."""
        if not self.votes:
            plain: list[tuple[int, str | None]] = [(n, None) for n in range(len(pool))]
            return plain[:limit]
        ranked: list[tuple[float, int, int | None]] = []
        for n, item in enumerate(pool):
            score, up, down = self._score(item)
            ranked.append((-score, n, up if score > 0 else down if score < 0 else None))
        ranked.sort(key=lambda r: (r[0], r[1]))
        return [
            (n, None if why is None else self._note(why, words)) for _, n, why in ranked[:limit]
        ]

    def _note(self, n: int, words: Words) -> str:
        vote = self.votes[n]
        title = short_title(vote.title)
        if vote.vote > 0:
            return words.gettext("because you liked {title}").format(title=title)
        note = words.gettext("later than the rest: like {title}, which you disliked")
        return note.format(title=title)

    def _score(self, item: Traits) -> tuple[float, int | None, int | None]:
        """The item's score, and the liked and the disliked vote most like it."""
        extra: dict[int, float] = defaultdict(float)  # topic and term likeness, per vote
        if item.topic:
            for n in self._topic.get(item.topic, ()):
                extra[n] += TOPIC
        shared: dict[int, int] = defaultdict(int)
        for term in item.terms:
            for n in self._term.get(term, ()):
                shared[n] += 1
        for n, count in shared.items():
            extra[n] += TERM * min(count, MAX_TERMS)
        family = item.family
        score = FAMILY * self._family_sum.get(family, 0) if family else 0.0
        up: tuple[float, int] | None = None
        down: tuple[float, int] | None = None
        if family:
            if family in self._family_up:
                up = (FAMILY, self._family_up[family])
            if family in self._family_down:
                down = (FAMILY, self._family_down[family])
        for n, value in extra.items():
            vote = self.votes[n]
            total = value + (FAMILY if family and vote.traits.family == family else 0.0)
            if total < LIKE:
                continue
            if vote.vote > 0:
                score += value
                if up is None or total > up[0] or (total == up[0] and n < up[1]):
                    up = (total, n)
            else:
                score -= value
                if down is None or total > down[0] or (total == down[0] and n < down[1]):
                    down = (total, n)
        return score, up and up[1], down and down[1]
