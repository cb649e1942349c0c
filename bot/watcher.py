"""The reports-folder watcher: ingests ``DIGESTBOT_REPORTS_DIR`` at start, then what changes in it.

Rules, each from a failure seen in a running gateway:

- It never dies silently: any error of a scan is logged, kept as :attr:`ReportsWatcher.error`
  (``/healthz`` and ``/status`` show it) and the next scan tries again. Only a stopped or
  crashed loop makes :attr:`ReportsWatcher.alive` False.
- A file counts as seen only after it was ingested (or rejected as a bad report): a database
  error leaves it to be tried again on the next scan.
- A file still being written waits: its size or mtime changed since the last scan, or it is
  younger than :attr:`ReportsWatcher.settle` seconds (10 s: a writer that pauses for 4 s does
  not get half its report ingested).
- A file changed or ingested lately (within :data:`RECENT_SECONDS`) is looked at again every ``settle``
  seconds rather than every ``interval``: a writer that paused for longer than ``settle`` got
  half its report ingested, and the whole one replaces it within seconds of the last write,
  not at the next 30 s scan.
- Only regular files are read (no FIFOs or devices, which would block or never end); a symlink
  counts only when it points at a regular file, and never past the size limit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.store.ingest import decode_report, describe, markdown_text
from bot.store.store import Store
from digests import ReportError, ReportTooLarge

log = logging.getLogger(__name__)

WATCH_SECONDS = 30.0
SETTLE_SECONDS = 10.0
#: A file whose mtime is this recent keeps the watcher looking every ``settle`` seconds.
RECENT_SECONDS = 300.0

Mark = tuple[int, int]  # (mtime in ns, size)


@dataclass(frozen=True)
class Candidate:
    path: Path
    mark: Mark
    mtime: float


class ReportsWatcher:
    """Scans ``folder`` every ``interval`` seconds on the running loop (I/O in threads)."""

    def __init__(
        self,
        store: Store,
        folder: Path,
        max_bytes: int,
        *,
        interval: float = WATCH_SECONDS,
        settle: float = SETTLE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.folder = folder
        self.max_bytes = max_bytes
        self.interval = interval
        self.settle = settle
        self.clock = clock
        self.error: str | None = None  # the last scan's problem, None when it went well
        #: A missing folder was already reported (the gateway's start-up warning): don't repeat it.
        self.quiet_missing = False
        self.last_scan: float | None = None  # when a scan last completed (clock time)
        self._seen: dict[Path, Mark] = {}  # ingested (or rejected) as of this mark
        self._last_marks: dict[Path, Mark] = {}  # what the previous scan saw
        self._refused: dict[Path, Mark] = {}  # not a regular file or too large: said once
        self._task: asyncio.Task[None] | None = None
        #: The last scan saw a file changed lately, or one waiting to settle: look again soon.
        self.hot = False
        self._taken: dict[Path, float] = {}  # when a file last went in (clock time)

    # -- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="reports-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def problem(self) -> str | None:
        """One line for ``/status`` when something is wrong, else None."""
        if self.error:
            return f"reports folder watcher: {self.error} (retried every {self.interval:g} s)"
        if not self.alive:
            return f"reports folder watcher is not running ({self.folder})"
        return None

    async def _loop(self) -> None:
        while True:
            try:
                await self.scan()
            except asyncio.CancelledError:
                raise
            except OSError as exc:  # the folder is missing or unreadable: say so once
                error = f"{type(exc).__name__}: {exc}"[:300]
                if error != self.error and not (self.quiet_missing and not self.folder.exists()):
                    log.warning("reports folder: %s; trying again", exc)
                self.error = error
            except Exception as exc:  # the loop must outlive any one scan
                error = f"{type(exc).__name__}: {exc}"[:300]
                if error != self.error:
                    log.exception("reports folder %s: scan failed; trying again", self.folder)
                self.error = error
            await asyncio.sleep(self.next_delay())

    def next_delay(self) -> float:
        """Seconds until the next scan: ``settle`` while a file is being written or was just
        changed (so a resumed write replaces what went in), else ``interval``."""
        return min(self.interval, max(0.05, self.settle)) if self.hot else self.interval

    # -- one scan -------------------------------------------------------------------------

    async def scan(self) -> int:
        """Look at the folder once; ingest what is ready. Returns how many files went in."""
        candidates = await asyncio.to_thread(self._list)
        now = self.clock()
        marks = {c.path: c.mark for c in candidates}
        errors: list[str] = []
        ingested = 0
        self._taken = {p: t for p, t in self._taken.items() if now - t < RECENT_SECONDS}
        self.hot = bool(self._taken) or any(now - c.mtime < RECENT_SECONDS for c in candidates)
        for cand in candidates:
            if self._seen.get(cand.path) == cand.mark:
                continue
            previous = self._last_marks.get(cand.path)
            changing = previous is not None and previous != cand.mark
            if changing or now - cand.mtime < self.settle:
                self.hot = True
                continue  # still being written: next scan
            try:
                done = await asyncio.to_thread(self._ingest, cand)
            except Exception as exc:
                errors.append(f"{cand.path.name}: {type(exc).__name__}: {exc}"[:200])
                log.warning("reports folder: %s failed, will retry: %s", cand.path, exc)
                continue
            self._seen[cand.path] = cand.mark
            self._taken[cand.path] = now
            self.hot = True
            ingested += done
        self._last_marks = marks
        for gone in set(self._seen) - set(marks):
            del self._seen[gone]
        self.error = "; ".join(errors) or None
        self.last_scan = self.clock()
        return ingested

    def _list(self) -> list[Candidate]:
        """The folder's ``*.md`` regular files (symlinks followed), with their marks."""
        found = []
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError as exc:
            raise OSError(f"cannot list {self.folder}: {exc.strerror or exc}") from exc
        for entry in entries:
            if not entry.name.endswith(".md"):
                continue
            path = Path(entry.path)
            try:
                info = os.stat(path)  # follows a symlink to what it points at
            except OSError:
                continue  # vanished, or a dangling symlink
            mark = (info.st_mtime_ns, info.st_size)
            if not stat.S_ISREG(info.st_mode):
                self._refuse(path, mark, "is not a regular file")
                continue
            if info.st_size > self.max_bytes:
                self._refuse(
                    path,
                    mark,
                    f"is {info.st_size:,} bytes, over the {self.max_bytes:,}-byte limit",
                )
                continue
            found.append(Candidate(path, mark, info.st_mtime))
        return found

    def _refuse(self, path: Path, mark: Mark, why: str) -> None:
        if self._refused.get(path) != mark:
            self._refused[path] = mark
            log.warning("reports folder: skipped %s: it %s", path, why)

    def _ingest(self, cand: Candidate) -> int:
        """Read (never blocking on a FIFO swapped in meanwhile) and ingest; 1 if it went in."""
        try:
            data = _read_regular(cand.path, self.max_bytes)
        except ReportError as exc:
            log.warning("rejected %s", exc)
            return 0
        try:
            report = decode_report(data, str(cand.path), self.max_bytes)
        except ReportError as exc:
            log.warning("rejected %s", exc)
            return 0  # a bad report counts as seen: the same bytes stay bad
        result = self.store.ingest(report, markdown_text(data), uploaded_by="reports-dir")
        if result.status != "unchanged":
            log.info(describe(result))
        return 1


def _read_regular(path: Path, max_bytes: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReportError("is not a regular file", source=str(path))
        if info.st_size > max_bytes:
            raise ReportTooLarge(
                f"is {info.st_size:,} bytes, over the {max_bytes:,}-byte limit "
                "(DIGESTBOT_MAX_REPORT_BYTES)",
                source=str(path),
            )
        chunks = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            size += len(chunk)
            if size > max_bytes:  # grew while we read
                raise ReportTooLarge(f"grew past {max_bytes:,} bytes", source=str(path))
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
