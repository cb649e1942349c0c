"""The retry policy: what a failed send becomes, how often it is tried again, and how long to
wait between. :meth:`RetryPolicy.decide` receives the exception and decides (as procrastinate's
``get_retry_exception``); the outbox worker only carries the verdict out.

=====================  ===========================================================================
rate limited (429)     not an attempt: pause the chat (Telegram: all bulk sends), wait
                       ``retry_after`` and send again
chat moved             everything follows the new id; sent again at once
chat gone              the chat is made inactive; nothing more is tried
maybe delivered        the request may have reached the platform (a client timeout after sending,
                       a reply that cannot be parsed, a stop while on the wire): at most
                       ``maybe_attempts`` more tries, so a chat gets at most ``1 + maybe_attempts``
                       copies; then the row is left as "maybe delivered" (its items count as
                       delivered)
transient              5xx, connection errors, and failures of ours nobody mapped:
                       ``max_attempts`` tries in all, waiting ``base * 2**(attempt-1)`` seconds
                       (capped at ``cap``) times a random factor in [0.5, 1]; then the row is dead
                       and the admins are told
refused                any other :class:`~channels.base.SendError`: dead, the admins are told
=====================  ===========================================================================
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.store.outbox import OutcomeKind
from channels.base import (
    ChatGone,
    ChatMoved,
    MaybeDelivered,
    RetryLater,
    SendError,
    TransientSendError,
    sane_wait,
)

#: What an exception becomes, first matching row wins. Our own send timeout, and a stop while the
#: request is out, may have delivered the message too.
OUTCOMES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], OutcomeKind], ...] = (
    (RetryLater, OutcomeKind.RATE_LIMITED),
    (ChatMoved, OutcomeKind.MOVED),
    (ChatGone, OutcomeKind.GONE),
    ((MaybeDelivered, TimeoutError, asyncio.CancelledError), OutcomeKind.MAYBE_DELIVERED),
    (TransientSendError, OutcomeKind.TRANSIENT),
    (SendError, OutcomeKind.REJECTED),
    (Exception, OutcomeKind.TRANSIENT),
)


@dataclass(frozen=True)
class Verdict:
    """What becomes of a failed try.

    ``retry_in``: seconds until the next try (None: no more tries; a moved chat's row is sent
    again at once; a gone or refused one is finished whatever it says); ``pause``: seconds the
    chat waits (a 429); ``new_chat_id``: where a moved chat went.
    """

    kind: OutcomeKind
    retry_in: float | None = 0.0
    pause: float | None = None
    new_chat_id: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed send again. ``jitter`` returns a factor in [0.5, 1] (tests fix it)."""

    max_attempts: int = 5
    maybe_attempts: int = 1
    base: float = 2.0
    cap: float = 600.0
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0.5, 1.0), compare=False)

    def decide(self, exc: BaseException, *, attempts: int = 0, maybes: int = 0) -> Verdict:
        """The verdict on a try that raised ``exc``, after ``attempts`` failed tries and
        ``maybes`` ambiguous ones before it."""
        kind = next(kind for kinds, kind in OUTCOMES if isinstance(exc, kinds))
        if isinstance(exc, RetryLater):
            wait = sane_wait(exc.retry_after)  # clamped where it was made; kept so here too
            return Verdict(kind, retry_in=wait, pause=wait)
        if isinstance(exc, ChatMoved):
            return Verdict(kind, new_chat_id=exc.new_chat_id)
        if kind is OutcomeKind.MAYBE_DELIVERED:
            return Verdict(kind, retry_in=self.after_maybe(maybes + 1))
        if kind is OutcomeKind.TRANSIENT:
            return Verdict(kind, retry_in=self.after_transient(attempts + 1))
        return Verdict(kind)

    def after_transient(self, attempts: int) -> float | None:
        """Seconds to wait after the ``attempts``-th failed try, or None: give up."""
        if attempts >= self.max_attempts:
            return None
        return self.backoff(attempts)

    def after_maybe(self, maybes: int) -> float | None:
        """Seconds to wait after the ``maybes``-th ambiguous try, or None: try no more."""
        if maybes > self.maybe_attempts:
            return None
        return self.backoff(maybes)

    def backoff(self, attempt: int) -> float:
        return min(self.cap, self.base * 2 ** (attempt - 1)) * self.jitter()
