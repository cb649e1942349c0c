"""Reading report files and folders into the store, shared by the CLI, uploads and the watcher."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import digests
from bot.store.store import IngestResult, Store
from digests import Report, ReportError, ReportTooLarge
from digests.cards import kind_count
from digests.words import ENGLISH, Words


def decode_report(data: bytes, source: str, max_bytes: int) -> Report:
    """Parse uploaded bytes, refusing what is too large before parsing."""
    if len(data) > max_bytes:
        raise ReportTooLarge(
            f"is {len(data):,} bytes, over the {max_bytes:,}-byte limit "
            "(DIGESTBOT_MAX_REPORT_BYTES)",
            source=source,
        )
    # Looked up at call time: the parser loads on first use, never for a lookup.
    return digests.parse_report(data, source)


def read_report(path: Path, max_bytes: int) -> tuple[Report, str]:
    """Read and parse one file; returns the report and its text as stored."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ReportTooLarge(
                f"is {size:,} bytes, over the {max_bytes:,}-byte limit (DIGESTBOT_MAX_REPORT_BYTES)",
                source=str(path),
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"cannot be read: {exc.strerror or exc}", source=str(path)) from None
    report = decode_report(data, str(path), max_bytes)
    return report, markdown_text(data)


def markdown_text(data: bytes) -> str:
    """The text we keep of a report (it already parsed, so it decodes)."""
    return data.decode("utf-8-sig", errors="replace")


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    """Files as given; folders as their ``*.md`` files, sorted."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.md") if p.is_file())
        else:
            yield path


@dataclass
class IngestSummary:
    files: int = 0
    stored: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0
    items: Counter[str] = field(default_factory=Counter)

    def add(self, result: IngestResult) -> None:
        self.files += 1
        self.warnings += len(result.warnings)
        self.items.update(result.counts)
        if result.status == "unchanged":
            self.unchanged += 1
        else:
            self.stored += 1

    def line(self) -> str:
        kinds = ", ".join(kind_count(k, n) for k, n in sorted(self.items.items())) or "no items"
        files = "1 file" if self.files == 1 else f"{self.files} files"
        warnings = "1 warning" if self.warnings == 1 else f"{self.warnings} warnings"
        return (
            f"{files} ({self.stored} stored, {self.unchanged} unchanged), {kinds}, "
            f"{warnings}, {self.rejected} rejected"
        )


def describe(result: IngestResult, words: Words = ENGLISH) -> str:
    """One line per ingest: what it added, changed and removed."""
    return _described(result, words) + _samples_gone(result, words)


def _samples_gone(result: IngestResult, words: Words) -> str:
    n = len(result.samples_removed)
    if not n:
        return ""
    return words.ngettext(
        " (the sample report {months} is removed: real reports replace the samples)",
        " (the sample reports {months} are removed: real reports replace the samples)",
        n,
    ).format(months=words.join(result.samples_removed))


def _described(result: IngestResult, words: Words) -> str:
    if result.status == "unchanged":
        return words.gettext("{source}: {period} unchanged (already ingested)").format(
            source=result.source, period=result.period
        )

    def per_kind(items: list[str]) -> str:
        counts = Counter(items)
        return words.join(kind_count(k, n, words) for k, n in sorted(counts.items())) or "0"

    added = per_kind([i.kind.value for i in result.added])
    changed = per_kind([i.kind.value for i in result.changed])
    removed = per_kind([k for k, _ in result.removed])
    if result.status == "new":
        verb = words.gettext("new month")
    elif result.status == "reparsed":
        verb = words.gettext("re-derived")
    else:
        verb = words.gettext("new version")
    n = len(result.warnings)
    warnings = words.ngettext("{n} warning", "{n} warnings", n).format(n=n)
    return words.gettext(
        "{source}: {period} {verb}: added {added}; changed {changed}; removed {removed}; {warnings}"
    ).format(
        source=result.source,
        period=result.period,
        verb=verb,
        added=added,
        changed=changed,
        removed=removed,
        warnings=warnings,
    )


def ingest_file(store: Store, path: Path, max_bytes: int, uploaded_by: str) -> IngestResult:
    report, markdown = read_report(path, max_bytes)
    return store.ingest(report, markdown, uploaded_by=uploaded_by)
