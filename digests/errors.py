"""The errors digestbot raises, as one tree.

    DigestbotError
    ├── ReportError          a report that cannot be accepted at all (line number when known)
    │   └── ReportTooLarge   a report over the size limit
    └── NotFound (LookupError)   a lookup that found nothing

Every message is one line that says what was wrong and what to do.
"""

from __future__ import annotations


class DigestbotError(Exception):
    """Base of every error digestbot raises on purpose."""


class ReportError(DigestbotError):
    """A report that cannot be accepted: not text, broken front matter, no items."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        where = source
        if line is not None:
            where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class ReportTooLarge(ReportError):
    """A report over the configured size limit."""


class NotFound(DigestbotError, LookupError):
    """A lookup that found nothing."""
