"""Subscriptions: /subscribe, /unsubscribe, /subscriptions, /digest.

A subscription is (platform, chat, theme, weekly day and time, IANA timezone, size). Its table is
:mod:`bot.store.subscriptions`, what a digest holds is :mod:`bot.store.digests`, the words of a
``/subscribe`` are read by :mod:`bot.commands.subscribe_args`, the schedule arithmetic is
:mod:`bot.scheduling.weekly`; ``bot.scheduling.scheduler`` runs the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.commands.buttons import choices
from bot.commands.core import Request, command, echo
from bot.commands.language import sender_language
from bot.commands.subscribe_args import (
    ScheduleError,
    find_theme,
    parse_subscribe,
    split_words,
    theme_choices,
)
from bot.i18n import N_, Translator, translator
from bot.scheduling.weekly import Schedule, local_time, zone_label
from bot.store.digests import known_themes, next_digest
from bot.store.languages import record_setup
from bot.store.models import SubscriptionRow
from bot.store.store import Store
from bot.store.subscriptions import (
    active_subscription,
    any_subscription,
    chat_subscriptions,
    deactivate,
    save_subscription,
)
from digests import cards
from digests.message import (
    Actions,
    BulletList,
    Button,
    Context,
    Heading,
    Message,
    Paragraph,
    Span,
    command_span,
)


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


def _existing(store: Store, platform: str, chat_id: str, theme: str) -> SubscriptionRow | None:
    """The chat's subscription to ``theme``, active or not."""
    with store.engine.connect() as conn:
        return any_subscription(conn, platform, chat_id, theme)


def _changes(request: Request, before: SubscriptionRow, schedule: Schedule, size: int) -> list[str]:
    """``time 09:00 → 21:00``: one phrase per part a re-subscription changed."""
    words = request.words
    old = Schedule.of(before)
    out = []
    if old.day != schedule.day:
        out.append(
            request._("day {old} → {new}").format(
                old=words.weekday(old.day), new=words.weekday(schedule.day)
            )
        )
    if old.at_time != schedule.at_time:
        out.append(request._("time {old} → {new}").format(old=old.at_time, new=schedule.at_time))
    if old.timezone != schedule.timezone:
        out.append(
            request._("timezone {old} → {new}").format(
                old=zone_label(old.timezone), new=zone_label(schedule.timezone)
            )
        )
    if before.size != size:
        out.append(request._("items {old} → {new}").format(old=before.size, new=size))
    return out


def _items(request: Request, n: int) -> str:
    return request.ngettext("{n} item", "{n} items", n).format(n=request.words.number(n))


SUBSCRIBE_USAGE = N_("/subscribe THEME [DAY] [HH:MM] [TIMEZONE] [items=N]")


@command(
    "subscribe",
    usage=SUBSCRIBE_USAGE,
    example="/subscribe clay mon 09:00 Asia/Shanghai",
    needs_arg=True,
    manages_chat=True,
    description=N_(
        "a weekly digest of a theme in this chat (default Monday 09:00, 5 items); "
        "again to change one part"
    ),
)
def subscribe_command(request: Request) -> Message:
    services = request.services
    themes = _themes(request)
    try:
        args = parse_subscribe(
            request.arg, themes, services.timezone, services.digest_size, request.words
        )
    except ScheduleError as exc:
        return Message.text(
            str(exc),
            request._("Usage: {usage}, e.g. {first} or {second}").format(
                usage=request.typed(request._(SUBSCRIBE_USAGE)),
                first=request.typed("/subscribe clay tue 08:30 Asia/Shanghai"),
                second=request.typed("/subscribe clay 周二 21点 北京时间"),
            ),
        )
    now = services.clock()
    existing = _existing(services.store, request.platform, request.chat_id, args.theme)
    # Subscribing again changes only what this command names; the rest stays as it was. After
    # /unsubscribe it starts afresh: what it does not name is the default, not the old schedule.
    before = existing if existing is not None and existing.active else None
    schedule = args.over(Schedule.of(before)) if before is not None else args.schedule
    size = args.items if args.items is not None else (before.size if before else args.size)
    with services.store.engine.begin() as conn:
        sub, created = save_subscription(
            conn,
            platform=request.platform,
            chat_id=request.chat_id,
            chat_kind=request.chat_kind,
            theme=args.theme,
            schedule=schedule,
            size=size,
            created_by=f"{request.platform}:{request.user_id}",
            now=now,
        )
    language = sender_language(request)
    if language is not None:
        record_setup(
            services.store.engine,
            request.platform,
            request.chat_id,
            language,
            set_by=f"{request.platform}:{request.user_id}",
            now=now,
        )
    _changed(request)
    title = cards.theme_label(themes[args.theme], request.words)
    what = request._("{items} {schedule}").format(
        items=_items(request, sub.size), schedule=schedule.describe(request.words)
    )
    if existing is not None and before is None:
        named = (args.day, args.at_time, args.timezone, args.items)
        if all(part is not None for part in named):
            head = request._("Subscribed this chat to {title} again: {what}.")
        else:
            head = request._(
                "Subscribed this chat to {title} again: {what}. What you did not name is the "
                "default, not the schedule it had before."
            )
        summary = head.format(title=title, what=what)
    elif created or before is None:
        head = request._("Subscribed this chat to {title}: {what}.")
        summary = head.format(title=title, what=what)
    else:
        changes = _changes(request, before, schedule, size)
        if changes:
            summary = request._("Changed this chat's {title}: {changes}. Now {what}.").format(
                title=title, changes=request.words.join(changes), what=what
            )
        else:
            summary = request._("Nothing changed: this chat already gets {title}, {what}.").format(
                title=title, what=what
            )
    return Message(
        (
            Paragraph((Span(summary),)),
            Paragraph(
                (
                    Span(request._("Next digest: ")),
                    Span(local_time(schedule.next_run(now), request.words), bold=True),
                )
            ),
            Context(
                (
                    Span(request._("Preview it now: ")),
                    command_span(f"/digest {args.theme}"),
                    Span(request._(" · stop: ")),
                    command_span(f"/unsubscribe {args.theme}"),
                )
            ),
            Actions(
                (
                    Button(request._("Preview"), f"/digest {args.theme}", "primary"),
                    Button(request._("Unsubscribe"), f"/unsubscribe {args.theme}", "danger"),
                )
            ),
        )
    )


def _theme_arg(request: Request, themes: dict[str, str]) -> str:
    """The theme slug the argument names (by key, title or Chinese name), else the first word."""
    words = split_words(request.arg)
    found = find_theme(words, themes)
    return found[0] if found is not None else (words[0].lower() if words else "")


@command(
    "unsubscribe",
    usage=N_("/unsubscribe THEME|all"),
    example="/unsubscribe clay",
    needs_arg=True,
    manages_chat=True,
    description=N_("stop a weekly digest in this chat"),
)
def unsubscribe_command(request: Request) -> Message:
    first = request.arg.split()[0].lower()
    theme = None if first in ("all", "全部", "所有") else _theme_arg(request, _themes(request))
    who = f"unsubscribed by {request.platform}:{request.user_id}"
    with request.services.store.engine.begin() as conn:
        done = deactivate(conn, request.platform, request.chat_id, theme, who)
    if done:
        _changed(request)
        return Message.text(
            request._(
                "Unsubscribed this chat from {themes}. "
                "Items already sent stay sent; subscribe again any time."
            ).format(themes=request.words.join(done))
        )
    current = [s.theme for s in _chat_subscriptions(request)]
    if not current:
        return Message.text(
            request._("This chat has no subscriptions. See {themes} to start one.").format(
                themes=request.typed("/themes")
            )
        )
    return Message.text(
        request._(
            "This chat is not subscribed to “{value}”. Its subscriptions: {themes} — or use {all}."
        ).format(
            value=echo(first, 40),
            themes=request.words.join(current),
            all=request.typed("/unsubscribe all"),
        )
    )


@command(
    "subscriptions",
    usage="/subscriptions",
    example="/subscriptions",
    description=N_("this chat's subscriptions and their next runs"),
)
def subscriptions_command(request: Request) -> Message:
    subs = _chat_subscriptions(request)
    if not subs:
        return Message.text(
            request._(
                "This chat has no subscriptions. Start one with {usage}, "
                "e.g. {example} — {themes} lists the themes."
            ).format(
                usage=request.typed(request._("/subscribe THEME")),
                example=request.typed("/subscribe clay mon 09:00"),
                themes=request.typed("/themes"),
            )
        )
    themes = _themes(request)
    now = request.services.clock()
    bullets = tuple(
        (
            Span(s.theme, code=True),
            Span(
                request._(" — {title}: {items} {schedule}. Next: ").format(
                    title=themes.get(s.theme, s.theme),
                    items=_items(request, s.size),
                    schedule=Schedule.of(s).describe(request.words),
                )
            ),
            Span(local_time(Schedule.of(s).next_run(now), request.words), bold=True),
        )
        for s in subs
    )
    return Message(
        (
            Heading(request._("Subscriptions in this chat")),
            BulletList(bullets),
            Context(
                (
                    Span(request._("Change one part by subscribing again; stop with ")),
                    command_span(request._("/unsubscribe THEME")),
                )
            ),
            choices(
                pair
                for s in subs
                for pair in (
                    (request._("Preview: {theme}").format(theme=s.theme), f"/digest {s.theme}"),
                    (
                        request._("Unsubscribe: {theme}").format(theme=s.theme),
                        f"/unsubscribe {s.theme}",
                    ),
                )
            ),
        )
    )


@command(
    "digest",
    usage=N_("/digest THEME"),
    example="/digest clay",
    needs_arg=True,
    description=N_("preview this chat's next digest of a theme (it still comes)"),
)
def digest_command(request: Request) -> Message:
    services = request.services
    theme = _theme_arg(request, _themes(request))
    return preview(
        services.store,
        request.platform,
        request.chat_id,
        theme,
        default_size=services.digest_size,
        default_timezone=services.timezone,
        now=services.clock(),
        web_url=services.web.theme_url if services.web is not None else None,
        words=request.words,
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
    words: Translator | None = None,
) -> Message:
    """The chat's next digest of ``theme`` as it would be sent, without using it up."""
    words = words or translator()
    with store.engine.connect() as conn:
        themes = known_themes(conn)
        if theme not in themes:
            return Message.text(
                words.gettext("There is no theme “{value}”. {themes}").format(
                    value=echo(theme, 40), themes=theme_choices(themes, words)
                )
            )
        sub = active_subscription(conn, platform, chat_id, theme)
        size = sub.size if sub is not None else default_size
        zone = ZoneInfo(sub.timezone if sub is not None else default_timezone)
        digest = next_digest(
            conn,
            platform,
            chat_id,
            theme,
            size,
            now.astimezone(zone),
            web_url=web_url,
            words=words,
        )
    if digest is None:
        return Message.text(
            words.gettext(
                "Nothing new in {title} for this chat: it has had every item. "
                "New items arrive with the next monthly report."
            ).format(title=cards.theme_label(themes[theme], words))
        )
    note: tuple[Span, ...] = (
        (
            Span(
                words.gettext("Preview: these items still come in this chat's next weekly digest."),
                italic=True,
            ),
        )
        if sub is not None
        else (
            Span(words.gettext("Preview. Get it weekly: "), italic=True),
            command_span(f"/subscribe {theme} mon 09:00"),
        )
    )
    return Message(
        (*digest.message.blocks, Context(note)),
        link_preview=False,
        tags=(*digest.message.tags, "preview"),
        web_url=digest.message.web_url,
        web_label=digest.message.web_label,
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
            f"#{s.id} {s.platform}:{s.chat_id} {s.theme} — {cards.kind_count('item', s.size)} "
            f"{schedule.describe()} — {state}"
        )
    return lines
