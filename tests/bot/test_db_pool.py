"""PostgreSQL connection pool: a connection that sat idle is pinged and replaced when dead.

A busy pool (a Monday stampede) is not pinged at every checkout; one idle longer than
``PING_AFTER_IDLE`` is, so a server restart or a cut link costs no failed command.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

import bot.store.db as db

pytestmark = pytest.mark.postgres


def _backend(conn: object) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())  # type: ignore[attr-defined]


def _cut(url: str, pid: int) -> None:
    killer = db.make_engine(url)
    try:
        with killer.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        killer.dispose()


def test_an_idle_connection_cut_by_the_server_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            first = _backend(conn)
        _cut(postgres_url, first)
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)  # every checkin now counts as idle
        with engine.connect() as conn:
            second = _backend(conn)
        assert second != first
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged_at_every_checkout(postgres_url: str) -> None:
    engine = db.make_engine(postgres_url)
    pings = 0
    original = engine.dialect.do_ping

    def counting(dbapi_connection: object) -> bool:
        nonlocal pings
        pings += 1
        return bool(original(dbapi_connection))

    engine.dialect.do_ping = counting  # type: ignore[method-assign]
    try:
        backends = set()
        for _ in range(20):
            with engine.connect() as conn:
                backends.add(_backend(conn))
        assert len(backends) == 1  # the pool reused its connection
        assert pings == 0
    finally:
        engine.dispose()
