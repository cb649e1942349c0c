"""Weekly time arithmetic: parsing ``/subscribe`` arguments, and a schedule's next and last runs.

Pure arithmetic over IANA timezones, so commands can show the next run without a running
scheduler; :mod:`bot.scheduling.scheduler` runs the jobs with the same :class:`WeeklyTrigger`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.cron import CronTrigger

from digests.errors import DigestbotError
from digests.text import echo

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
_DAY_ALIASES = {"tues": "tue", "weds": "wed", "thur": "thu", "thurs": "thu"}
DEFAULT_DAY = "mon"
DEFAULT_TIME = "09:00"
MAX_SIZE = 20
_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?\s*([ap]\.?m\.?)?$", re.I)
_SIZE = re.compile(r"^(?:items|size|n)=(\d{1,3})$", re.I)


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

    def describe(self) -> str:
        return f"every {DAY_NAMES[self.day]} at {self.at_time} ({self.timezone})"


def local_time(when: datetime) -> str:
    """``Tue 3 Mar 2026, 08:30 CST`` for an aware datetime."""
    return f"{when:%a} {when.day} {when:%b %Y, %H:%M} {when.tzname()}"


# -- parsing /subscribe ---------------------------------------------------------------------------


class ScheduleError(DigestbotError, ValueError):
    """A wrong part of a /subscribe command; the message names it and lists the valid choices."""


def parse_day(text: str) -> str:
    word = text.lower().rstrip(".")
    word = _DAY_ALIASES.get(word, word)
    for day, name in DAY_NAMES.items():
        full = name.lower()
        if len(word) >= 3 and (full.startswith(word) or word == full + "s"):
            return day
    raise ScheduleError(
        f"“{echo(text, 30)}” is not a day. Use one of: {', '.join(DAYS)} (or the full names, "
        "e.g. tuesday)."
    )


def parse_time(text: str) -> str:
    match = _TIME.match(text.strip())
    hour = minute = -1
    if match:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if match.group(3):
            if not 1 <= hour <= 12:
                hour = -1
            else:
                hour = hour % 12 + (12 if match.group(3).lower().startswith("p") else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ScheduleError(
            f"“{echo(text, 30)}” is not a time. Use HH:MM on a 24-hour clock, from 00:00 to 23:59, "
            "e.g. 08:30 or 18:00."
        )
    return f"{hour:02d}:{minute:02d}"


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {
        name.lower(): name
        for name in available_timezones()
        if "/" in name or name in ("UTC", "GMT")
    }


def _zone_by_name(text: str) -> str | None:
    zones = _zones()
    name = zones.get(text.lower())
    if name is None:
        cities = [z for low, z in zones.items() if low.rsplit("/", 1)[-1] == text.lower()]
        name = cities[0] if len(cities) == 1 else None
    return name


def parse_timezone(text: str) -> str:
    name = _zone_by_name(text)
    if name is not None:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            name = None
    if name is not None:
        return name
    close = difflib.get_close_matches(text.lower(), list(_zones()), n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(_zones()[c] for c in close)}?" if close else ""
    raise ScheduleError(
        f"“{echo(text, 40)}” is not an IANA timezone.{hint} Use Region/City, e.g. Asia/Shanghai, "
        "Europe/Berlin, America/New_York, or UTC."
    )


@dataclass(frozen=True)
class SubscribeArgs:
    theme: str
    schedule: Schedule
    size: int


def parse_subscribe(
    arg: str, themes: dict[str, str], default_timezone: str, default_size: int
) -> SubscribeArgs:
    """Split ``THEME [DAY] [HH:MM] [TIMEZONE] [items=N]``; parts after the theme in any order."""
    words = arg.split()
    if not words:
        raise ScheduleError(f"Which theme? {theme_choices(themes)}")
    theme = words[0].lower()
    if theme not in themes:
        raise ScheduleError(f"There is no theme “{echo(words[0], 40)}”. {theme_choices(themes)}")
    day = at_time = zone = None
    size = default_size
    for word in words[1:]:
        if (m := _SIZE.match(word)) is not None:
            size = int(m.group(1))
            if not 1 <= size <= MAX_SIZE:
                raise ScheduleError(f"items={size} is out of range: use 1 to {MAX_SIZE} items.")
        elif word[0].isdigit():
            at_time = _once(at_time, "time", parse_time(word))
        elif "/" in word or _zone_by_name(word) is not None:
            zone = _once(zone, "timezone", parse_timezone(word))
        elif _looks_like_day(word):
            day = _once(day, "day", parse_day(word))
        elif day is None and at_time is None and zone is None:
            day = parse_day(word)  # the first unknown word is most likely meant as the day
        else:
            zone = _once(zone, "timezone", parse_timezone(word))
    schedule = Schedule(day or DEFAULT_DAY, at_time or DEFAULT_TIME, zone or default_timezone)
    return SubscribeArgs(theme, schedule, size)


def _looks_like_day(word: str) -> bool:
    try:
        parse_day(word)
    except ScheduleError:
        return False
    return True


def _once(current: str | None, part: str, value: str) -> str:
    if current is not None:
        raise ScheduleError(f"Two {part}s given ({current} and {value}); give one.")
    return value


def theme_choices(themes: dict[str, str]) -> str:
    if not themes:
        return "No report has been ingested yet, so there are no themes."
    listed = ", ".join(f"{slug} ({title})" for slug, title in sorted(themes.items()))
    return f"Themes: {listed}."
