"""Weekly time arithmetic: a schedule's next and last runs, and how a time is shown.

Pure arithmetic over IANA timezones, so commands can show the next run without a running
scheduler; :mod:`bot.scheduling.scheduler` runs the jobs with the same :class:`WeeklyTrigger`.
Reading a schedule from ``/subscribe`` words is :mod:`bot.commands.subscribe_args`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.i18n import Translator, translator

if TYPE_CHECKING:
    from bot.store.models import SubscriptionRow

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)


# -- the schedule ---------------------------------------------------------------------------------


class WeeklyTrigger(CronTrigger):
    """A CronTrigger that fires once per week even when clocks go back.

    APScheduler 3.11 fires a wall-clock time in the repeated hour twice (fold 0 and fold 1). The
    second occurrence is skipped here; a time in the hour skipped when clocks go forward fires once,
    an hour later in local terms, which CronTrigger already does.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None and _second_of_two(fire):
            fire = super().get_next_fire_time(fire, fire)
        return fire


def _second_of_two(when: datetime) -> bool:
    return when.fold == 1 and when.replace(fold=0).utcoffset() != when.utcoffset()


@dataclass(frozen=True)
class Schedule:
    """A weekly time: ``day`` is ``mon``…``sun``, ``at_time`` is ``HH:MM``, ``timezone`` IANA."""

    day: str
    at_time: str
    timezone: str

    @classmethod
    def of(cls, sub: SubscriptionRow) -> Schedule:
        return cls(sub.day, sub.at_time, sub.timezone)

    def trigger(self) -> WeeklyTrigger:
        hour, minute = (int(x) for x in self.at_time.split(":"))
        return WeeklyTrigger(
            day_of_week=self.day, hour=hour, minute=minute, timezone=ZoneInfo(self.timezone)
        )

    def next_run(self, now: datetime) -> datetime:
        """The first run at or after ``now``, in the schedule's timezone."""
        fire = self.trigger().get_next_fire_time(None, now)
        assert fire is not None  # a weekly cron without end date always has a next time
        return fire

    def last_run(self, now: datetime) -> datetime:
        """The latest run at or before ``now``: the one a job firing (late) at ``now`` is for."""
        trigger = self.trigger()
        fire = trigger.get_next_fire_time(None, now - timedelta(days=8))
        assert fire is not None
        while True:
            following = trigger.get_next_fire_time(fire, fire)
            if following is None or following > now:
                return fire
            fire = following

    def describe(self, words: Translator | None = None) -> str:
        """``every Monday at 09:00 (Asia/Shanghai)``, or ``每周星期一 09:00（Asia/Shanghai）``."""
        words = words or translator()
        return words.gettext("every {day} at {time} ({zone})").format(
            day=words.weekday(self.day), time=self.at_time, zone=zone_label(self.timezone)
        )


def zone_label(zone: str) -> str:
    """A zone as people write it: ``Etc/GMT-8`` (a fixed offset) is shown as ``UTC+8``."""
    match = re.fullmatch(r"Etc/GMT([+-])(\d{1,2})", zone)
    if match is None:
        return zone
    sign = "-" if match.group(1) == "+" else "+"  # POSIX signs: Etc/GMT-8 is eight hours ahead
    return f"UTC{sign}{int(match.group(2))}"


def local_time(when: datetime, words: Translator | None = None) -> str:
    """``Tue 3 Mar 2026, 08:30 CST`` for an aware datetime, in the reader's language."""
    return (words or translator()).moment(when)
