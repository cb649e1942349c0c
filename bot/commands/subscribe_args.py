"""What a ``/subscribe`` names: its theme, day, time, timezone and size, read from its words.

``THEME [DAY] [HH:MM] [TIMEZONE] [items=N]``, the parts after the theme in any order, in English
or Chinese (``周一 21点 北京时间``). A part that cannot be understood raises :class:`ScheduleError`
with one line naming it and the valid choices. The schedule arithmetic is
:mod:`bot.scheduling.weekly`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.i18n import Translator, translator
from bot.scheduling.weekly import DAY_NAMES, DAYS, Schedule
from digests.errors import DigestbotError
from digests.text import echo, normalize_name

_DAY_ALIASES = {"tues": "tue", "weds": "wed", "thur": "thu", "thurs": "thu"}
DEFAULT_DAY = "mon"
DEFAULT_TIME = "09:00"
MAX_SIZE = 20
_TIME = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?\s*([ap]\.?m\.?)?$", re.I)
_SIZE = re.compile(r"^(?:items|size|n)=(\d{1,3})$", re.I)


class ScheduleError(DigestbotError, ValueError):
    """A wrong part of a /subscribe command; the message names it and lists the valid choices."""


_ZH_DAYS = dict(zip("一二三四五六日", DAYS, strict=True)) | {"天": "sun", "七": "sun"}
_ZH_DAY = re.compile(r"^(?:每)?(?:周|星期|礼拜)([一二三四五六日天七])$")
# A Chinese weekday glued to what follows (周一21点) is split off before the words are read.
_ZH_DAY_GLUED = re.compile(r"((?:每)?(?:周|星期|礼拜)[一二三四五六日天七])")
_ZH_TIME = re.compile(
    r"^(?P<part>上午|早上|早晨|清晨|凌晨|中午|午后|下午|傍晚|晚上|夜里|夜间)?"
    r"(?P<hour>\d{1,2})(?:(?:点钟|[点时])(?P<minute>\d{1,2}|半|整)?分?)?$"
)
_AFTERNOON = ("午后", "下午", "傍晚", "晚上", "夜里", "夜间")
_OFFSET = re.compile(r"^(?:utc|gmt)?([+-])(\d{1,2})(?::?(\d{2}))?$", re.I)
#: Offsets that are not whole hours have no Etc/GMT zone: the usual zone for each.
_ODD_OFFSETS = {
    "+03:30": "Asia/Tehran",
    "+04:30": "Asia/Kabul",
    "+05:30": "Asia/Kolkata",
    "+05:45": "Asia/Kathmandu",
    "+06:30": "Asia/Yangon",
    "+08:45": "Australia/Eucla",
    "+09:30": "Australia/Darwin",
    "+10:30": "Australia/Lord_Howe",
    "+12:45": "Pacific/Chatham",
    "-03:30": "America/St_Johns",
    "-09:30": "Pacific/Marquesas",
}
#: Names people use for a zone that are not IANA names.
_COMMON_ZONES = {
    "北京时间": "Asia/Shanghai",
    "北京": "Asia/Shanghai",
    "中国时间": "Asia/Shanghai",
    "中国": "Asia/Shanghai",
    "上海": "Asia/Shanghai",
    "beijing": "Asia/Shanghai",
    "china": "Asia/Shanghai",
    "bjt": "Asia/Shanghai",
    "香港时间": "Asia/Hong_Kong",
    "香港": "Asia/Hong_Kong",
    "hkt": "Asia/Hong_Kong",
    "台北时间": "Asia/Taipei",
    "台北": "Asia/Taipei",
    "东京时间": "Asia/Tokyo",
    "日本时间": "Asia/Tokyo",
    "东京": "Asia/Tokyo",
    "jst": "Asia/Tokyo",
    "首尔时间": "Asia/Seoul",
    "韩国时间": "Asia/Seoul",
    "kst": "Asia/Seoul",
    "新加坡时间": "Asia/Singapore",
    "新加坡": "Asia/Singapore",
    "sgt": "Asia/Singapore",
    "印度时间": "Asia/Kolkata",
    "ist": "Asia/Kolkata",
    "伦敦时间": "Europe/London",
    "英国时间": "Europe/London",
    "伦敦": "Europe/London",
    "bst": "Europe/London",
    "柏林时间": "Europe/Berlin",
    "巴黎时间": "Europe/Paris",
    "cet": "Europe/Berlin",
    "cest": "Europe/Berlin",
    "纽约时间": "America/New_York",
    "美东时间": "America/New_York",
    "美国东部时间": "America/New_York",
    "est": "America/New_York",
    "edt": "America/New_York",
    "美西时间": "America/Los_Angeles",
    "太平洋时间": "America/Los_Angeles",
    "美国西部时间": "America/Los_Angeles",
    "硅谷时间": "America/Los_Angeles",
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
    "协调世界时": "UTC",
    "世界时": "UTC",
}


def _not_a_day(text: str, words: Translator) -> ScheduleError:
    return ScheduleError(
        words.gettext(
            "“{value}” is not a day. Use one of: {days} (or the full names, e.g. tuesday, "
            "or 周一…周日)."
        ).format(value=echo(text, 30), days=", ".join(DAYS))
    )


def parse_day(text: str, words: Translator | None = None) -> str:
    """``mon``…``sun`` from ``Mon``, ``tuesday``, ``Thurs``, ``周一``, ``星期天``, ``礼拜三``."""
    words = words or translator()
    zh = _ZH_DAY.match(text.strip())
    if zh is not None:
        return _ZH_DAYS[zh.group(1)]
    word = text.lower().rstrip(".")
    word = _DAY_ALIASES.get(word, word)
    for day, name in DAY_NAMES.items():
        full = name.lower()
        if len(word) >= 3 and (full.startswith(word) or word == full + "s"):
            return day
    raise _not_a_day(text, words)


def parse_time(text: str, words: Translator | None = None) -> str:
    """``HH:MM`` from ``21:00``, ``9pm``, ``6:15pm``, ``18.45``, ``21点``, ``上午9点``, ``9点半``."""
    words = words or translator()
    hour = minute = -1
    match = _TIME.match(text.strip())
    zh = _ZH_TIME.match(text.strip()) if match is None else None
    if match:
        hour, minute = int(match.group(1)), int(match.group(2) or 0)
        if match.group(3):
            if not 1 <= hour <= 12:
                hour = -1
            else:
                hour = hour % 12 + (12 if match.group(3).lower().startswith("p") else 0)
    elif zh and (zh.group("part") or zh.group("minute") or not text.strip().isdigit()):
        hour = int(zh.group("hour"))
        raw_minute = zh.group("minute") or "0"
        minute = 30 if raw_minute == "半" else 0 if raw_minute == "整" else int(raw_minute)
        part = zh.group("part")
        if (part in _AFTERNOON and 1 <= hour < 12) or (part == "中午" and 1 <= hour < 6):
            hour += 12
        elif part == "凌晨" and hour == 12:
            hour = 0
        elif part and hour > 12 and part not in _AFTERNOON:
            hour = -1  # 上午15点 says two different things
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ScheduleError(
            words.gettext(
                "“{value}” is not a time. Use HH:MM on a 24-hour clock, from 00:00 to 23:59, "
                "e.g. 08:30, 18:00, 9pm or 21点."
            ).format(value=echo(text, 30))
        )
    return f"{hour:02d}:{minute:02d}"


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {
        name.lower(): name
        for name in available_timezones()
        if "/" in name or name in ("UTC", "GMT")
    }


def _offset_zone(text: str) -> str | None:
    """``UTC+8``, ``GMT+08:00``, ``+08:00``, ``-5`` as a zone (Etc/GMT-8 is UTC+8)."""
    match = _OFFSET.match(text.strip())
    if match is None:
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if minutes:
        return _ODD_OFFSETS.get(f"{sign}{hours:02d}:{minutes:02d}")
    if hours == 0:
        return "UTC"
    if (sign == "+" and hours > 14) or (sign == "-" and hours > 12):
        return None
    return f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"


def _zone_by_name(text: str) -> str | None:
    low = text.lower()
    common = _COMMON_ZONES.get(low) or _offset_zone(text)
    if common is not None:
        return common
    zones = _zones()
    name = zones.get(low)
    if name is None:
        cities = [z for key, z in zones.items() if key.rsplit("/", 1)[-1] == low]
        name = cities[0] if len(cities) == 1 else None
    return name


def parse_timezone(text: str, words: Translator | None = None) -> str:
    """An IANA zone from its name, its city, an offset (``UTC+8``) or a common name (北京时间)."""
    words = words or translator()
    name = _zone_by_name(text)
    if name is not None:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            name = None
    if name is not None:
        return name
    close = difflib.get_close_matches(text.lower(), list(_zones()), n=3, cutoff=0.6)
    hint = (
        words.gettext(" Did you mean {zones}?").format(zones=", ".join(_zones()[c] for c in close))
        if close
        else ""
    )
    raise ScheduleError(
        words.gettext(
            "“{value}” is not a timezone.{hint} Use Region/City (Asia/Shanghai, Europe/Berlin, "
            "America/New_York), an offset such as UTC+8, or UTC."
        ).format(value=echo(text, 40), hint=hint)
    )


@dataclass(frozen=True)
class SubscribeArgs:
    """What a ``/subscribe`` names; ``None`` for each part it leaves as it was."""

    theme: str
    day: str | None = None
    at_time: str | None = None
    timezone: str | None = None
    items: int | None = None
    default_timezone: str = "UTC"
    default_size: int = 5

    @property
    def schedule(self) -> Schedule:
        """The schedule of a new subscription: what was named, defaults for the rest."""
        return self.over(Schedule(DEFAULT_DAY, DEFAULT_TIME, self.default_timezone))

    @property
    def size(self) -> int:
        return self.items if self.items is not None else self.default_size

    def over(self, current: Schedule) -> Schedule:
        """``current`` with the parts this command names changed, the others kept."""
        return Schedule(
            self.day or current.day,
            self.at_time or current.at_time,
            self.timezone or current.timezone,
        )


def theme_names(slug: str, title: str) -> set[str]:
    """Every name a theme answers to: ``clay``, ``基座模型追踪 (The Clay)``, ``基座模型追踪``,
    ``The Clay``, ``Clay`` (folded: case, spaces and punctuation do not matter)."""
    names = {slug, title}
    inside = re.findall(r"[(（]([^()（）]+)[)）]", title)
    outside = re.sub(r"\s*[(（][^()（）]*[)）]\s*", " ", title).strip()
    for name in (*inside, outside):
        names.add(name)
        names.add(re.sub(r"(?i)^the\s+", "", name))
    return {normalize_name(n) for n in names if n.strip()}


def find_theme(words: list[str], themes: dict[str, str]) -> tuple[str, int] | None:
    """The theme the first words name (``clay``, ``The Clay``, ``基座模型追踪``) and how many
    words that took, longest name first; None when they name none."""
    names = {slug: theme_names(slug, title) for slug, title in themes.items()}
    for n in range(min(len(words), 6), 0, -1):
        key = normalize_name("".join(words[:n]))
        found = [slug for slug, known in names.items() if key in known]
        if len(found) == 1:
            return found[0], n
    return None


def split_words(arg: str) -> list[str]:
    """The words of a /subscribe argument: commas and 、 separate, ``9 pm`` is one word, and a
    Chinese weekday glued to a time (``周一21点``) is two."""
    text = _ZH_DAY_GLUED.sub(r" \1 ", arg)
    text = re.sub(r"[,，、;；]", " ", text)
    text = re.sub(r"(?i)(\d)\s+([ap]\.?m\.?)(?=\s|$)", r"\1\2", text)
    return text.split()


def parse_subscribe(
    arg: str,
    themes: dict[str, str],
    default_timezone: str,
    default_size: int,
    words: Translator | None = None,
) -> SubscribeArgs:
    """Split ``THEME [DAY] [HH:MM] [TIMEZONE] [items=N]``; parts after the theme in any order."""
    words = words or translator()
    parts = split_words(arg)
    if not parts:
        raise ScheduleError(
            words.gettext("Which theme? {themes}").format(themes=theme_choices(themes, words))
        )
    if not themes:
        raise ScheduleError(theme_choices(themes, words))
    found = find_theme(parts, themes)
    if found is None:
        raise ScheduleError(
            words.gettext("There is no theme “{value}”. {themes}").format(
                value=echo(parts[0], 40), themes=theme_choices(themes, words)
            )
        )
    theme, used = found
    day = at_time = zone = None
    size = None
    for word in parts[used:]:
        if (m := _SIZE.match(word)) is not None:
            size = int(m.group(1))
            if not 1 <= size <= MAX_SIZE:
                raise ScheduleError(
                    words.gettext("items={n} is out of range: use 1 to {most} items.").format(
                        n=size, most=MAX_SIZE
                    )
                )
        elif _offset_zone(word) is not None or word.lower() in _COMMON_ZONES:
            zone = _once(zone, "timezone", parse_timezone(word, words), words)
        elif word[0].isdigit() or _ZH_TIME.match(word):
            at_time = _once(at_time, "time", parse_time(word, words), words)
        elif "/" in word or _zone_by_name(word) is not None:
            zone = _once(zone, "timezone", parse_timezone(word, words), words)
        elif _looks_like_day(word):
            day = _once(day, "day", parse_day(word, words), words)
        elif day is None and at_time is None and zone is None:
            day = parse_day(word, words)  # the first unknown word is most likely meant as the day
        else:
            zone = _once(zone, "timezone", parse_timezone(word, words), words)
    return SubscribeArgs(theme, day, at_time, zone, size, default_timezone, default_size)


def _looks_like_day(word: str) -> bool:
    try:
        parse_day(word)
    except ScheduleError:
        return False
    return True


def _once(current: str | None, part: str, value: str, words: Translator) -> str:
    if current is not None:
        if part == "day":
            text = words.gettext("Two days given ({first} and {second}); give one.")
        elif part == "time":
            text = words.gettext("Two times given ({first} and {second}); give one.")
        else:
            text = words.gettext("Two timezones given ({first} and {second}); give one.")
        raise ScheduleError(text.format(first=current, second=value))
    return value


def theme_choices(themes: dict[str, str], words: Translator | None = None) -> str:
    words = words or translator()
    if not themes:
        return words.gettext("No report has been ingested yet, so there are no themes.")
    listed = words.join(f"{slug} ({title})" for slug, title in sorted(themes.items()))
    return words.gettext("Themes: {themes}.").format(themes=listed)
