"""Subscriptions: /subscribe, /unsubscribe, /subscriptions, /digest.

A subscription is (platform, chat, theme, weekly day and time, IANA timezone, size). Its table is
:mod:`bot.store.subscriptions`, what a digest holds is :mod:`bot.store.digests`, the schedule
arithmetic is :mod:`bot.scheduling.weekly`; ``bot.scheduling.scheduler`` runs the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.commands.core import Request, command, echo
from bot.scheduling.weekly import (
    Schedule,
    ScheduleError,
    local_time,
    parse_subscribe,
    theme_choices,
)
from bot.store.digests import known_themes, next_digest
from bot.store.models import SubscriptionRow
from bot.store.reports import Store
from bot.store.subscriptions import (
    active_subscription,
    chat_subscriptions,
    deactivate,
    save_subscription,
)
from digests.message import BulletList, Context, Heading, Message, Paragraph, Span


def _chat_subscriptions(request: Request) -> list[SubscriptionRow]:
    with request.services.store.engine.connect() as conn:
        return chat_subscriptions(conn, request.platform, request.chat_id)


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
    with services.store.engine.begin() as conn:
        sub, created = save_subscription(
            conn,
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
    with request.services.store.engine.begin() as conn:
        done = deactivate(conn, request.platform, request.chat_id, theme, who)
    if done:
        _changed(request)
        return Message.text(
            f"Unsubscribed this chat from {', '.join(done)}. "
            "Items already sent stay sent; subscribe again any time."
        )
    current = [s.theme for s in _chat_subscriptions(request)]
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
    subs = _chat_subscriptions(request)
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
        web_url=services.web.theme_url if services.web is not None else None,
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
    web_url: Callable[[str], str] | None = None,
) -> Message:
    """The chat's next digest of ``theme`` as it would be sent, without using it up."""
    with store.engine.connect() as conn:
        themes = known_themes(conn)
        if theme not in themes:
            return Message.text(f"There is no theme “{echo(theme, 40)}”. {theme_choices(themes)}")
        sub = active_subscription(conn, platform, chat_id, theme)
        size = sub.size if sub is not None else default_size
        zone = ZoneInfo(sub.timezone if sub is not None else default_timezone)
        digest = next_digest(
            conn, platform, chat_id, theme, size, now.astimezone(zone), web_url=web_url
        )
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
        web_url=digest.message.web_url,
    )


def subscription_lines(subs: Sequence[SubscriptionRow], now: datetime) -> list[str]:
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
