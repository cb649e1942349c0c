"""Delivery figures: what the outbox and the chats look like now, counted in one read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select

from bot.clock import utcnow
from bot.store.installations import in_workspace
from bot.store.models import ChatRow, OutboxRow, OutboxWorkerRow, SubscriptionRow
from bot.store.outbox import DEAD, MAYBE, PENDING, SENT

DAY = timedelta(hours=24)


@dataclass(frozen=True)
class OutboxStatus:
    """What the outbox and the chats look like now."""

    pending: int  # queue depth: every row not yet sent or given up
    due: int  # of those, due now and not held by a worker
    in_flight: int  # held by a worker under a live lease
    retrying: int  # pending rows that failed at least once
    sent_24h: int
    failed_24h: int  # dead-lettered in the last 24 h
    dead: int  # dead letters, all time
    maybe_24h: int  # finished without a readable answer in the last 24 h: may have been delivered
    maybe_retrying: int  # pending rows that may have been delivered once and are tried again
    deactivated_chats: int
    deactivated_subscriptions: int
    workers: int  # outbox workers with a live heartbeat


def outbox_status(
    conn: Connection,
    now: datetime | None = None,
    lease: timedelta = timedelta(seconds=30),
    workspace: tuple[str, str] | None = None,
) -> OutboxStatus:
    """Count everything (or what concerns one (platform, workspace)'s chats) in one read."""
    now = now or utcnow()
    o = OutboxRow
    mine: list[Any] = []
    chats_mine: list[Any] = []
    subs_mine: list[Any] = []
    if workspace is not None:
        platform, where = workspace
        mine = [o.platform == platform, in_workspace(o.chat_id, where)]
        chats_mine = [ChatRow.platform == platform, in_workspace(ChatRow.chat_id, where)]
        subs_mine = [
            SubscriptionRow.platform == platform,
            in_workspace(SubscriptionRow.chat_id, where),
        ]
    pending = o.status == PENDING
    live_claim = o.claimed_until >= now
    count = func.count()
    row = conn.execute(
        select(
            count.filter(pending),
            count.filter(
                pending,
                o.not_before <= now,
                or_(o.claimed_until.is_(None), o.claimed_until < now),
            ),
            count.filter(pending, live_claim),
            count.filter(pending, o.last_error.is_not(None)),
            count.filter(o.status == SENT, o.sent_at >= now - DAY),
            count.filter(o.status == DEAD, o.dead_at >= now - DAY),
            count.filter(o.status == DEAD),
            count.filter(o.status == MAYBE, o.sent_at >= now - DAY),
            count.filter(pending, o.maybe_count > 0),
        )
        .select_from(o)
        .where(*mine)
    ).one()
    chats = conn.execute(
        select(func.count()).select_from(ChatRow).where(ChatRow.active.is_(False), *chats_mine)
    ).scalar_one()
    subs = conn.execute(
        select(func.count())
        .select_from(SubscriptionRow)
        .where(SubscriptionRow.active.is_(False), *subs_mine)
    ).scalar_one()
    workers = conn.execute(
        select(func.count())
        .select_from(OutboxWorkerRow)
        .where(OutboxWorkerRow.seen_at >= now - lease)
    ).scalar_one()
    return OutboxStatus(*row, chats, subs, workers)


def paid_messages(
    conn: Connection, platforms: Iterable[str], now: datetime | None = None
) -> dict[str, int]:
    """Messages (parts) the outbox sent in the last 24 h to each of ``platforms``: while a
    platform's paid path is on, every one of them went on it."""
    now = now or utcnow()
    names = sorted(platforms)
    if not names:
        return {}
    o = OutboxRow
    rows = conn.execute(
        select(o.platform, func.coalesce(func.sum(func.json_array_length(o.message_ids)), 0))
        .where(
            o.platform.in_(names),
            o.status.in_((SENT, MAYBE)),
            o.sent_at >= now - DAY,
        )
        .group_by(o.platform)
    ).all()
    found = {str(p): int(n) for p, n in rows}
    return {name: found.get(name, 0) for name in names}
