"""Chat lifecycle: a chat is active, gone (blocked, kicked, archived) or moved to a new id.

One place for what happens to a chat's row, its subscriptions, its deliveries and its queued
messages when the platform says it is gone or moved, and when a command brings it back.
Every function runs in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, bindparam, delete, literal, select, update

from bot.store.db import dialect_insert
from bot.store.models import (
    ChatRow,
    DeliveryRow,
    OutboxRow,
    SubscriptionRow,
    WatchHitRow,
    WatchRow,
)

PENDING = "pending"
DEAD = "dead"


_CHAT_STATE = select(ChatRow.kind, ChatRow.active).where(
    ChatRow.platform == bindparam("platform"), ChatRow.chat_id == bindparam("chat_id")
)


@dataclass(frozen=True)
class ChatState:
    kind: str
    active: bool


def chat_state(conn: Connection, platform: str, chat_id: str) -> ChatState | None:
    """What we know of a chat (None: nothing yet, which means it takes messages)."""
    row = conn.execute(_CHAT_STATE, {"platform": platform, "chat_id": chat_id}).first()
    return None if row is None else ChatState(row.kind, row.active)


def upsert_chat(
    conn: Connection, platform: str, chat_id: str, now: datetime, **values: Any
) -> None:
    """Create the chat's row or update the given columns of it."""
    stmt = dialect_insert(conn)(ChatRow).values(
        platform=platform, chat_id=chat_id, updated_at=now, **{"kind": "", "active": True, **values}
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[ChatRow.platform, ChatRow.chat_id], set_={"updated_at": now, **values}
        )
    )


def reactivate(conn: Connection, platform: str, chat_id: str, kind: str, now: datetime) -> None:
    """A command from the chat (e.g. /subscribe) shows it takes messages again."""
    values: dict[str, Any] = {"active": True, "gone_reason": None}
    if kind:
        values["kind"] = kind[:20]
    upsert_chat(conn, platform, chat_id, now, **values)


@dataclass(frozen=True)
class Gone:
    subscriptions: int  # deactivated
    dropped: int  # queued messages given up


def mark_gone(conn: Connection, platform: str, chat_id: str, reason: str, now: datetime) -> Gone:
    """The chat no longer takes messages: deactivate its subscriptions, drop its queue."""
    reason = reason[:250]
    upsert_chat(conn, platform, chat_id, now, active=False, gone_reason=reason)
    subs = conn.execute(
        update(SubscriptionRow)
        .where(
            SubscriptionRow.platform == platform,
            SubscriptionRow.chat_id == chat_id,
            SubscriptionRow.active.is_(True),
        )
        .values(active=False, deactivated_reason=f"chat gone: {reason}"[:300])
    ).rowcount
    dropped = conn.execute(
        update(OutboxRow)
        .where(
            OutboxRow.platform == platform,
            OutboxRow.chat_id == chat_id,
            OutboxRow.status == PENDING,
        )
        .values(status=DEAD, dead_at=now, claimed_until=None, last_error=f"chat gone: {reason}")
    ).rowcount
    return Gone(subs, dropped)


def follow_move(conn: Connection, platform: str, old: str, new: str, now: datetime) -> None:
    """A group became a supergroup: its subscriptions, watches, deliveries and queue follow the
    new id."""
    upsert_chat(conn, platform, old, now, moved_to=new)
    upsert_chat(conn, platform, new, now, active=True, kind="supergroup")
    _move_watches(conn, platform, old, new)
    taken = set(
        conn.execute(
            select(SubscriptionRow.theme).where(
                SubscriptionRow.platform == platform, SubscriptionRow.chat_id == new
            )
        ).scalars()
    )
    for sub_id, theme in conn.execute(
        select(SubscriptionRow.id, SubscriptionRow.theme).where(
            SubscriptionRow.platform == platform, SubscriptionRow.chat_id == old
        )
    ).all():
        values: dict[str, Any] = {"chat_id": new}
        if theme in taken:  # subscribed again in the new chat already: keep that one
            values = {"active": False, "deactivated_reason": f"chat moved to {new}"}
        conn.execute(update(SubscriptionRow).where(SubscriptionRow.id == sub_id).values(**values))
    delivered = select(
        DeliveryRow.platform,
        literal(new, String(100)),
        DeliveryRow.item_id,
        DeliveryRow.outbox_id,
        DeliveryRow.delivered_at,
    ).where(DeliveryRow.platform == platform, DeliveryRow.chat_id == old)
    conn.execute(
        dialect_insert(conn)(DeliveryRow)
        .from_select(["platform", "chat_id", "item_id", "outbox_id", "delivered_at"], delivered)
        .on_conflict_do_nothing()
    )
    conn.execute(
        update(OutboxRow)
        .where(
            OutboxRow.platform == platform,
            OutboxRow.chat_id == old,
            OutboxRow.status == PENDING,
        )
        .values(chat_id=new, chat_kind="supergroup")
    )


def _move_watches(conn: Connection, platform: str, old: str, new: str) -> None:
    """The old chat's watches become the new chat's (a watch it has there already is kept)."""
    kept = set(
        conn.execute(
            select(WatchRow.words_key).where(WatchRow.platform == platform, WatchRow.chat_id == new)
        ).scalars()
    )
    rows = conn.execute(
        select(WatchRow.id, WatchRow.words_key).where(
            WatchRow.platform == platform, WatchRow.chat_id == old
        )
    ).all()
    twice = [r.id for r in rows if r.words_key in kept]
    if twice:
        conn.execute(delete(WatchHitRow).where(WatchHitRow.watch_id.in_(twice)))
        conn.execute(delete(WatchRow).where(WatchRow.id.in_(twice)))
    moving = [r.id for r in rows if r.words_key not in kept]
    if moving:
        conn.execute(
            update(WatchRow)
            .where(WatchRow.id.in_(moving))
            .values(chat_id=new, chat_kind="supergroup")
        )
