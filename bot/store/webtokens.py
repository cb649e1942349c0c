"""Personal feed links (``/feeds``): tokens that never expire until revoked.

A person (platform and user id) has at most one live token; asking again gives the same one.
Revoking deletes the row, so the link stops working at once on every gateway. Functions take a
connection and run in the caller's transaction, like the other store modules.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Row, delete, insert, select, update

from bot.store.models import FeedTokenRow

#: ``last_used_at`` is written at most this often per token (a feed reader polls every few
#: minutes; a write per poll would cost more than the poll).
TOUCH_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class FeedToken:
    id: str
    platform: str
    user_id: str
    created_at: datetime
    last_used_at: datetime | None


def _aware(when: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for aware columns; they were stored in UTC.
    if when is None or when.tzinfo is not None:
        return when
    return when.replace(tzinfo=UTC)


def _token(row: Row[str, str, str, datetime, datetime | None]) -> FeedToken:
    return FeedToken(
        row.id,
        row.platform,
        row.user_id,
        _aware(row.created_at) or row.created_at,
        _aware(row.last_used_at),
    )


_SELECT = select(
    FeedTokenRow.id,
    FeedTokenRow.platform,
    FeedTokenRow.user_id,
    FeedTokenRow.created_at,
    FeedTokenRow.last_used_at,
)


def person_token(conn: Connection, platform: str, user_id: str, now: datetime) -> FeedToken:
    """The person's live token, made now when they have none."""
    row = conn.execute(
        _SELECT.where(FeedTokenRow.platform == platform, FeedTokenRow.user_id == user_id[:100])
        .order_by(FeedTokenRow.created_at)
        .limit(1)
    ).first()
    if row is not None:
        return _token(row)
    token = FeedToken(secrets.token_hex(5), platform, user_id[:100], now, None)
    conn.execute(
        insert(FeedTokenRow).values(
            id=token.id, platform=platform, user_id=token.user_id, created_at=now
        )
    )
    return token


def live_token(conn: Connection, token_id: str, now: datetime) -> FeedToken | None:
    """The token ``token_id`` when it is not revoked (noting when it was last used)."""
    token = find_token(conn, token_id)
    if token is None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        conn.execute(
            update(FeedTokenRow).where(FeedTokenRow.id == token.id).values(last_used_at=now)
        )
    return token


def all_tokens(conn: Connection) -> list[FeedToken]:
    """Every live token, oldest first."""
    rows = conn.execute(_SELECT.order_by(FeedTokenRow.created_at, FeedTokenRow.id))
    return [_token(row) for row in rows]


def find_token(conn: Connection, token_id: str) -> FeedToken | None:
    """The live token ``token_id``, or None."""
    row = conn.execute(_SELECT.where(FeedTokenRow.id == token_id[:16])).first()
    return None if row is None else _token(row)


def revoke_token(conn: Connection, token_id: str) -> FeedToken | None:
    """Revoke one token by its id; the token revoked, or None when there was none."""
    token = find_token(conn, token_id)
    if token is not None:
        conn.execute(delete(FeedTokenRow).where(FeedTokenRow.id == token.id))
    return token


def revoke_person(conn: Connection, platform: str, user_id: str) -> int:
    """Revoke the person's tokens; how many there were."""
    done = conn.execute(
        delete(FeedTokenRow).where(
            FeedTokenRow.platform == platform, FeedTokenRow.user_id == user_id[:100]
        )
    )
    return done.rowcount or 0
