"""Leader election: exactly one gateway at a time runs the scheduler.

PostgreSQL is the coordination engine. Each gateway keeps a dedicated connection
(:class:`bot.store.locks.LockConnection`) and tries a session-level advisory lock
(``pg_try_advisory_lock``) on it; the one that holds the lock is the
leader and runs the scheduler. The lock lives exactly as long as that connection:

- a leader that dies (even by SIGKILL) closes its socket and the server frees the lock at once;
- a leader whose connection is cut notices at its next heartbeat (``SELECT 1`` every
  ``takeover / 6`` seconds) and stops its scheduler; on the server side TCP keepalives (set on the
  session) end a half-open connection within about 11 s, which frees the lock;
- followers retry every ``takeover / 6`` seconds, so a new leader is running well within
  ``DIGESTBOT_LEADER_TAKEOVER_SECONDS`` (default 30).

A short overlap (an old leader that has not yet noticed) cannot double a digest: each scheduled
run is recorded with a unique dedup key in the outbox. With SQLite there is one gateway, and it is
always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.store.locks import LockConnection, uses_lock

log = logging.getLogger(__name__)

LOCK_KEY = 0x6469676573740001  # "digest" + 1: one scheduler per database


class LeaderElection:
    """Runs ``on_elected`` when this gateway becomes the leader and ``on_deposed`` when it stops."""

    def __init__(
        self,
        database_url: str,
        *,
        on_elected: Callable[[], Awaitable[None]],
        on_deposed: Callable[[], Awaitable[None]],
        takeover_seconds: float = 30.0,
        lock_key: int = LOCK_KEY,
    ) -> None:
        self.database_url = database_url
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.interval = max(0.2, takeover_seconds / 6)
        self.lock_key = lock_key
        self.is_leader = False
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def uses_lock(self) -> bool:
        return uses_lock(self.database_url)

    async def start(self) -> None:
        if not self.uses_lock:
            await self._elect()
            return
        self._task = asyncio.create_task(self._campaign(), name="leader-election")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._depose(stopping=True)

    async def _elect(self) -> None:
        self.is_leader = True
        log.info("this gateway is now the scheduler leader")
        await self.on_elected()
        self.changed.set()

    async def _depose(self, *, stopping: bool = False) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        log.log(
            logging.INFO if stopping else logging.WARNING,
            "this gateway is no longer the scheduler leader",
        )
        try:
            await self.on_deposed()
        except Exception:
            # Deposing runs in the campaign's finally: an error here must not end the campaign.
            log.exception("leader election: could not stop the scheduler")
        finally:
            self.changed.set()

    async def _campaign(self) -> None:
        while True:
            lock: LockConnection | None = None
            try:
                lock = await LockConnection.open(self.database_url, seconds=self.interval)
                while True:
                    if await lock.try_lock(self.lock_key):
                        break
                    await asyncio.sleep(self.interval)
                await self._elect()
                while True:
                    await asyncio.sleep(self.interval)
                    await lock.heartbeat(within=self.interval)
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError) as exc:
                # The lock connection raises psycopg's errors as ConnectionError: name the cause.
                cause = exc.__cause__ if isinstance(exc, ConnectionError) else None
                reason = cause or exc
                log.warning("leader election connection failed: %s", type(reason).__name__)
            except Exception:
                # Starting the scheduler failed (say its database connection was cut while it
                # loaded the jobs): give the lock up and campaign again; never stop campaigning.
                log.exception("leader election: could not start the scheduler")
            finally:
                await self._depose(stopping=self._stopping)
                if lock is not None:
                    await lock.close()
            await asyncio.sleep(self.interval)
