"""Subscriptions: /subscribe, /unsubscribe, /subscriptions, /digest, and the queries they need.

A subscription is (platform, chat, theme, weekly day and time, IANA timezone, size). The schedule
arithmetic is :mod:`bot.scheduling.weekly`; ``bot.scheduling.scheduler`` runs the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select, update
from sqlalchemy.orm import Session

from bot.commands.core import Request, command, echo
from bot.scheduling.weekly import (
    Schedule,
    ScheduleError,
    local_time,
    parse_subscribe,
    theme_choices,
)
from bot.store.db import dialect_insert
from bot.store.models import Chat, Delivery, ItemRow, Subscription
from bot.store.outbox import pending_item_ids
from bot.store.reports import Store
from digests.compose import Candidate, Digest, compose_digest
from digests.items import Item
from digests.message import BulletList, Context, Heading, Message, Paragraph, Span

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
    conn: Connection,
    platform: str,
    chat_id: str,
    theme: str,
    size: int,
    when: datetime,
    web_url: Callable[[str], str] | None = None,
) -> Digest | None:
    """The digest a run at ``when`` would make for the chat, without recording anything.

    ``web_url`` gives a theme's web page (the digest links to it).
    """
    candidates = theme_candidates(conn, theme)
    return compose_digest(
        candidates, taken_ids(conn, platform, chat_id), size, when=when, web_url=web_url
    )


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
