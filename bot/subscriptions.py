"""Subscriptions: /subscribe, /unsubscribe, /subscriptions, /digest, and the queries they need.

A subscription is (platform, chat, theme, weekly day and time, IANA timezone, size). The schedule
arithmetic lives here too (:class:`Schedule`, :class:`WeeklyTrigger`), so the commands can show the
next run without a running scheduler; ``bot.scheduler`` runs the jobs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from bot.commands import Request, command, echo
from bot.db import dialect_insert
from bot.models import Chat, Delivery, ItemRow, Subscription
from bot.queue import pending_item_ids
from bot.store import Store
from digests.compose import Candidate, Digest, compose_digest
from digests.items import Item
from digests.message import BulletList, Context, Heading, Message, Paragraph, Span

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
    def of(cls, sub: Subscription) -> Schedule:
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


class ScheduleError(ValueError):
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
        raise ScheduleError(f"Which theme? {_theme_choices(themes)}")
    theme = words[0].lower()
    if theme not in themes:
        raise ScheduleError(f"There is no theme “{echo(words[0], 40)}”. {_theme_choices(themes)}")
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


def _theme_choices(themes: dict[str, str]) -> str:
    if not themes:
        return "No report has been ingested yet, so there are no themes."
    listed = ", ".join(f"{slug} ({title})" for slug, title in sorted(themes.items()))
    return f"Themes: {listed}."


# -- queries --------------------------------------------------------------------------------------


def known_themes(conn: Connection) -> dict[str, str]:
    """Theme slug -> title, over the current items of every report."""
    rows = conn.execute(
        select(ItemRow.theme, func.max(ItemRow.theme_title))
        .where(ItemRow.removed.is_(False))
        .group_by(ItemRow.theme)
    ).all()
    return {slug: title for slug, title in rows}


def theme_candidates(conn: Connection, theme: str) -> list[Candidate]:
    """The current (not removed) items of a theme, from every report."""
    rows = conn.execute(
        select(ItemRow.id, ItemRow.data).where(ItemRow.theme == theme, ItemRow.removed.is_(False))
    ).all()
    return [Candidate(row.id, Item.from_dict(row.data)) for row in rows]


def delivered_ids(conn: Connection, platform: str, chat_id: str) -> set[int]:
    """Items the chat has been sent."""
    return set(
        conn.execute(
            select(Delivery.item_id).where(
                Delivery.platform == platform, Delivery.chat_id == chat_id
            )
        ).scalars()
    )


def taken_ids(conn: Connection, platform: str, chat_id: str) -> set[int]:
    """Items the chat has been sent or has queued: the next digest must skip them."""
    return delivered_ids(conn, platform, chat_id) | pending_item_ids(conn, platform, chat_id)


def next_digest(
    conn: Connection, platform: str, chat_id: str, theme: str, size: int, when: datetime
) -> Digest | None:
    """The digest a run at ``when`` would make for the chat, without recording anything."""
    candidates = theme_candidates(conn, theme)
    return compose_digest(candidates, taken_ids(conn, platform, chat_id), size, when=when)


def chat_subscriptions(store: Store, platform: str, chat_id: str) -> list[Subscription]:
    with Session(store.engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                select(Subscription)
                .where(
                    Subscription.platform == platform,
                    Subscription.chat_id == chat_id,
                    Subscription.active.is_(True),
                )
                .order_by(Subscription.theme)
            )
        )


def all_subscriptions(store: Store, *, active_only: bool = True) -> list[Subscription]:
    query = select(Subscription).order_by(
        Subscription.platform, Subscription.chat_id, Subscription.theme
    )
    if active_only:
        query = query.where(Subscription.active.is_(True))
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(query))


def save_subscription(
    store: Store,
    *,
    platform: str,
    chat_id: str,
    chat_kind: str,
    theme: str,
    schedule: Schedule,
    size: int,
    created_by: str,
    now: datetime,
) -> tuple[Subscription, bool]:
    """Create or update (and reactivate) the chat's subscription to ``theme``.

    Returns it with True when it is new (or was inactive).
    """
    with store.engine.begin() as conn:
        insert = dialect_insert(conn)
        before = conn.execute(
            select(Subscription.active).where(
                Subscription.platform == platform,
                Subscription.chat_id == chat_id,
                Subscription.theme == theme,
            )
        ).scalar()
        schedule_values = {
            "day": schedule.day,
            "at_time": schedule.at_time,
            "timezone": schedule.timezone,
            "size": size,
            "active": True,
            "deactivated_reason": None,
        }
        stmt = insert(Subscription).values(
            platform=platform,
            chat_id=chat_id,
            theme=theme,
            created_by=created_by[:100],
            created_at=now,
            **schedule_values,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["platform", "chat_id", "theme"], set_=schedule_values
            )
        )
        chat = insert(Chat).values(
            platform=platform,
            chat_id=chat_id,
            kind=chat_kind[:20],
            active=True,
            gone_reason=None,
            updated_at=now,
        )
        chat_update: dict[str, object] = {"active": True, "gone_reason": None, "updated_at": now}
        if chat_kind:
            chat_update["kind"] = chat_kind[:20]
        conn.execute(
            chat.on_conflict_do_update(index_elements=["platform", "chat_id"], set_=chat_update)
        )
    with Session(store.engine, expire_on_commit=False) as session:
        sub = session.scalars(
            select(Subscription).where(
                Subscription.platform == platform,
                Subscription.chat_id == chat_id,
                Subscription.theme == theme,
            )
        ).one()
    return sub, not before


def deactivate(
    store: Store, platform: str, chat_id: str, theme: str | None, reason: str
) -> list[str]:
    """Turn off the chat's subscription to ``theme`` (all when None); returns the themes."""
    with store.engine.begin() as conn:
        where = [
            Subscription.platform == platform,
            Subscription.chat_id == chat_id,
            Subscription.active.is_(True),
        ]
        if theme is not None:
            where.append(Subscription.theme == theme)
        themes = list(conn.execute(select(Subscription.theme).where(*where)).scalars())
        if themes:
            conn.execute(
                update(Subscription)
                .where(*where)
                .values(active=False, deactivated_reason=reason[:300])
            )
    return sorted(themes)


# -- commands -------------------------------------------------------------------------------------


def _changed(request: Request) -> None:
    notify = request.services.subscriptions_changed
    if notify is not None:
        notify()


def _themes(request: Request) -> dict[str, str]:
    with request.services.store.engine.connect() as conn:
        return known_themes(conn)


@command(
    "subscribe",
    usage="/subscribe THEME [DAY] [HH:MM] [TIMEZONE]",
    example="/subscribe clay mon 09:00 Asia/Shanghai",
    needs_arg=True,
    manages_chat=True,
    description="a weekly digest of a theme in this chat (default Monday 09:00, 5 items; items=N)",
)
def subscribe_command(request: Request) -> Message:
    services = request.services
    themes = _themes(request)
    try:
        args = parse_subscribe(request.arg, themes, services.timezone, services.digest_size)
    except ScheduleError as exc:
        return Message.text(
            str(exc),
            "Usage: /subscribe THEME [DAY] [HH:MM] [TIMEZONE], "
            "e.g. /subscribe clay tue 08:30 Asia/Shanghai",
        )
    now = services.clock()
    sub, created = save_subscription(
        services.store,
        platform=request.platform,
        chat_id=request.chat_id,
        chat_kind=request.chat_kind,
        theme=args.theme,
        schedule=args.schedule,
        size=args.size,
        created_by=f"{request.platform}:{request.user_id}",
        now=now,
    )
    _changed(request)
    title = themes[args.theme]
    verb = "Subscribed this chat to" if created else "Updated this chat's subscription to"
    return Message(
        (
            Paragraph(
                (
                    Span(f"{verb} "),
                    Span(title, bold=True),
                    Span(f": {sub.size} items {args.schedule.describe()}."),
                )
            ),
            Paragraph(
                (Span("Next digest: "), Span(local_time(args.schedule.next_run(now)), bold=True))
            ),
            Context(
                (
                    Span("Preview it now: "),
                    Span(f"/digest {args.theme}", code=True),
                    Span(" · stop: "),
                    Span(f"/unsubscribe {args.theme}", code=True),
                )
            ),
        )
    )


@command(
    "unsubscribe",
    usage="/unsubscribe THEME|all",
    example="/unsubscribe clay",
    needs_arg=True,
    manages_chat=True,
    description="stop a weekly digest in this chat",
)
def unsubscribe_command(request: Request) -> Message:
    target = request.arg.split()[0].lower()
    theme = None if target == "all" else target
    who = f"unsubscribed by {request.platform}:{request.user_id}"
    done = deactivate(request.services.store, request.platform, request.chat_id, theme, who)
    if done:
        _changed(request)
        return Message.text(
            f"Unsubscribed this chat from {', '.join(done)}. "
            "Items already sent stay sent; subscribe again any time."
        )
    current = [
        s.theme
        for s in chat_subscriptions(request.services.store, request.platform, request.chat_id)
    ]
    if not current:
        return Message.text("This chat has no subscriptions. See /themes to start one.")
    return Message.text(
        f"This chat is not subscribed to “{echo(target, 40)}”. "
        f"Its subscriptions: {', '.join(current)} — or use /unsubscribe all."
    )


@command(
    "subscriptions",
    usage="/subscriptions",
    example="/subscriptions",
    description="this chat's subscriptions and their next runs",
)
def subscriptions_command(request: Request) -> Message:
    subs = chat_subscriptions(request.services.store, request.platform, request.chat_id)
    if not subs:
        return Message.text(
            "This chat has no subscriptions. Start one with /subscribe THEME, "
            "e.g. /subscribe clay mon 09:00 — /themes lists the themes."
        )
    themes = _themes(request)
    now = request.services.clock()
    bullets = tuple(
        (
            Span(s.theme, code=True),
            Span(
                f" — {themes.get(s.theme, s.theme)}: {s.size} items "
                f"{Schedule.of(s).describe()}. Next: "
            ),
            Span(local_time(Schedule.of(s).next_run(now)), bold=True),
        )
        for s in subs
    )
    return Message(
        (
            Heading("Subscriptions in this chat"),
            BulletList(bullets),
            Context(
                (
                    Span("Change one by subscribing again; stop with "),
                    Span("/unsubscribe THEME", code=True),
                )
            ),
        )
    )


@command(
    "digest",
    usage="/digest THEME",
    example="/digest clay",
    needs_arg=True,
    description="preview this chat's next digest of a theme (it still comes)",
)
def digest_command(request: Request) -> Message:
    services = request.services
    theme = request.arg.split()[0].lower()
    return preview(
        services.store,
        request.platform,
        request.chat_id,
        theme,
        default_size=services.digest_size,
        default_timezone=services.timezone,
        now=services.clock(),
    )


def preview(
    store: Store,
    platform: str,
    chat_id: str,
    theme: str,
    *,
    default_size: int,
    default_timezone: str,
    now: datetime,
) -> Message:
    """The chat's next digest of ``theme`` as it would be sent, without using it up."""
    with store.engine.connect() as conn:
        themes = known_themes(conn)
        if theme not in themes:
            return Message.text(f"There is no theme “{echo(theme, 40)}”. {_theme_choices(themes)}")
        sub = conn.execute(
            select(Subscription.size, Subscription.timezone).where(
                Subscription.platform == platform,
                Subscription.chat_id == chat_id,
                Subscription.theme == theme,
                Subscription.active.is_(True),
            )
        ).first()
        size = sub.size if sub is not None else default_size
        zone = ZoneInfo(sub.timezone if sub is not None else default_timezone)
        digest = next_digest(conn, platform, chat_id, theme, size, now.astimezone(zone))
    if digest is None:
        return Message.text(
            f"Nothing new in {themes[theme]} for this chat: it has had every item."
            " New items arrive with the next monthly report."
        )
    note = (
        "Preview: these items still come in this chat's next weekly digest."
        if sub is not None
        else f"Preview. Get it weekly: /subscribe {theme} mon 09:00"
    )
    return Message(
        (*digest.message.blocks, Context((Span(note, italic=True),))),
        link_preview=False,
        tags=(*digest.message.tags, "preview"),
    )


def subscription_lines(subs: Sequence[Subscription], now: datetime) -> list[str]:
    """One line per subscription with its next run in its own timezone (for the CLI)."""
    lines = []
    for s in subs:
        schedule = Schedule.of(s)
        state = (
            f"next {local_time(schedule.next_run(now))}"
            if s.active
            else f"inactive: {s.deactivated_reason or 'no reason recorded'}"
        )
        lines.append(
            f"#{s.id} {s.platform}:{s.chat_id} {s.theme} — {s.size} items "
            f"{schedule.describe()} — {state}"
        )
    return lines
