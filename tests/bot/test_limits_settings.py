"""Settings refuse ``inf`` and ``nan``; a database that accepts and never answers does not hang."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from tests.bot.test_run import _run


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIGESTBOT_MISFIRE_GRACE_HOURS", "nan"),
        ("DIGESTBOT_LEADER_TAKEOVER_SECONDS", "inf"),
        ("DIGESTBOT_TELEGRAM_CHAT_INTERVAL", "-inf"),
        ("DIGESTBOT_DEDUP_KEEP_DAYS", "nan"),
    ],
)
def test_infinite_or_nan_numbers_are_refused(tmp_path: Path, name: str, value: str) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}", name: value}
    if "TELEGRAM" in name:
        env["DIGESTBOT_TELEGRAM_TOKEN"] = "123:abc"
    done = _run(["ask", "/themes"], env)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert name in lines[0]
    assert "finite" in lines[0]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DIGESTBOT_MISFIRE_GRACE_HOURS", "1e12"),
        ("DIGESTBOT_LEADER_TAKEOVER_SECONDS", "1e300"),
        ("DIGESTBOT_WEB_LINK_DAYS", "1e12"),
    ],
)
def test_numbers_too_large_for_a_duration_are_one_line(
    tmp_path: Path, name: str, value: str
) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}", name: value}
    done = _run(["run"], env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert name in lines[0]
    assert "less than or equal" in lines[0]


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("0", "DIGESTBOT_DEDUP_KEEP_DAYS: Input should be greater than 0"),
        ("-2", "DIGESTBOT_DEDUP_KEEP_DAYS: Input should be greater than 0"),
        ("nan", "DIGESTBOT_DEDUP_KEEP_DAYS: Input should be a finite number"),
        ("1e9", "DIGESTBOT_DEDUP_KEEP_DAYS: Input should be less than or equal to 3650"),
    ],
)
def test_dedup_keep_days_must_be_a_positive_number_of_days(value: str, line: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env={"DIGESTBOT_DEDUP_KEEP_DAYS": value})
    assert str(info.value) == line


def test_dedup_keep_days_defaults_to_a_week_and_takes_fractions() -> None:
    assert load_settings(env={}).dedup_keep_days == 7
    assert load_settings(env={"DIGESTBOT_DEDUP_KEEP_DAYS": "0.5"}).dedup_keep_days == 0.5


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_database_that_never_answers_fails_in_seconds(silent_server: int) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{silent_server}/x"}
    started = time.monotonic()
    done = _run(["ask", "/themes"], env)
    assert time.monotonic() - started < 30
    assert done.returncode != 0
    assert "timeout" in done.stderr.lower() or "timed out" in done.stderr.lower(), done.stderr
