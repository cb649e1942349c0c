"""The one clock helper: aware UTC now, and the check that a datetime is aware."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: What parts take when they need the time; tests pass a fixed one.
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def require_aware(when: datetime, what: str = "times") -> None:
    """Raise ValueError for a naive datetime (every time in digestbot carries its zone)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
