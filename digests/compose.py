"""Weekly digest composition: which items a chat gets next. Pure, with the clock passed in.

A digest holds the next ``size`` items of a theme that the chat has not been sent (nor has queued),
newest report period first and in report order within a period. When a newer report has an item
with the same key (the same model or paper again), only the newest copy is ever offered: the older
one is superseded, so a chat never gets the same thing twice from two months.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from digests.cards import digest_message
from digests.items import Item
from digests.message import Context, Heading, Message, Paragraph, Span
from digests.words import ENGLISH, Words


@dataclass(frozen=True)
class Candidate:
    """An item of the theme with its database id; ``note`` says why it sits where it does
    (``because you liked GLM-4.7``: :mod:`digests.taste`)."""

    id: int
    item: Item
    note: str | None = None


@dataclass(frozen=True)
class Digest:
    """A composed digest: the message, the ids of the items in it, and how many remain after it."""

    message: Message
    item_ids: tuple[int, ...]
    remaining: int


def ordered(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Newest period first, report order (position) within a period; ids break ties."""
    by_position = sorted(candidates, key=lambda c: (c.item.position, c.id))
    return sorted(by_position, key=lambda c: c.item.period, reverse=True)


def unsent(candidates: Iterable[Candidate], taken: Collection[int]) -> list[Candidate]:
    """The candidates still to send, in digest order: not taken, not superseded by a newer copy."""
    newest: dict[str, str] = {}
    pool = ordered(candidates)
    for cand in pool:
        newest.setdefault(cand.item.key, cand.item.period)
    return [c for c in pool if c.id not in taken and newest[c.item.key] == c.item.period]


def week_label(when: datetime, words: Words = ENGLISH) -> str:
    """``week of 2 Mar 2026`` (``2026年3月2日当周``) for an aware local datetime."""
    _require_aware(when)
    return words.gettext("week of {date}").format(date=words.date(when))


def compose_digest(
    candidates: Sequence[Candidate],
    taken: Collection[int],
    size: int,
    *,
    when: datetime,
    theme_title: str | None = None,
    words: Words = ENGLISH,
    web_url: Callable[[str], str] | None = None,
) -> Digest | None:
    """The next digest of a theme for one chat, or None when nothing new is left.

    Args:
        candidates: the theme's current items (any period, any order).
        taken: ids already delivered to the chat or queued for it.
        size: at most this many items.
        when: the (aware) time the digest is for, in the subscriber's timezone; it labels the digest.
        theme_title: the heading; by default the newest candidate's theme title.
        words: the chat's language (labels, dates, plurals).
        web_url: the link of a theme's web page (given its slug), for "Open on the web".
    """
    _require_aware(when)
    if size < 1:
        raise ValueError(f"digest size must be at least 1, not {size}")
    todo = unsent(candidates, taken)
    if not todo:
        return None
    return digest_of(
        todo[:size],
        len(todo) - size,
        when=when,
        theme_title=theme_title,
        web_url=web_url,
        words=words,
    )


def digest_of(
    chosen: Sequence[Candidate],
    remaining: int,
    *,
    when: datetime,
    theme_title: str | None = None,
    web_url: Callable[[str], str] | None = None,
    words: Words = ENGLISH,
) -> Digest:
    """The digest of items already chosen (in digest order), with ``remaining`` left after them.

    For callers that choose in the database (``bot.store.digests``) rather than from every
    candidate; :func:`compose_digest` is the same with the choosing done here.
    """
    _require_aware(when)
    if not chosen:
        raise ValueError("a digest needs at least one item")
    title = theme_title or chosen[0].item.theme_title or chosen[0].item.theme
    link = web_url(chosen[0].item.theme) if web_url is not None else None
    message = digest_message(
        title,
        week_label(when, words),
        [c.item for c in chosen],
        remaining,
        link,
        item_ids=[c.id for c in chosen],
        words=words,
        notes=[c.note for c in chosen],
    )
    return Digest(message, tuple(c.id for c in chosen), max(remaining, 0))


def nothing_new(theme_title: str, when: datetime, words: Words = ENGLISH) -> Message:
    """The short note posted when a run finds nothing new and the setting asks to post anyway."""
    return Message(
        (
            Heading(f"{theme_title} · {week_label(when, words)}"),
            Paragraph(
                (
                    Span(
                        words.gettext(
                            "Nothing new this week: you have had every item of this theme."
                        )
                    ),
                )
            ),
            Context((Span(words.gettext("New items arrive with the next monthly report.")),)),
        ),
        tags=("digest", "empty"),
    )


def _require_aware(when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("digest times must be timezone-aware")
