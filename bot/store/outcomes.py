"""What became of one try of an outbox row (:class:`Outcome`), as the worker hands it to the
:class:`~bot.store.outbox.Ledger` to record."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.outbox import Claimed


class OutcomeKind(StrEnum):
    """What became of one attempt."""

    SENT = "sent"  # every part delivered
    RATE_LIMITED = "retry"  # 429: requeued after retry_after, not an attempt (metric label "retry")
    TRANSIENT = "transient"  # may pass: requeued after a backoff, or dead after the last try
    MAYBE_DELIVERED = "maybe"  # no readable answer: items count as delivered; one more try at most
    MOVED = "moved"  # the chat has a new id: everything follows it, then resent
    GONE = "gone"  # the chat takes no more messages
    REJECTED = "rejected"  # the platform refused this message: dead
    RELEASE = "release"  # not tried (stopping, lease lost): claim given back


@dataclass
class Outcome:
    """What became of one attempt; applied to the database in a batch.

    ``retry_in`` is the retry policy's answer for a failure: seconds until the next try, or None
    when there is none (the row is finished).
    """

    row: Claimed
    kind: OutcomeKind
    ids: list[str] = field(default_factory=list)  # parts delivered by this attempt
    error: str = ""
    retry_in: float | None = 0.0
    new_chat_id: str = ""
