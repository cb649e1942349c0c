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
from digests.text import normalize_name, search_terms
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
        for t in search_terms(" ".join((title, *aliases)))
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
    """A chat's votes, indexed to order candidates."""

    def __init__(self, votes: Sequence[Vote]) -> None:
        self.votes = [v for v in votes if v.vote]
        self._topic: dict[str, list[int]] = defaultdict(list)
        self._family: dict[str, list[int]] = defaultdict(list)
        self._term: dict[str, list[int]] = defaultdict(list)
        for n, vote in enumerate(self.votes):
            if vote.traits.topic:
                self._topic[vote.traits.topic].append(n)
            if vote.traits.family:
                self._family[vote.traits.family].append(n)
            for term in vote.traits.terms:
                self._term[term].append(n)

    def rank(
        self, pool: Sequence[Traits], words: Words = ENGLISH, limit: int | None = None
    ) -> list[tuple[int, str | None]]:
        """The pool's indexes (it is in digest order) reordered by taste, the first ``limit``
        (all by default), each with its note: which vote moved it (None when none did)."""
        if not self.votes:
            return [(n, None) for n in range(len(pool))][:limit]
        ranked = []
        for n, item in enumerate(pool):
            score, up, down = self._score(item)
            ranked.append((-score, n, up if score > 0 else down if score < 0 else None))
        ranked.sort(key=lambda r: (r[0], r[1]))
        out = []
        for _, n, why in ranked[:limit]:
            out.append((n, None if why is None else self._note(why, words)))
        return out

    def _note(self, n: int, words: Words) -> str:
        vote = self.votes[n]
        title = short_title(vote.title)
        if vote.vote > 0:
            return words.gettext("because you liked {title}").format(title=title)
        note = words.gettext("later than the rest: like {title}, which you disliked")
        return note.format(title=title)

    def _score(self, item: Traits) -> tuple[float, int | None, int | None]:
        """The item's score, and the liked and the disliked vote most like it."""
        like: dict[int, float] = defaultdict(float)
        if item.topic:
            for n in self._topic.get(item.topic, ()):
                like[n] += TOPIC
        if item.family:
            for n in self._family.get(item.family, ()):
                like[n] += FAMILY
        shared: dict[int, int] = defaultdict(int)
        for term in item.terms:
            for n in self._term.get(term, ()):
                shared[n] += 1
        for n, count in shared.items():
            like[n] += TERM * min(count, MAX_TERMS)
        score = 0.0
        up: tuple[float, int] | None = None
        down: tuple[float, int] | None = None
        for n, value in like.items():
            if value < LIKE:
                continue
            if self.votes[n].vote > 0:
                score += value
                if up is None or value > up[0] or (value == up[0] and n < up[1]):
                    up = (value, n)
            else:
                score -= value
                if down is None or value > down[0] or (value == down[0] and n < down[1]):
                    down = (value, n)
        return score, up and up[1], down and down[1]
