"""Delivery: sending what the outbox holds, within each platform's limits.

``worker`` is the sender (:class:`OutboxWorker`: claims rows through ``bot.store.outbox``, sends
them through the channels, records each outcome); ``ratelimit`` keeps every platform's declared
limits for sends and command replies alike (``gate`` orders the replies oldest first); ``retry``
is the one backoff policy.

Names are exported lazily, so command replies that only need the limiter's priorities do not
load the worker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.delivery.ratelimit import RateLimiter
    from bot.delivery.retry import RetryPolicy
    from bot.delivery.worker import OutboxWorker

_EXPORTS = {
    "OutboxWorker": "bot.delivery.worker",
    "RateLimiter": "bot.delivery.ratelimit",
    "RetryPolicy": "bot.delivery.retry",
}
__all__ = [
    "OutboxWorker",
    "RateLimiter",
    "RetryPolicy",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
