"""PostgreSQL connections that cannot hang forever (issue 30): TCP keepalives, so a server gone
silent is found dead, and a statement timeout, so a statement stuck on the server is cancelled."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bot.settings import SettingsError, load_settings
from bot.store.store import Store


@pytest.mark.postgres
def test_postgres_connections_have_keepalives_and_a_statement_timeout(postgres_url: str) -> None:
    store = Store.open(postgres_url, statement_timeout=1)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "1s"
            raw = conn.connection.dbapi_connection
            assert raw is not None
            params = raw.info.get_parameters()  # type: ignore[attr-defined]
            assert params.get("keepalives") == "1"
            assert int(params["keepalives_idle"]) <= 60
            with pytest.raises(Exception, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(30)"))
    finally:
        store.close()


@pytest.mark.postgres
def test_the_default_statement_timeout(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "30s"
    finally:
        store.close()


@pytest.mark.parametrize("value", ["0", "-1", "1e9", "inf"])
def test_statement_timeout_setting_is_bounded(value: str) -> None:
    with pytest.raises(SettingsError, match="DIGESTBOT_DATABASE_STATEMENT_TIMEOUT"):
        load_settings(env={"DIGESTBOT_DATABASE_STATEMENT_TIMEOUT": value})
