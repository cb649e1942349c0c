"""Leader election: exactly one gateway at a time runs the scheduler.

PostgreSQL is the coordination engine. Each gateway keeps a dedicated connection and tries a
session-level advisory lock (``pg_try_advisory_lock``) on it; the one that holds the lock is the
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

from sqlalchemy.engine import make_url

from bot.store.db import application_name

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
        return make_url(self.database_url).get_backend_name() == "postgresql"

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

    def _dsn(self) -> str:
        url = make_url(self.database_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    async def _campaign(self) -> None:
        import psycopg

        while True:
            conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._dsn(),
                    autocommit=True,
                    connect_timeout=max(2, int(self.interval)),
                    keepalives=1,
                    keepalives_idle=5,
                    keepalives_interval=2,
                    keepalives_count=3,
                )
                # The server side ends a half-open leader connection fast, freeing the lock.
                await conn.execute("SET tcp_keepalives_idle = 5")
                await conn.execute("SET tcp_keepalives_interval = 2")
                await conn.execute("SET tcp_keepalives_count = 3")
                await conn.execute(
                    "SELECT set_config('application_name', %s, false)",
                    [application_name("digestbot-leader")],
                )
                while True:
                    if await self._try_lock(conn):
                        break
                    await asyncio.sleep(self.interval)
                await self._elect()
                while True:
                    await asyncio.sleep(self.interval)
                    await asyncio.wait_for(conn.execute("SELECT 1"), timeout=self.interval)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("leader election connection failed: %s", type(exc).__name__)
            except Exception:
                # Starting the scheduler failed (say its database connection was cut while it
                # loaded the jobs): give the lock up and campaign again; never stop campaigning.
                log.exception("leader election: could not start the scheduler")
            finally:
                await self._depose(stopping=self._stopping)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), timeout=2)
            await asyncio.sleep(self.interval)

    async def _try_lock(self, conn: object) -> bool:
        cursor = await conn.execute(  # type: ignore[attr-defined]
            "SELECT pg_try_advisory_lock(%s)", [self.lock_key]
        )
        row = await cursor.fetchone()
        return bool(row and row[0])
