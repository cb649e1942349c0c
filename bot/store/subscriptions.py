"""The subscriptions table: a chat's weekly digest of one theme. Functions take a connection."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from bot.store.chats import reactivate
from bot.store.db import dialect_insert
from bot.store.models import SubscriptionRow


class WeeklyTime(Protocol):
    """When a subscription runs: ``day`` ``mon``…``sun``, ``at_time`` ``HH:MM``, IANA ``timezone``
    (:class:`bot.scheduling.weekly.Schedule` is one)."""

    @property
    def day(self) -> str: ...
    @property
    def at_time(self) -> str: ...
    @property
    def timezone(self) -> str: ...


def chat_subscriptions(conn: Connection, platform: str, chat_id: str) -> list[SubscriptionRow]:
    """The chat's active subscriptions, by theme."""
    with Session(conn, expire_on_commit=False) as session:
        subs = list(
            session.scalars(
                select(SubscriptionRow)
                .where(
                    SubscriptionRow.platform == platform,
                    SubscriptionRow.chat_id == chat_id,
                    SubscriptionRow.active.is_(True),
                )
                .order_by(SubscriptionRow.theme)
            )
        )
        session.expunge_all()
    return subs


def all_subscriptions(conn: Connection, *, active_only: bool = True) -> list[SubscriptionRow]:
    query = select(SubscriptionRow).order_by(
        SubscriptionRow.platform, SubscriptionRow.chat_id, SubscriptionRow.theme
    )
    if active_only:
        query = query.where(SubscriptionRow.active.is_(True))
    with Session(conn, expire_on_commit=False) as session:
        subs = list(session.scalars(query))
        session.expunge_all()
    return subs


def active_subscription(
    conn: Connection, platform: str, chat_id: str, theme: str
) -> SubscriptionRow | None:
    """The chat's active subscription to ``theme``, if it has one."""
    return _subscription(conn, platform, chat_id, theme, active_only=True)


def any_subscription(
    conn: Connection, platform: str, chat_id: str, theme: str
) -> SubscriptionRow | None:
    """The chat's subscription to ``theme``, active or not (re-subscribing keeps its parts)."""
    return _subscription(conn, platform, chat_id, theme, active_only=False)


def _subscription(
    conn: Connection, platform: str, chat_id: str, theme: str, *, active_only: bool
) -> SubscriptionRow | None:
    query = select(SubscriptionRow).where(
        SubscriptionRow.platform == platform,
        SubscriptionRow.chat_id == chat_id,
        SubscriptionRow.theme == theme,
    )
    if active_only:
        query = query.where(SubscriptionRow.active.is_(True))
    with Session(conn, expire_on_commit=False) as session:
        sub = session.scalars(query).first()
        session.expunge_all()
    return sub


def save_subscription(
    conn: Connection,
    *,
    platform: str,
    chat_id: str,
    chat_kind: str,
    theme: str,
    schedule: WeeklyTime,
    size: int,
    created_by: str,
    now: datetime,
) -> tuple[SubscriptionRow, bool]:
    """Create or update (and reactivate) the chat's subscription to ``theme``.

    Returns it with True when it is new (or was inactive). The chat counts as active again.
    """
    insert = dialect_insert(conn)
    before = conn.execute(
        select(SubscriptionRow.active).where(
            SubscriptionRow.platform == platform,
            SubscriptionRow.chat_id == chat_id,
            SubscriptionRow.theme == theme,
        )
    ).scalar()
    schedule_values = {
        "day": schedule.day,
        "at_time": schedule.at_time,
        "timezone": schedule.timezone,
        "size": size,
        "active": True,
        "deactivated_reason": None,
    }
    stmt = insert(SubscriptionRow).values(
        platform=platform,
        chat_id=chat_id,
        theme=theme,
        created_by=created_by[:100],
        created_at=now,
        **schedule_values,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["platform", "chat_id", "theme"], set_=schedule_values
        )
    )
    reactivate(conn, platform, chat_id, chat_kind, now)
    sub = active_subscription(conn, platform, chat_id, theme)
    assert sub is not None  # written just above, in this transaction
    return sub, not before


def deactivate(
    conn: Connection, platform: str, chat_id: str, theme: str | None, reason: str
) -> list[str]:
    """Turn off the chat's subscription to ``theme`` (all when None); returns the themes."""
    where = [
        SubscriptionRow.platform == platform,
        SubscriptionRow.chat_id == chat_id,
        SubscriptionRow.active.is_(True),
    ]
    if theme is not None:
        where.append(SubscriptionRow.theme == theme)
    themes = list(conn.execute(select(SubscriptionRow.theme).where(*where)).scalars())
    if themes:
        conn.execute(
            update(SubscriptionRow)
            .where(*where)
            .values(active=False, deactivated_reason=reason[:300])
        )
    return sorted(themes)
