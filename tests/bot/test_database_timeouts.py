"""PostgreSQL connections that cannot hang forever (issue 30): TCP keepalives, so a server gone
silent is found dead, and a statement timeout, so a statement stuck on the server is cancelled."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.gateway import Gateway
from bot.settings import SettingsError, load_settings
from bot.store.store import Store
from tests.fakes import wait_for
from tests.fakes.telegram import FakeTelegram

REPO = Path(__file__).resolve().parents[2]


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


class Proxy:
    """A TCP proxy to PostgreSQL that can go silent: while black-holed it holds every byte
    (each way) without answering, as a dead network path or a frozen server does."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Proxy:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.flowing.set()
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers += [writer, up_writer]
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            await self.flowing.wait()
            writer.write(data)
            await writer.drain()
        writer.close()


@pytest.mark.postgres
async def test_a_command_in_flight_when_the_database_goes_silent_is_answered(
    postgres_url: str,
) -> None:
    """Issue 30: with the database's connections black-holed, the command in flight is
    answered "the database is not answering" after DIGESTBOT_COMMAND_TIMEOUT, not never."""
    url = make_url(postgres_url)
    async with (
        Proxy(url.host or "127.0.0.1", url.port or 5432) as proxy,
        FakeTelegram(max_poll_wait=0.2) as tg,
    ):
        env = {
            "DIGESTBOT_DATABASE_URL": url.set(host="127.0.0.1", port=proxy.port).render_as_string(
                hide_password=False
            ),
            "DIGESTBOT_TELEGRAM_TOKEN": tg.token,
            "DIGESTBOT_TELEGRAM_API_URL": tg.base_url,
            "DIGESTBOT_TELEGRAM_FILE_URL": tg.base_file_url,
            "DIGESTBOT_COMMAND_TIMEOUT": "2",
        }
        gateway = Gateway(load_settings(env=env), stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        try:
            await wait_for(lambda: tg.commands, within=30)
            tg.user_message(31, 31, "/themes")
            await wait_for(lambda: [s for s in tg.sent if str(s.chat_id) == "31"], within=30)
            proxy.flowing.clear()  # the database goes silent
            tg.user_message(32, 32, "/themes")
            await wait_for(lambda: [s for s in tg.sent if str(s.chat_id) == "32"], within=20)
            reply = next(s.plain for s in tg.sent if str(s.chat_id) == "32")
            assert "database is not answering" in reply
        finally:
            proxy.flowing.set()  # let the stuck work finish, so the gateway stops cleanly
            gateway.stopping.set()
            assert await asyncio.wait_for(task, 30) == 0


@pytest.mark.postgres
@pytest.mark.slow
def test_sigterm_stops_within_ten_seconds_whatever_the_database_does(postgres_url: str) -> None:
    """Issue 30: SIGTERM while the database's connections are black-holed (a command stuck on
    one) ends the gateway within 10 s, the default time systemd and Docker wait."""

    async def scenario() -> tuple[float, int | None, str]:
        url = make_url(postgres_url)
        async with (
            Proxy(url.host or "127.0.0.1", url.port or 5432) as proxy,
            FakeTelegram(max_poll_wait=0.2) as tg,
        ):
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")},
                "DIGESTBOT_DATABASE_URL": url.set(
                    host="127.0.0.1", port=proxy.port
                ).render_as_string(hide_password=False),
                "DIGESTBOT_TELEGRAM_TOKEN": tg.token,
                "DIGESTBOT_TELEGRAM_API_URL": tg.base_url,
                "DIGESTBOT_TELEGRAM_FILE_URL": tg.base_file_url,
                "DIGESTBOT_HTTP_HOST": "127.0.0.1",
                "DIGESTBOT_HTTP_PORT": "0",
            }
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "run",
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                await wait_for(lambda: tg.commands, within=60)
                tg.user_message(41, 41, "/themes")
                await wait_for(lambda: tg.sent, within=30)
                proxy.flowing.clear()  # the database goes silent
                tg.user_message(42, 42, "/themes")
                await asyncio.sleep(1)  # the command is stuck on the database now
                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                _out, err = await asyncio.wait_for(proc.communicate(), 60)
                took = time.monotonic() - started
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            return took, proc.returncode, err.decode()

    took, code, err = asyncio.run(scenario())
    assert took < 10, err[-2000:]
    assert code == 0, err[-2000:]
