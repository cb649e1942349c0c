"""Delivery health: ``/status`` for admins, and the same figures as Prometheus gauges."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict

from bot.commands.core import Request, command
from bot.i18n import N_
from bot.platforms import workspace_of
from bot.store.actions import feedback_counts
from bot.store.db import Engine
from bot.store.status import outbox_status, paid_messages
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
    description=N_("delivery queue, failures and gone chats"),
)
def status_command(request: Request) -> Message:
    # Where one gateway serves many workspaces, a workspace sees its own chats' figures only.
    where = workspace_of(request.platform, request.chat_id)
    scope = (request.platform, where) if where is not None else None
    with request.services.store.engine.connect() as conn:
        s = outbox_status(conn, workspace=scope)
        votes = feedback_counts(conn, workspace=scope)
        paid = paid_messages(conn, request.services.paid)
    n = request.words.number
    prices = request.services.paid
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
        request._(
            "Maybe delivered (no readable answer): {day} in 24 h, {retrying} being tried once more"
        ).format(day=n(s.maybe_24h), retrying=n(s.maybe_retrying)),
        *(
            request._(
                "Paid broadcasts on {platform}: {messages} in 24 h, at most {stars} Stars "
                "(only messages past the free rate are charged)"
            ).format(
                platform=platform.title(),
                messages=request.ngettext("{n} message", "{n} messages", count).format(n=n(count)),
                stars=f"{count * prices[platform]:.1f}",
            )
            for platform, count in paid.items()
        ),
        request._("Deactivated: {chats}, {subscriptions}").format(
            chats=request.ngettext("{n} chat", "{n} chats", s.deactivated_chats).format(
                n=n(s.deactivated_chats)
            ),
            subscriptions=request.ngettext(
                "{n} subscription", "{n} subscriptions", s.deactivated_subscriptions
            ).format(n=n(s.deactivated_subscriptions)),
        ),
        request._("Feedback: {up} 👍, {down} 👎 on {items} from {chats}").format(
            up=n(votes.up),
            down=n(votes.down),
            items=request.ngettext("{n} item", "{n} items", votes.items).format(n=n(votes.items)),
            chats=request.ngettext("{n} chat", "{n} chats", votes.chats).format(n=n(votes.chats)),
        ),
        # The problem itself is a log-style line for the admins; its label is translated.
        *(request._("Problem: {line}").format(line=line) for line in request.services.problems()),
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
