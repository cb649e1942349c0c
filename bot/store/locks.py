"""The scheduler's lock: a PostgreSQL session-level advisory lock on a connection of its own.

:class:`LockConnection` is the database side of leader election (:mod:`bot.scheduling.leader`):
a dedicated autocommit connection with TCP keepalives on both ends, on which the lock is tried
(``pg_try_advisory_lock``) and held for as long as the connection lives, and a heartbeat that
notices a cut connection. Every failure of that connection (refused, cut, server gone) is raised
as :class:`ConnectionError`, with psycopg's error as its cause. SQLite needs no lock: one gateway
per file, always the leader (:func:`uses_lock`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from bot.store.db import application_name

if TYPE_CHECKING:
    import psycopg


def uses_lock(database_url: str) -> bool:
    """Whether gateways on this database elect a leader (PostgreSQL) or not (SQLite)."""
    return make_url(database_url).get_backend_name() == "postgresql"


@contextlib.contextmanager
def _connection_errors() -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise ConnectionError(f"lock connection failed: {type(exc).__name__}") from exc


class LockConnection:
    """A dedicated PostgreSQL connection for one advisory lock; open it with :meth:`open`."""

    def __init__(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, database_url: str, *, seconds: float) -> LockConnection:
        """Connect (giving up after about ``seconds``, at least two) and set the session up."""
        import psycopg

        dsn = make_url(database_url).set(drivername="postgresql")
        with _connection_errors():
            conn = await psycopg.AsyncConnection.connect(
                dsn.render_as_string(hide_password=False),
                autocommit=True,
                connect_timeout=max(2, int(seconds)),
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
        lock = cls(conn)
        try:
            with _connection_errors():
                # The server side ends a half-open leader connection fast, freeing the lock.
                await conn.execute("SET tcp_keepalives_idle = 5")
                await conn.execute("SET tcp_keepalives_interval = 2")
                await conn.execute("SET tcp_keepalives_count = 3")
                await conn.execute(
                    "SELECT set_config('application_name', %s, false)",
                    [application_name("digestbot-leader")],
                )
        except BaseException:
            await lock.close()
            raise
        return lock

    async def try_lock(self, key: int) -> bool:
        """Take the lock ``key`` if no other session holds it; True when this one holds it."""
        with _connection_errors():
            cursor = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", [key])
            row = await cursor.fetchone()
        return bool(row and row[0])

    async def heartbeat(self, *, within: float) -> None:
        """Ask the server for an answer; a cut connection raises (TimeoutError when none came
        ``within`` seconds)."""
        with _connection_errors():
            await asyncio.wait_for(self._conn.execute("SELECT 1"), timeout=within)

    async def close(self) -> None:
        """Close the connection (which frees the lock), waiting at most two seconds."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._conn.close(), timeout=2)
