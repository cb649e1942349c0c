"""A lock that goes to its oldest waiter: the queue of command replies for a platform's global
tokens (issue 16, "oldest first overall").

``asyncio.Lock`` wakes its waiters in the order they reached it. A reply's age, though, is when
its update arrived, and a chat's second reply reaches the queue only after the chat's first has
gone out and the chat's interval has passed; behind a FIFO lock it would wait for every reply
to other chats that arrived after it. :class:`OldestFirst` is granted by arrival instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools


class OldestFirst:
    """A lock granted to the waiter of the oldest ``arrival`` (equal ones in the order they asked).

    A release hands the lock straight to the next waiter, so nobody slips in between. A waiter
    cancelled after it was granted passes the lock on; one cancelled before is dropped when it
    comes up.
    """

    def __init__(self) -> None:
        self._held = False
        # (arrival, ask number, future): a future is done only when its waiter was cancelled,
        # as a granted one leaves the heap.
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._asked = itertools.count()

    def locked(self) -> bool:
        return self._held

    async def acquire(self, arrival: float) -> None:
        """Wait until the lock is this caller's; ``arrival`` is any clock's, the same for all."""
        if not self._held:  # nobody holds it, so nobody waits for it either
            self._held = True
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (arrival, next(self._asked), granted))
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self.release()  # granted just as it was cancelled: the next waiter's turn
            raise

    def release(self) -> None:
        """Hand the lock to the oldest waiter, or leave it free when none waits."""
        while self._waiters:
            granted = heapq.heappop(self._waiters)[2]
            if not granted.done():
                granted.set_result(None)
                return
        self._held = False

    def older_waiting(self, arrival: float) -> bool:
        """Whether a waiter older than ``arrival`` waits (the holder may give way to it)."""
        while self._waiters and self._waiters[0][2].done():
            heapq.heappop(self._waiters)
        return bool(self._waiters) and self._waiters[0][0] < arrival
