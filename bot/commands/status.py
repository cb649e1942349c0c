"""Delivery health: ``/status`` for admins, and the same figures as Prometheus gauges."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, or_, select

from bot.commands.core import Request, command
from bot.i18n import N_
from bot.store.models import Chat, OutboxRow, OutboxWorkerRow, Subscription
from bot.store.outbox import DEAD, PENDING, SENT
from digests.message import Context, Heading, Message, Paragraph, spans

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
    deactivated_chats: int
    deactivated_subscriptions: int
    workers: int  # outbox workers with a live heartbeat


def outbox_status(
    engine: Engine, now: datetime | None = None, lease: timedelta = timedelta(seconds=30)
) -> OutboxStatus:
    """Count everything in one read."""
    now = now or datetime.now(UTC)
    o = OutboxRow
    pending = o.status == PENDING
    live_claim = o.claimed_until >= now
    count = func.count()
    with engine.connect() as conn:
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
            ).select_from(o)
        ).one()
        chats = conn.execute(
            select(func.count()).select_from(Chat).where(Chat.active.is_(False))
        ).scalar_one()
        subs = conn.execute(
            select(func.count()).select_from(Subscription).where(Subscription.active.is_(False))
        ).scalar_one()
        workers = conn.execute(
            select(func.count())
            .select_from(OutboxWorkerRow)
            .where(OutboxWorkerRow.seen_at >= now - lease)
        ).scalar_one()
    return OutboxStatus(*row, chats, subs, workers)


_GAUGES = {
    "pending": ("digestbot_outbox_pending", "Outbox rows not yet sent or given up"),
    "due": ("digestbot_outbox_due", "Outbox rows due now and not held by a worker"),
    "in_flight": ("digestbot_outbox_in_flight", "Outbox rows held by a worker"),
    "retrying": ("digestbot_outbox_retrying", "Pending outbox rows that failed at least once"),
    "sent_24h": ("digestbot_outbox_sent_24h", "Outbox rows sent in the last 24 hours"),
    "failed_24h": ("digestbot_outbox_failed_24h", "Outbox rows dead-lettered in the last 24 hours"),
    "dead": ("digestbot_outbox_dead", "Dead letters, all time"),
    "deactivated_chats": ("digestbot_chats_deactivated", "Chats that no longer take messages"),
    "deactivated_subscriptions": (
        "digestbot_subscriptions_deactivated",
        "Subscriptions deactivated",
    ),
    "workers": ("digestbot_outbox_workers", "Outbox workers with a live heartbeat"),
}


def status_gauges(engine: Engine, ttl: float = 5.0) -> Callable[[], dict[str, tuple[str, float]]]:
    """A source for :meth:`bot.metrics.Metrics.add_gauges`, cached for ``ttl`` seconds."""
    lock = threading.Lock()
    cache: list[tuple[float, dict[str, tuple[str, float]]]] = []

    def source() -> dict[str, tuple[str, float]]:
        with lock:
            if cache and time.monotonic() - cache[0][0] < ttl:
                return cache[0][1]
            figures = asdict(outbox_status(engine))
            out = {name: (doc, float(figures[key])) for key, (name, doc) in _GAUGES.items()}
            cache[:] = [(time.monotonic(), out)]
            return out

    return source


@command(
    "status",
    usage="/status",
    example="/status",
    admin_only=True,
    description=N_("delivery queue, failures and gone chats"),
)
def status_command(request: Request) -> Message:
    s = outbox_status(request.services.store.engine)
    n = request.words.number
    lines = [
        request._(
            "Queue: {pending} pending ({due} due, {sending} sending, {retrying} retrying)"
        ).format(
            pending=n(s.pending), due=n(s.due), sending=n(s.in_flight), retrying=n(s.retrying)
        ),
        request._("Last 24 h: {sent} sent, {failed} failed").format(
            sent=n(s.sent_24h), failed=n(s.failed_24h)
        ),
        request._("Dead letters: {n}").format(n=n(s.dead)),
        request._("Deactivated: {chats}, {subscriptions}").format(
            chats=request.ngettext("{n} chat", "{n} chats", s.deactivated_chats).format(
                n=n(s.deactivated_chats)
            ),
            subscriptions=request.ngettext(
                "{n} subscription", "{n} subscriptions", s.deactivated_subscriptions
            ).format(n=n(s.deactivated_subscriptions)),
        ),
    ]
    workers = request.ngettext(
        "{n} outbox worker running", "{n} outbox workers running", s.workers
    ).format(n=n(s.workers))
    return Message(
        (
            Heading(request._("Delivery status")),
            *(Paragraph(spans(line)) for line in lines),
            Context(spans(workers)),
        )
    )
