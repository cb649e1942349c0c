"""Leader election on a real PostgreSQL: one leader, takeover after a cut connection or a stop."""

from __future__ import annotations

import asyncio
import socket

import pytest
from sqlalchemy import create_engine, text

from bot.scheduling.leader import LeaderElection
from bot.store.locks import LockConnection
from tests.fakes import wait_for

pytestmark = pytest.mark.postgres


class Candidate:
    def __init__(self, url: str, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

        async def elected() -> None:
            log.append(f"{name}+")

        async def deposed() -> None:
            log.append(f"{name}-")

        self.election = LeaderElection(
            url, on_elected=elected, on_deposed=deposed, takeover_seconds=1.2, lock_key=4242
        )


def _leaders(candidates: list[Candidate]) -> list[str]:
    return [c.name for c in candidates if c.election.is_leader]


async def test_exactly_one_leader_and_takeover(postgres_url: str) -> None:
    log: list[str] = []
    candidates = [Candidate(postgres_url, n, log) for n in ("a", "b", "c")]
    for c in candidates:
        await c.election.start()
    try:
        await wait_for(lambda: len(_leaders(candidates)) == 1, within=10)
        await asyncio.sleep(1.0)
        assert len(_leaders(candidates)) == 1
        first = next(c for c in candidates if c.election.is_leader)

        # Cut the leader's database connection from the server side.
        engine = create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            killed = (
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks "
                        "WHERE locktype = 'advisory' AND objid = 4242 AND granted"
                    )
                )
                .scalars()
                .all()
            )
        engine.dispose()
        assert killed == [True]
        await wait_for(lambda: not first.election.is_leader, within=10)
        await wait_for(lambda: len(_leaders(candidates)) == 1, within=10)
        second = next(c for c in candidates if c.election.is_leader)
        assert log.count(f"{first.name}-") == 1

        # A leader that stops hands over too.
        await second.election.stop()
        await wait_for(lambda: len(_leaders(candidates)) == 1, within=10)
        assert not second.election.is_leader
    finally:
        for c in candidates:
            await c.election.stop()
    assert _leaders(candidates) == []
    assert log.count("a+") + log.count("b+") + log.count("c+") >= 3


async def test_sqlite_gateway_is_always_the_leader(sqlite_url: str) -> None:
    log: list[str] = []
    candidate = Candidate(sqlite_url, "only", log)
    await candidate.election.start()
    assert candidate.election.is_leader
    await candidate.election.stop()
    assert log == ["only+", "only-"]


async def test_a_lock_connection_that_cannot_connect_raises_connection_error(
    postgres_url: str,
) -> None:
    """psycopg's failure comes out as ConnectionError (which the election campaigns past), with
    psycopg's error as its cause."""
    import psycopg

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ConnectionError) as caught:
        await LockConnection.open(f"postgresql://postgres@127.0.0.1:{port}/test", seconds=2)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)


async def test_a_lock_is_held_by_one_connection_until_it_closes(postgres_url: str) -> None:
    first = await LockConnection.open(postgres_url, seconds=2)
    second = await LockConnection.open(postgres_url, seconds=2)
    try:
        assert await first.try_lock(4343)
        assert not await second.try_lock(4343)
        await first.heartbeat(within=2)
        await first.close()
        await wait_for_lock(second, 4343)
    finally:
        await first.close()
        await second.close()


async def wait_for_lock(lock: LockConnection, key: int) -> None:
    for _ in range(50):
        if await lock.try_lock(key):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the lock was not freed when its connection closed")
