"""The retry policy: how often a failed send is tried again, and how long to wait between.

=====================  ===========================================================================
rate limited (429)     not an attempt: wait ``retry_after`` and send again
transient              5xx, connection errors: ``max_attempts`` tries in all, waiting
                       ``base * 2**(attempt-1)`` seconds (capped at ``cap``) times a random factor
                       in [0.5, 1]; then the row is dead and the admins are told
maybe delivered        the request may have reached the platform (a client timeout after sending,
                       a reply that cannot be parsed): at most ``maybe_attempts`` more tries, so a
                       chat gets at most ``1 + maybe_attempts`` copies; then the row is left as
                       "maybe delivered" (its items count as delivered)
=====================  ===========================================================================
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed send again. ``jitter`` returns a factor in [0.5, 1] (tests fix it)."""

    max_attempts: int = 5
    maybe_attempts: int = 1
    base: float = 2.0
    cap: float = 600.0
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0.5, 1.0), compare=False)

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
