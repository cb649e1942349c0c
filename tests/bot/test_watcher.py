"""The reports-folder watcher, on a real folder and a real store; and what /healthz and /status say.

Files half written wait, failures are retried (a file counts as seen only once ingested), FIFOs
and devices are never opened, symlinks count only to regular files within the limit.
"""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.gateway import Gateway
from bot.settings import load_settings
from bot.store.store import Store
from bot.watcher import ReportsWatcher
from channels.base import Incoming
from tests.conftest import SAMPLES

DEC = (SAMPLES / "2025-12.md").read_bytes()
FEB = (SAMPLES / "2026-02.md").read_bytes()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def periods(store: Store) -> list[str]:
    return sorted(r.period for r in store.reports())


def watcher(store: Store, folder: Path, clock: Clock, max_bytes: int = 1 << 20) -> ReportsWatcher:
    return ReportsWatcher(store, folder, max_bytes, interval=0.05, settle=3.0, clock=clock)


def touch(path: Path, data: bytes, at: float) -> None:
    path.write_bytes(data)
    os.utime(path, (at, at))


async def test_a_file_still_being_written_waits(store: Store, tmp_path: Path) -> None:
    clock = Clock()
    clock.now = 1000.0
    watch = watcher(store, tmp_path, clock)
    half = DEC[: len(DEC) // 2]
    touch(tmp_path / "2025-12.md", half, at=999.0)  # a second old: younger than the settle time
    assert await watch.scan() == 0
    clock.now = 1010.0
    touch(tmp_path / "2025-12.md", DEC, at=1009.0)  # grew since the last scan, and young
    assert await watch.scan() == 0
    clock.now = 1020.0
    touch(tmp_path / "2025-12.md", DEC, at=1009.0)  # now unchanged and old enough
    assert await watch.scan() == 1
    assert periods(store) == ["2025-12"]
    assert await watch.scan() == 0  # seen


async def test_a_failed_ingest_is_retried_and_reported(sqlite_url: str, tmp_path: Path) -> None:
    store = Store.open(sqlite_url)
    try:
        clock = Clock()
        clock.now = 1000.0
        touch(tmp_path / "2025-12.md", DEC, at=900.0)
        watch = watcher(store, tmp_path, clock)
        # A real database failure: the reports table is missing for a while.
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE reports RENAME TO reports_away"))
        assert await watch.scan() == 0
        assert watch.error is not None
        assert "2025-12.md" in watch.error
        services = Services(store=store, problems=lambda: [p for p in [watch.problem()] if p])
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE reports_away RENAME TO reports"))
        reply = await Dispatcher(services).on_command(Incoming("console", "c", "c", "/status"))
        assert reply is not None
        assert "Problem: reports folder watcher: 2025-12.md" in reply.plain()
        # Not counted as seen: the next scan ingests it.
        assert await watch.scan() == 1
        assert watch.error is None
        assert periods(store) == ["2025-12"]
    finally:
        store.close()


async def test_only_regular_files_are_read(store: Store, tmp_path: Path) -> None:
    clock = Clock()
    clock.now = 1000.0
    os.mkfifo(tmp_path / "pipe.md")  # opening it would block for ever
    (tmp_path / "zero.md").symlink_to("/dev/zero")  # reading it would never end
    big = tmp_path / "elsewhere" / "big.txt"
    big.parent.mkdir()
    touch(big, b"x" * 5000, at=900.0)
    (tmp_path / "big.md").symlink_to(big)
    real = tmp_path / "elsewhere" / "feb.txt"
    touch(real, FEB, at=900.0)
    (tmp_path / "2026-02.md").symlink_to(real)
    (tmp_path / "dangling.md").symlink_to(tmp_path / "nowhere")
    touch(tmp_path / "2025-12.md", DEC, at=900.0)
    watch = watcher(store, tmp_path, clock, max_bytes=max(len(DEC), len(FEB)) + 1)
    assert await asyncio.wait_for(watch.scan(), 10) == 2
    assert periods(store) == ["2025-12", "2026-02"]
    assert watch.error is None


async def test_the_loop_outlives_a_missing_folder(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    clock = Clock()
    clock.now = 1000.0
    watch = watcher(store, folder, clock)
    await watch.start()
    try:
        for _ in range(500):  # generous: a loaded machine
            if watch.error:
                break
            await asyncio.sleep(0.02)
        assert watch.error is not None
        assert "cannot list" in watch.error
        assert watch.alive
        folder.mkdir()
        touch(folder / "2025-12.md", DEC, at=900.0)
        # The scan clears its error once it has finished, a moment after the ingest commits.
        for _ in range(750):
            if periods(store) == ["2025-12"] and watch.error is None:
                break
            await asyncio.sleep(0.02)
        assert periods(store) == ["2025-12"]
        assert watch.error is None
    finally:
        await watch.stop()
    assert not watch.alive
    assert watch.problem() is not None


async def test_healthz_tells_the_truth(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    reports = tmp_path / "reports"
    reports.mkdir()
    settings = load_settings(
        env={
            "DIGESTBOT_DATABASE_URL": f"sqlite:///{db}",
            "DIGESTBOT_HTTP_PORT": "0",
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_CONSOLE": "false",
            "DIGESTBOT_REPORTS_DIR": str(reports),
        }
    )
    gateway = Gateway(settings, stdout=io.StringIO(), watch_seconds=0.1)
    task = asyncio.create_task(gateway.run())

    async def healthz() -> tuple[int, dict[str, object]]:
        assert gateway.http is not None
        url = f"http://127.0.0.1:{gateway.http.port}/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            return resp.status, await resp.json()

    try:
        for _ in range(200):
            started = gateway.watcher is not None and gateway.watcher.alive
            if gateway.http is not None and gateway.http.port and started:
                break
            await asyncio.sleep(0.05)
        status, body = await healthz()
        assert status == 200, body
        assert body["outbox_worker"] is True
        assert body["reports_watcher"] is True

        # A scan that fails is shown, and retried, but the gateway stays healthy.
        reports.rmdir()
        for _ in range(100):
            status, body = await healthz()
            if body.get("reports_watcher_ok") is False:
                break
            await asyncio.sleep(0.05)
        assert (status, body["reports_watcher_ok"]) == (200, False)
        reports.mkdir()

        # The database answers reads but cannot be written (another holds its write lock).
        lock = sqlite3.connect(db, timeout=1)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            status, body = await healthz()
            assert status == 503
        finally:
            lock.rollback()
            lock.close()
        for _ in range(100):
            status, body = await healthz()
            if status == 200:
                break
            await asyncio.sleep(0.05)
        assert status == 200

        # A dead watcher is unhealthy.
        assert gateway.watcher is not None
        await gateway.watcher.stop()
        status, body = await healthz()
        assert (status, body["reports_watcher"]) == (503, False)
    finally:
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


@pytest.fixture(autouse=True)
def _no_sample_seeding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIGESTBOT_REPORTS_DIR", raising=False)


async def _live_item_counts(store: Store, seconds: float) -> list[int]:
    """How many items the December report has live, sampled every 0.1 s for ``seconds``."""
    seen = []
    for _ in range(int(seconds * 10)):
        seen.append(store.item_count())
        await asyncio.sleep(0.1)
    return seen


async def test_a_writer_that_pauses_for_four_seconds_is_not_ingested_half(
    store: Store, tmp_path: Path
) -> None:
    # The defaults of a running gateway's watcher, on the real clock: the first half of the
    # report, a 4 s pause (the writer thinking), then the rest.
    watch = ReportsWatcher(store, tmp_path, 1 << 20, interval=0.2)
    path = tmp_path / "2025-12.md"
    cut = DEC.index(b"\n### ", len(DEC) // 2)
    await watch.start()
    try:
        path.write_bytes(DEC[:cut])
        during = await _live_item_counts(store, 4.5)
        with path.open("ab") as out:
            out.write(DEC[cut:])
        after = await _live_item_counts(store, 0.5)
    finally:
        await watch.stop()
    assert set(during) == {0}, "half the report went live"
    assert set(after) == {0}  # still settling


async def test_a_long_pause_is_replaced_by_the_whole_report_at_the_next_look(
    store: Store, tmp_path: Path
) -> None:
    # A writer pausing for longer than the settle time gets half its report in; the watcher
    # keeps looking every settle seconds (not every interval) while the file is recent, so
    # the whole report replaces the half at once, long before the next interval's scan.
    watch = ReportsWatcher(store, tmp_path, 1 << 20, interval=60.0, settle=0.3)
    path = tmp_path / "2025-12.md"
    cut = DEC.index(b"\n### ", len(DEC) // 2)
    path.write_bytes(DEC[:cut])
    os.utime(path, (0, 0))  # old already: the first scan takes it
    await watch.start()
    try:
        for _ in range(50):
            await asyncio.sleep(0.1)
            if half := store.item_count():
                break
        path.write_bytes(DEC)  # the writer resumes
        for _ in range(100):
            await asyncio.sleep(0.1)
            if (now := store.item_count()) != half:
                break
    finally:
        await watch.stop()
    assert 0 < half < now
