"""Scheduling: when digests are due, and which gateway makes them.

``weekly`` is the schedule itself (a subscription's day, time and zone, parsed from
``/subscribe`` and turned into APScheduler triggers); ``scheduler`` runs one APScheduler job per
subscription and records due digests through ``bot.store.digests``; ``leader`` elects the one
gateway per database that runs it. Scheduling imports no command module.

Names are exported lazily, so a command that only parses a schedule does not load APScheduler's
job store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.scheduling.leader import LeaderElection
    from bot.scheduling.scheduler import Scheduler, SubscriptionChanges
    from bot.scheduling.weekly import Schedule, ScheduleError, WeeklyTrigger

_EXPORTS = {
    "LeaderElection": "bot.scheduling.leader",
    "Schedule": "bot.scheduling.weekly",
    "ScheduleError": "bot.scheduling.weekly",
    "Scheduler": "bot.scheduling.scheduler",
    "SubscriptionChanges": "bot.scheduling.scheduler",
    "WeeklyTrigger": "bot.scheduling.weekly",
}
__all__ = [
    "LeaderElection",
    "Schedule",
    "ScheduleError",
    "Scheduler",
    "SubscriptionChanges",
    "WeeklyTrigger",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
