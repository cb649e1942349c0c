"""Votes as taste: a chat's net 👍 / 👎 per item (its digests' order), and the most liked items.

The votes themselves are written by :func:`bot.store.actions.record_vote` (the 👍 / 👎 buttons).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Exists, bindparam, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute

from bot.store.installations import in_workspace
from bot.store.models import FeedbackRow, ItemRow
from digests.items import Item
from digests.taste import Traits, Vote, traits

_Column = ColumnElement[str] | InstrumentedAttribute[str]

#: The chat's most recently voted items that order its digests.
VOTES = 100


def voted_in(platform: _Column, chat_id: _Column) -> Exists:
    """Whether the chat voted at all: one probe of the feedback table's primary key."""
    return exists().where(FeedbackRow.platform == platform, FeedbackRow.chat_id == chat_id)


_HAS_VOTES = select(voted_in(bindparam("platform"), bindparam("chat_id")))

_net = func.sum(FeedbackRow.vote)
_CHAT_VOTES = (
    select(FeedbackRow.item_id, _net.label("net"))
    .where(
        FeedbackRow.platform == bindparam("platform"), FeedbackRow.chat_id == bindparam("chat_id")
    )
    .group_by(FeedbackRow.item_id)
    .order_by(func.max(FeedbackRow.updated_at).desc(), FeedbackRow.item_id.desc())
    .limit(VOTES)
)
_DATA = select(ItemRow.id, ItemRow.data).where(ItemRow.id.in_(bindparam("ids", expanding=True)))


def taste_columns(item: Any) -> tuple[ColumnElement[Any], ...]:
    """The columns of ``item`` (``ItemRow`` or an alias of it) that taste looks at: kind, title,
    and from the stored item only its topic and aliases (not the whole item to decode)."""
    return (
        item.kind,
        item.title,
        item.data["topic"].as_string().label("topic"),
        item.data["aliases"].label("aliases"),
    )


def traits_of_row(row: Any) -> Traits:
    """The traits of a row carrying :func:`taste_columns`."""
    return traits(str(row.kind), str(row.title), tuple(row.aliases or ()), row.topic)


_VOTED = select(ItemRow.id, *taste_columns(ItemRow)).where(
    ItemRow.id.in_(bindparam("ids", expanding=True))
)


def has_votes(conn: Connection, platform: str, chat_id: str) -> bool:
    return bool(conn.execute(_HAS_VOTES, {"platform": platform, "chat_id": chat_id}).scalar())


def chat_votes(conn: Connection, platform: str, chat_id: str) -> list[Vote]:
    """The chat's net vote (its members' 👍 less 👎) on each item it voted on, newest first."""
    nets = {
        r.item_id: int(r.net)
        for r in conn.execute(_CHAT_VOTES, {"platform": platform, "chat_id": chat_id})
        if int(r.net)
    }
    if not nets:
        return []
    rows = {row.id: row for row in conn.execute(_VOTED, {"ids": list(nets)})}
    return [
        Vote(str(rows[i].title), traits_of_row(rows[i]), net)
        for i, net in nets.items()
        if i in rows
    ]


@dataclass(frozen=True)
class Liked:
    """An item with its vote counts (no voters' names)."""

    item_id: int
    item: Item
    up: int
    down: int


def most_liked(
    conn: Connection,
    *,
    theme: str | None = None,
    period: str | None = None,
    chat: tuple[str, str] | None = None,
    workspace: tuple[str, str] | None = None,
    limit: int = 10,
) -> list[Liked]:
    """The items with the most 👍 (over every chat, only ``chat``'s, or only the chats of
    ``workspace``, a (platform, workspace) pair), fewest 👎 on ties."""
    up = func.count().filter(FeedbackRow.vote > 0)
    down = func.count().filter(FeedbackRow.vote < 0)
    stmt = (
        select(FeedbackRow.item_id, up.label("up"), down.label("down"))
        .join(ItemRow, ItemRow.id == FeedbackRow.item_id)
        .where(ItemRow.removed.is_(False))
        .group_by(FeedbackRow.item_id)
        .having(up > 0)
        .order_by(up.desc(), down, FeedbackRow.item_id.desc())
        .limit(limit)
    )
    if theme is not None:
        stmt = stmt.where(ItemRow.theme == theme)
    if period is not None:
        stmt = stmt.where(ItemRow.period == period)
    if chat is not None:
        stmt = stmt.where(FeedbackRow.platform == chat[0], FeedbackRow.chat_id == chat[1])
    if workspace is not None:
        stmt = stmt.where(
            FeedbackRow.platform == workspace[0], in_workspace(FeedbackRow.chat_id, workspace[1])
        )
    rows = conn.execute(stmt).all()
    if not rows:
        return []
    ids = [r.item_id for r in rows]
    data: dict[int, dict[str, Any]] = dict(conn.execute(_DATA, {"ids": ids}).all())
    return [Liked(r.item_id, Item.from_dict(data[r.item_id]), r.up, r.down) for r in rows]
