"""Subscriptions driven through chat commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from bot import cli
from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.commands.subscribe_args import (
    ScheduleError,
    parse_day,
    parse_subscribe,
    parse_time,
    parse_timezone,
)
from bot.scheduling.weekly import Schedule
from bot.store.digests import make_digest_due
from bot.store.models import ChatRow, DeliveryRow, ItemRow, OutboxRow, SubscriptionRow
from bot.store.store import Store
from channels.base import Incoming
from digests import Report, parse_report
from digests.message import Message
from tests.conftest import SAMPLES

# Sunday 1 March 2026, noon UTC.
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GROUP = "-100"


@functools.cache
def _samples() -> tuple[tuple[Report, str], ...]:
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.md"))]
    return tuple((parse_report(text, name), text) for name, text in texts)


def ingest_samples(store: Store) -> None:
    for report, text in _samples():
        store.ingest(report, text, uploaded_by="test")


def _admin(answer: bool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return answer

    return check


@pytest.fixture
def services(store: Store) -> Services:
    ingest_samples(store)
    return Services(
        store=store,
        timezone="Europe/Berlin",
        admins=frozenset({("telegram", "1")}),
        clock=lambda: NOW,
    )


@pytest.fixture
def core(services: Services) -> Dispatcher:
    return Dispatcher(services)


async def say(
    core: Dispatcher,
    text: str,
    *,
    user: str = "5",
    chat_admin: bool = True,
    chat_id: str = GROUP,
    chat_kind: str = "supergroup",
) -> str:
    reply = await core.on_command(
        Incoming(
            platform="telegram",
            chat_id=chat_id,
            user_id=user,
            text=text,
            chat_kind=chat_kind,
            is_chat_admin=_admin(chat_admin),
        )
    )
    assert isinstance(reply, Message)
    return reply.plain()


def _subs(store: Store) -> list[tuple[str, str, str, str, int, bool]]:
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(  # type: ignore[misc]
                select(
                    SubscriptionRow.theme,
                    SubscriptionRow.day,
                    SubscriptionRow.at_time,
                    SubscriptionRow.timezone,
                    SubscriptionRow.size,
                    SubscriptionRow.active,
                ).order_by(SubscriptionRow.theme)
            )
        ]


async def test_subscribe_in_a_group_as_chat_admin(core: Dispatcher, services: Services) -> None:
    text = await say(core, "/subscribe clay tue 08:30 Asia/Shanghai")
    assert "Subscribed this chat to 基座模型追踪 (The Clay)" in text
    assert "every Tuesday at 08:30 (Asia/Shanghai)" in text
    assert "Next digest: Tue 3 Mar 2026, 08:30 CST" in text
    assert _subs(services.store) == [("clay", "tue", "08:30", "Asia/Shanghai", 5, True)]
    with services.store.engine.connect() as conn:
        kind = conn.execute(select(ChatRow.kind).where(ChatRow.chat_id == GROUP)).scalar_one()
    assert kind == "supergroup"


async def test_non_admins_may_not_change_a_group(core: Dispatcher, services: Services) -> None:
    for command in ("/subscribe clay", "/unsubscribe all"):
        text = await say(core, command, chat_admin=False)
        assert "Only this chat's administrators and bot admins" in text
    assert _subs(services.store) == []
    # A bot admin may, without being a chat admin; anyone may in a private chat.
    assert "Subscribed" in await say(core, "/subscribe clay", user="1", chat_admin=False)
    assert "Subscribed" in await say(
        core, "/subscribe hands", chat_admin=False, chat_id="5", chat_kind="private"
    )
    # Listing and previews are for everyone.
    assert "clay" in await say(core, "/subscriptions", chat_admin=False)
    assert "The Clay" in await say(core, "/digest clay", chat_admin=False)


async def test_defaults_are_monday_nine_in_the_configured_timezone(
    core: Dispatcher, services: Services
) -> None:
    text = await say(core, "/subscribe CLAY")
    assert "every Monday at 09:00 (Europe/Berlin)" in text
    assert "Next digest: Mon 2 Mar 2026, 09:00 CET" in text
    assert _subs(services.store) == [("clay", "mon", "09:00", "Europe/Berlin", 5, True)]


WRONG_PARTS = [
    ("/subscribe clay funday", "“funday” is not a day", "mon, tue, wed, thu, fri, sat, sun"),
    ("/subscribe clay tue 25:00", "“25:00” is not a time", "00:00 to 23:59"),
    ("/subscribe clay tue 8:75", "“8:75” is not a time", "HH:MM"),
    (
        "/subscribe clay tue 08:30 Asia/Shangai",
        "“Asia/Shangai” is not a timezone",
        "Did you mean Asia/Shanghai",
    ),
    ("/subscribe clay tue 08:30 Narnia", "“Narnia” is not a timezone", "Region/City"),
    ("/subscribe clay tue 08:30 CST", "“CST” is not a timezone", "Asia/Shanghai"),
    (
        "/subscribe pottery",
        "There is no theme “pottery”",
        "Themes: chisel (Post-Training (The Chisel))",
    ),
    ("/subscribe clay tue wed", "Two days given (tue and wed)", "give one"),
    ("/subscribe clay 08:30 someday", "“someday” is not a timezone", "Region/City"),
    ("/subscribe clay 08:00 09:00", "Two times given", "give one"),
    ("/subscribe clay items=99", "items=99 is out of range", "1 to 20"),
]


async def test_a_wrong_part_is_named_with_the_choices(core: Dispatcher, services: Services) -> None:
    for command, part, choices in WRONG_PARTS:
        text = await say(core, command)
        assert part in text, command
        assert choices in text, command
        assert "Usage: /subscribe THEME [DAY] [HH:MM] [TIMEZONE]" in text
    assert _subs(services.store) == []


async def test_unknown_theme_lists_every_theme(core: Dispatcher) -> None:
    text = await say(core, "/subscribe pottery")
    for slug in ("chisel", "clay", "hands", "highlights"):
        assert slug in text


async def test_subscribe_again_updates_and_unsubscribe(
    core: Dispatcher, services: Services
) -> None:
    changes: list[int] = []
    services.subscriptions_changed = lambda: changes.append(1)
    await say(core, "/subscribe clay tue 08:30 Asia/Shanghai")
    text = await say(core, "/subscribe clay friday 18:00 items=3")
    # Subscribing again changes what it names and keeps the rest (here the timezone).
    assert (
        "Changed this chat's 基座模型追踪 (The Clay): day Tuesday → Friday, time 08:30 → 18:00, "
        "items 5 → 3. Now 3 items every Friday at 18:00 (Asia/Shanghai)."
    ) in text
    await say(core, "/subscribe hands")
    assert [s[:5] for s in _subs(services.store)] == [
        ("clay", "fri", "18:00", "Asia/Shanghai", 3),
        ("hands", "mon", "09:00", "Europe/Berlin", 5),
    ]
    assert "not subscribed to “chisel”. Its subscriptions: clay, hands" in await say(
        core, "/unsubscribe chisel"
    )
    assert "Unsubscribed this chat from clay" in await say(core, "/unsubscribe clay")
    assert "Unsubscribed this chat from hands" in await say(core, "/unsubscribe all")
    assert [s[5] for s in _subs(services.store)] == [False, False]
    assert "no subscriptions" in await say(core, "/unsubscribe all")
    assert len(changes) == 5  # three subscribes, two unsubscribes; refusals change nothing
    # Subscribing again reactivates the same row.
    assert "Subscribed this chat to 基座模型追踪 (The Clay)" in await say(core, "/subscribe clay")
    assert [s[5] for s in _subs(services.store)] == [True, False]


async def test_subscriptions_show_next_runs_in_local_time(core: Dispatcher) -> None:
    assert "no subscriptions" in await say(core, "/subscriptions")
    await say(core, "/subscribe clay tue 08:30 Asia/Shanghai")
    await say(core, "/subscribe hands sun 23:15 America/New_York")
    await say(core, "/subscribe chisel sun 13:00")
    text = await say(core, "/subscriptions")
    assert "every Tuesday at 08:30 (Asia/Shanghai). Next: Tue 3 Mar 2026, 08:30 CST" in text
    # Noon UTC on Sunday is 07:00 in New York: tonight, still before DST starts on 8 March.
    assert "Next: Sun 1 Mar 2026, 23:15 EST" in text
    # 13:00 in Berlin is 12:00 UTC: due exactly now, so this is the next run.
    assert "Next: Sun 1 Mar 2026, 13:00 CET" in text
    # Other chats do not see this chat's subscriptions.
    assert "no subscriptions" in await say(core, "/subscriptions", chat_id="-200")


async def test_digest_previews_without_using_it_up(core: Dispatcher, services: Services) -> None:
    store = services.store
    first = await say(core, "/digest clay")
    assert first == await say(core, "/digest clay")
    assert first.index("GLM-4.7") < first.index("Olmo 3") < first.index("Kimi-K2-Thinking")
    assert "GLM-4.6" not in first
    assert "4 more to come" in first
    assert "Get it weekly: /subscribe clay" in first
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OutboxRow)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(DeliveryRow)).scalar_one() == 0
    # The scheduled run sends exactly what the preview showed.
    await say(core, "/subscribe clay tue 08:30 Asia/Shanghai")
    sub_id = _sub_id(store, "clay")
    with store.engine.begin() as conn:
        outbox_id = make_digest_due(conn, sub_id, datetime(2026, 3, 3, 0, 30, tzinfo=UTC), NOW)
    assert outbox_id is not None
    with store.engine.connect() as conn:
        row = conn.execute(select(OutboxRow).where(OutboxRow.id == outbox_id)).one()
    assert len(row.item_ids) == 5
    # Once queued, the preview moves on to what comes after.
    after = await say(core, "/digest clay")
    assert "Qwen3-Next-80B-A3B" in after
    assert "GLM-4.7" not in after
    assert "still come in this chat's next weekly digest" in after


async def test_digest_of_an_unknown_or_exhausted_theme(
    core: Dispatcher, services: Services
) -> None:
    assert "There is no theme “pottery”" in await say(core, "/digest pottery")
    store = services.store
    with store.engine.begin() as conn:
        ids = conn.execute(select(ItemRow.id).where(ItemRow.theme == "highlights")).scalars().all()
        conn.execute(
            insert(DeliveryRow),
            [
                {
                    "platform": "telegram",
                    "chat_id": GROUP,
                    "item_id": i,
                    "outbox_id": None,
                    "delivered_at": NOW,
                }
                for i in ids
            ],
        )
    assert "Nothing new in" in await say(core, "/digest highlights")


def _sub_id(store: Store, theme: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(
            select(SubscriptionRow.id).where(SubscriptionRow.theme == theme)
        ).scalar_one()


# -- parsing, no database -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("mon", "mon"),
        ("Monday", "mon"),
        ("TUE", "tue"),
        ("tues", "tue"),
        ("Tuesdays", "tue"),
        ("wed", "wed"),
        ("weds", "wed"),
        ("thu", "thu"),
        ("thurs", "thu"),
        ("Thursday", "thu"),
        ("fri", "fri"),
        ("sat.", "sat"),
        ("sunday", "sun"),
    ],
)
def test_day_names(text: str, day: str) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize("text", ["t", "s", "mo", "someday", "1", "lundi"])
def test_bad_days(text: str) -> None:
    with pytest.raises(ScheduleError, match="is not a day"):
        parse_day(text)


@pytest.mark.parametrize(
    ("text", "time"),
    [
        ("08:30", "08:30"),
        ("8:30", "08:30"),
        ("0:00", "00:00"),
        ("23:59", "23:59"),
        ("9", "09:00"),
        ("9am", "09:00"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("6:15pm", "18:15"),
        ("18.45", "18:45"),
    ],
)
def test_times(text: str, time: str) -> None:
    assert parse_time(text) == time


@pytest.mark.parametrize("text", ["24:00", "7:60", "13pm", "0am", "08:3", "8:30:00", "noon1"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ScheduleError, match="is not a time"):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/shanghai", "Asia/Shanghai"),
        ("UTC", "UTC"),
        ("shanghai", "Asia/Shanghai"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ],
)
def test_timezones(text: str, zone: str) -> None:
    assert parse_timezone(text) == zone


def test_parts_after_the_theme_in_any_order() -> None:
    themes = {"clay": "The Clay"}
    args = parse_subscribe("clay Asia/Tokyo 7:05 sat items=2", themes, "UTC", 5)
    assert (args.theme, args.schedule, args.size) == (
        "clay",
        Schedule("sat", "07:05", "Asia/Tokyo"),
        2,
    )
    with pytest.raises(ScheduleError, match="No report has been ingested"):
        parse_subscribe("clay", {}, "UTC", 5)


# -- the command line ------------------------------------------------------------------------------


async def test_cli_digest_and_subscriptions(
    core: Dispatcher,
    services: Services,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    monkeypatch.delenv("DIGESTBOT_CONFIG", raising=False)
    await say(core, "/subscribe clay tue 08:30 Asia/Shanghai")
    await say(core, "/subscribe hands")
    await say(core, "/unsubscribe hands")
    assert cli.main(["digest", "clay", "--chat", f"telegram:{GROUP}"]) == 0
    out = capsys.readouterr().out
    assert "GLM-4.7" in out
    assert "Qwen3-Next-80B-A3B" not in out
    assert cli.main(["subscriptions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "telegram:-100 clay — 5 items every Tuesday at 08:30 (Asia/Shanghai) — next " in lines[0]
    assert lines[0].endswith(" CST")
    assert "hands" in lines[1]
    assert "inactive: unsubscribed by telegram:5" in lines[1]
    assert cli.main(["digest", "pottery"]) == 1
    assert "no theme 'pottery'; themes: chisel, clay, hands, highlights" in capsys.readouterr().err
    assert cli.main(["digest", "clay", "--chat", "nochat"]) == 1
