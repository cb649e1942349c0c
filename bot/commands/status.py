"""Delivery health: ``/status`` for admins, and the same figures as Prometheus gauges."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict

from sqlalchemy import Engine

from bot.commands.core import Request, command
from bot.store.actions import feedback_counts
from bot.store.status import outbox_status
from digests.message import Context, Heading, Message, Paragraph, spans

_GAUGES = {
    "pending": ("digestbot_outbox_pending", "Outbox rows not yet sent or given up"),
    "due": ("digestbot_outbox_due", "Outbox rows due now and not held by a worker"),
    "in_flight": ("digestbot_outbox_in_flight", "Outbox rows held by a worker"),
    "retrying": ("digestbot_outbox_retrying", "Pending outbox rows that failed at least once"),
    "sent_24h": ("digestbot_outbox_sent_24h", "Outbox rows sent in the last 24 hours"),
    "failed_24h": ("digestbot_outbox_failed_24h", "Outbox rows dead-lettered in the last 24 hours"),
    "dead": ("digestbot_outbox_dead", "Dead letters, all time"),
    "maybe_24h": (
        "digestbot_outbox_maybe_delivered_24h",
        "Outbox rows finished without a readable answer in the last 24 hours",
    ),
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
            with engine.connect() as conn:
                figures = asdict(outbox_status(conn))
            out = {name: (doc, float(figures[key])) for key, (name, doc) in _GAUGES.items()}
            cache[:] = [(time.monotonic(), out)]
            return out

    return source


@command(
    "status",
    usage="/status",
    example="/status",
    admin_only=True,
    description="delivery queue, failures and gone chats",
)
def status_command(request: Request) -> Message:
    with request.services.store.engine.connect() as conn:
        s = outbox_status(conn)
        votes = feedback_counts(conn)
    lines = [
        f"Queue: {s.pending:,} pending ({s.due:,} due, {s.in_flight:,} sending, "
        f"{s.retrying:,} retrying)",
        f"Last 24 h: {s.sent_24h:,} sent, {s.failed_24h:,} failed",
        f"Dead letters: {s.dead:,}",
        f"Maybe delivered (no readable answer): {s.maybe_24h:,} in 24 h, "
        f"{s.maybe_retrying:,} being tried once more",
        f"Deactivated: {s.deactivated_chats:,} chats, {s.deactivated_subscriptions:,} "
        "subscriptions",
        f"Feedback: {votes.up:,} 👍, {votes.down:,} 👎 on {votes.items:,} items "
        f"from {votes.chats:,} chats",
        *(f"Problem: {line}" for line in request.services.problems()),
    ]
    return Message(
        (
            Heading("Delivery status"),
            *(Paragraph(spans(line)) for line in lines),
            Context(spans(f"{s.workers} outbox worker(s) running")),
        )
    )
