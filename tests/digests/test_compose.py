"""Digest composition with a fixed clock: order, what is left out, what remains."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from digests.compose import Candidate, compose_digest, nothing_new, ordered, unsent, week_label
from digests.items import Item, Kind
from digests.message import Context, Heading

SHANGHAI = timezone(timedelta(hours=8))
WHEN = datetime(2026, 3, 3, 8, 30, tzinfo=SHANGHAI)


def _item(title: str, period: str, position: int, kind: Kind = Kind.MODEL) -> Item:
    return Item(
        kind=kind,
        theme="clay",
        theme_title="The Clay",
        period=period,
        title=title,
        url=f"https://example.com/{title}",
        parts=(),
        summary=f"{title} in brief.",
        position=position,
    )


def _pool() -> list[Candidate]:
    # Ids deliberately unrelated to order: insertion order must not matter.
    return [
        Candidate(11, _item("Dec-2", "2025-12", 2)),
        Candidate(3, _item("Feb-1", "2026-02", 1)),
        Candidate(10, _item("Dec-1", "2025-12", 1)),
        Candidate(7, _item("Jan-3", "2026-01", 3)),
        Candidate(4, _item("Feb-2", "2026-02", 2)),
        Candidate(6, _item("Jan-1", "2026-01", 1)),
    ]


def _titles(candidates: list[Candidate]) -> list[str]:
    return [c.item.title for c in candidates]


def test_newest_period_first_then_report_order() -> None:
    assert _titles(ordered(_pool())) == ["Feb-1", "Feb-2", "Jan-1", "Jan-3", "Dec-1", "Dec-2"]


def test_next_items_skip_what_the_chat_has() -> None:
    digest = compose_digest(_pool(), taken={3, 6}, size=3, when=WHEN)
    assert digest is not None
    assert digest.item_ids == (4, 7, 10)
    assert digest.remaining == 1
    text = digest.message.plain()
    assert text.index("Feb-2") < text.index("Jan-3") < text.index("Dec-1")
    assert "Feb-1" not in text
    assert "Jan-1" not in text
    assert "1 more to come · preview: /digest clay" in text


def test_last_digest_says_everything_was_sent() -> None:
    digest = compose_digest(_pool(), taken={3, 4, 6, 7}, size=5, when=WHEN)
    assert digest is not None
    assert digest.item_ids == (10, 11)
    assert digest.remaining == 0
    assert "That's everything in this theme for now." in digest.message.plain()


def test_nothing_new_is_none() -> None:
    assert compose_digest(_pool(), taken={3, 4, 6, 7, 10, 11}, size=5, when=WHEN) is None
    assert compose_digest([], taken=set(), size=5, when=WHEN) is None


def test_digest_is_labelled_with_the_local_week() -> None:
    digest = compose_digest(_pool(), taken=set(), size=1, when=WHEN)
    assert digest is not None
    heading = digest.message.blocks[0]
    assert heading == Heading("The Clay · week of 3 Mar 2026")
    # 00:30 UTC on Tuesday is still Monday evening in New York: the label follows the local date.
    new_york = datetime(2026, 3, 3, 0, 30, tzinfo=UTC).astimezone(timezone(timedelta(hours=-5)))
    assert week_label(new_york) == "week of 2 Mar 2026"


def test_entries_are_bite_size_with_the_command_for_more() -> None:
    digest = compose_digest(_pool(), taken=set(), size=2, when=WHEN)
    assert digest is not None
    text = digest.message.plain()
    assert "Feb-1 in brief." in text
    assert "More: /model Feb-1" in text
    assert digest.message.tags == ("digest",)


def test_an_older_copy_of_the_same_item_is_superseded() -> None:
    pool = [*_pool(), Candidate(20, _item("Feb-1", "2025-12", 3))]
    assert 20 not in [c.id for c in unsent(pool, taken=set())]
    # Still superseded once the newest copy was sent: the chat never gets it twice.
    assert 20 not in [c.id for c in unsent(pool, taken={3})]
    # Kinds differ: a paper and a model of the same name are two things.
    pool.append(Candidate(21, _item("Feb-1", "2025-12", 4, kind=Kind.PAPER)))
    assert 21 in [c.id for c in unsent(pool, taken=set())]


def test_size_and_clock_are_checked() -> None:
    with pytest.raises(ValueError, match="aware"):
        compose_digest(_pool(), taken=set(), size=5, when=datetime(2026, 3, 3, 8, 30))  # noqa: DTZ001
    with pytest.raises(ValueError, match="at least 1"):
        compose_digest(_pool(), taken=set(), size=0, when=WHEN)


def test_nothing_new_note() -> None:
    note = nothing_new("The Clay", WHEN)
    assert note.blocks[0] == Heading("The Clay · week of 3 Mar 2026")
    assert "Nothing new this week" in note.plain()
    assert isinstance(note.blocks[-1], Context)
