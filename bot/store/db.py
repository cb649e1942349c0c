"""Engines and migrations: SQLite by default, PostgreSQL through the ``postgres`` extra; the
health check and the one line that says why the database failed.

``Engine`` is re-exported for the modules outside the store that hold one (the outbox worker, the
status gauges): only the store imports SQLAlchemy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

__all__ = [
    "HEAD",
    "Engine",
    "application_name",
    "current_revision",
    "database_failure",
    "dialect_insert",
    "dialect_insert_for",
    "ensure_schema",
    "head_revision",
    "make_engine",
    "ping",
    "upgrade",
]

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x6469676573740002  # "digest" + 2 (+ 1 is the scheduler election)

# The newest migration. Commands compare the database with it without loading Alembic (a fifth of
# a cold `digestbot ask`); a test keeps it equal to the head of bot/store/migrations.
HEAD = "0011"

#: Seconds to wait for PostgreSQL to accept a connection.
CONNECT_TIMEOUT = 5


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, create the file's folder and turn on WAL and foreign keys."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Named per process, so an operator (or a test) can tell whose connections are whose.
    connect_args: dict[str, object] = (
        {} if "application_name" in parsed.query else {"application_name": application_name()}
    )
    if "connect_timeout" not in parsed.query:
        # A server that accepts and never answers must not hang a command (libpq waits forever).
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def application_name(role: str = "digestbot") -> str:
    """``digestbot 1234``: the PostgreSQL application_name of this process's connections."""
    return f"{role} {os.getpid()}"


def dialect_insert(conn: Connection) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_do_*``) for this connection.

    Imported when used: the dialect modules cost a cold `digestbot ask` for nothing.
    """
    return dialect_insert_for(conn.dialect.name)


def dialect_insert_for(dialect: str) -> Any:
    """The ``insert`` of dialect ``dialect`` (``sqlite`` or ``postgresql``)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    """The head of the migration scripts, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None when it has none yet)."""
    with engine.connect() as connection:
        return _revision(connection)


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Apply every pending migration; returns (before, after) revisions."""
    from alembic import command

    config = _config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Gateways starting together upgrade one after the other; the later ones find the
            # database at head and do nothing (instead of failing on tables that now exist).
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        before = _revision(connection)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return before, head_revision()


def ensure_schema(engine: Engine) -> None:
    """Upgrade the database when it is behind, as every command but `db upgrade` does first."""
    if current_revision(engine) != HEAD:
        upgrade(engine)


def ping(engine: Engine) -> None:
    """Read and write: a database that answers but cannot be written is not healthy."""
    with engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        conn.execute(text("UPDATE alembic_version SET version_num = version_num"))


def database_failure(exc: BaseException) -> str | None:
    """One line for a database that failed (read-only, disk full, unreachable), with what to do;
    None when ``exc`` is not a database failure."""
    if not isinstance(exc, DBAPIError):
        return None
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    low = reason.lower()
    if "readonly" in low or "read-only" in low or "read only" in low:
        hint = "the database is read-only: give digestbot a writable DIGESTBOT_DATABASE_URL"
    elif "disk" in low and "full" in low:
        hint = "the disk is full: free some space or move DIGESTBOT_DATABASE_URL"
    else:
        hint = "check DIGESTBOT_DATABASE_URL and that the database is reachable and writable"
    return f"database failed ({reason}); {hint}"
