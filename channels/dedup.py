"""Deduplication of platform deliveries that may arrive twice.

Telegram retries a webhook update that did not get a 2xx answer; Slack retries an event that
was not acknowledged within 3 s. Adapters ask a ``first_seen(key)`` callable before handling
one: the gateway injects a database-backed one so several gateways share it; the default
below serves a single process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

FirstSeen = Callable[[str], Awaitable[bool]]
"""``await first_seen(key)`` is True the first time ``key`` is offered, False afterwards."""


class MemoryFirstSeen:
    """An in-process :data:`FirstSeen` remembering the last ``capacity`` keys."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    async def __call__(self, key: str) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return True
