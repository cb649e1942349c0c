"""Shared fixtures: a database per test on SQLite and, where marked, on a real PostgreSQL.

PostgreSQL comes from DIGESTBOT_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
Each run creates its own database there and drops it afterwards. When the server does not answer,
PostgreSQL tests are skipped, unless DIGESTBOT_TEST_REQUIRE_POSTGRES=1 (CI sets it) makes that an
error.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
SHARED_REPORTS = REPO.parent / "shared" / "reports"
FIXTURES = REPO / "tests" / "fixtures"
SAMPLES = REPO / "digests" / "samples"


@pytest.fixture
def seed_path() -> Path:
    """The real report from ../shared/reports; skipped cleanly where that folder is absent."""
    path = SHARED_REPORTS / "2026-01.md"
    if not path.exists():
        pytest.skip("../shared/reports/2026-01.md is not on this machine")
    return path


def _admin_url() -> str:
    return os.environ.get(
        "DIGESTBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ).replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A database of this test run's own on the PostgreSQL server, dropped at the end."""
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("DIGESTBOT_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {_admin_url()}")
    name = f"digestbot_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """The run's PostgreSQL database, migrated and emptied for this test."""
    from bot.store.db import ensure_schema, make_engine

    engine = make_engine(postgres_server_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        existing = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).scalars()
        )
        tables = [t for t in existing if t != "alembic_version"]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
    engine.dispose()
    return postgres_server_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'digestbot.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[object]:
    from bot.store.store import Store

    s = Store.open(db_url)
    yield s
    s.close()
