"""A refused webhook request: its answer, and a log that a flood of them cannot fill.

Every platform's unauthenticated route (Slack's events, Lark's callbacks) answers what it
refuses with a short 4xx naming the kind of refusal, never an internal error's text, and logs
each kind at most once per :data:`LOG_EVERY_SECONDS`, counting the rest, never with a traceback.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

LOG_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class Refusal:
    """A request answered ``status`` without reaching the SDK; ``kind`` says why, in the log."""

    status: int
    kind: str


class RefusalLog:
    """One warning per kind of refusal per ``every`` seconds, on ``log``, counting the rest."""

    def __init__(self, platform: str, log: logging.Logger, every: float = LOG_EVERY_SECONDS):
        self._platform = platform
        self._log = log
        self._every = every
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def refused(self, refusal: Refusal) -> None:
        now = time.monotonic()
        last = self._last.get(refusal.kind)
        if last is not None and now - last < self._every:
            self._quiet[refusal.kind] = self._quiet.get(refusal.kind, 0) + 1
            return
        self._last[refusal.kind] = now
        quiet = self._quiet.pop(refusal.kind, 0)
        more = f" (and {quiet} more since the last such line)" if quiet else ""
        self._log.warning(
            "%s: refused a request (%d): %s%s", self._platform, refusal.status, refusal.kind, more
        )


__all__ = ["LOG_EVERY_SECONDS", "Refusal", "RefusalLog"]
