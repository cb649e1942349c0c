"""Engines and migrations: SQLite by default, PostgreSQL through the ``postgres`` extra."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x6469676573740002  # "digest" + 2 (+ 1 is the scheduler election)

# The newest migration. Commands compare the database with it without loading Alembic (a fifth of
# a cold `digestbot ask`); a test keeps it equal to the head of bot/store/migrations.
HEAD = "0010"

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
