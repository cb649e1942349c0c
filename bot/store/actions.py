"""Buttons' server side: long commands kept under short tokens, and 👍 / 👎 on digest entries.

Functions take a connection and run in the caller's transaction, like the other store modules.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, distinct, func, select

from bot.store.db import dialect_insert
from bot.store.models import ActionTokenRow, FeedbackRow, ItemRow

#: How long a stored button command stays valid: digests stay in a chat's history for weeks.
TOKEN_TTL = timedelta(days=30)
UP, DOWN = 1, -1


def token_for(command: str) -> str:
    """The token of ``command``: the same command always gets the same 12 characters."""
    digest = hashlib.sha256(command.encode()).digest()[:9]
    return base64.urlsafe_b64encode(digest).decode()


def keep_command(conn: Connection, command: str, now: datetime, ttl: timedelta = TOKEN_TTL) -> str:
    """Store ``command`` (or renew it) for ``ttl`` and return its token."""
    token = token_for(command)
    stmt = dialect_insert(conn)(ActionTokenRow).values(
        token=token, command=command, created_at=now, expires_at=now + ttl
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[ActionTokenRow.token],
            set_={"command": command, "expires_at": now + ttl},
        )
    )
    return token


def command_of(conn: Connection, token: str, now: datetime) -> str | None:
    """The command stored under ``token``, or None when it is unknown or expired."""
    row = conn.execute(
        select(ActionTokenRow.command, ActionTokenRow.expires_at).where(
            ActionTokenRow.token == token
        )
    ).first()
    if row is None or _aware(row.expires_at) <= now:
        return None
    return str(row.command)


def purge_tokens(conn: Connection, now: datetime) -> int:
    """Delete expired tokens; returns how many."""
    return (
        conn.execute(delete(ActionTokenRow).where(ActionTokenRow.expires_at <= now)).rowcount or 0
    )


def _aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes for aware columns; they were stored in UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# -- feedback -------------------------------------------------------------------------------------


def item_title(conn: Connection, item_id: int) -> str | None:
    """The title of a current (not removed) item, or None when it is gone."""
    row = conn.execute(
        select(ItemRow.title).where(ItemRow.id == item_id, ItemRow.removed.is_(False))
    ).first()
    return None if row is None else str(row.title)


def record_vote(
    conn: Connection,
    *,
    platform: str,
    chat_id: str,
    item_id: int,
    user_id: str,
    vote: int,
    now: datetime,
) -> bool:
    """Store a vote (one per chat, item and user; a new press replaces the old one).

    Returns False when the same vote was there already.
    """
    before = conn.execute(
        select(FeedbackRow.vote).where(
            FeedbackRow.platform == platform,
            FeedbackRow.chat_id == chat_id,
            FeedbackRow.item_id == item_id,
            FeedbackRow.user_id == user_id,
        )
    ).scalar()
    if before == vote:
        return False
    stmt = dialect_insert(conn)(FeedbackRow).values(
        platform=platform,
        chat_id=chat_id[:100],
        item_id=item_id,
        user_id=user_id[:100],
        vote=vote,
        updated_at=now,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[
                FeedbackRow.platform,
                FeedbackRow.chat_id,
                FeedbackRow.item_id,
                FeedbackRow.user_id,
            ],
            set_={"vote": vote, "updated_at": now},
        )
    )
    return True


@dataclass(frozen=True)
class FeedbackCounts:
    """Votes over all chats: for ``/status``."""

    up: int
    down: int
    items: int
    chats: int


def feedback_counts(conn: Connection, workspace: tuple[str, str] | None = None) -> FeedbackCounts:
    """Count every vote (or those of one (platform, workspace)'s chats) in one read."""
    count = func.count()
    stmt = select(
        count.filter(FeedbackRow.vote == UP),
        count.filter(FeedbackRow.vote == DOWN),
        func.count(distinct(FeedbackRow.item_id)),
        func.count(distinct(FeedbackRow.platform + ":" + FeedbackRow.chat_id)),
    ).select_from(FeedbackRow)
    if workspace is not None:
        from bot.store.installations import in_workspace

        stmt = stmt.where(
            FeedbackRow.platform == workspace[0], in_workspace(FeedbackRow.chat_id, workspace[1])
        )
    row = conn.execute(stmt).one()
    return FeedbackCounts(*row)
