"""The chat's language and forgiving input, through the dispatcher every channel uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.digests import make_digest_due
from bot.store.models import OutboxRow, SubscriptionRow
from bot.store.store import Store
from channels.base import Incoming
from digests.message import Message, message_from_json
from tests.bot.test_subscriptions import NOW, ingest_samples


@pytest.fixture
def services(store: Store) -> Services:
    ingest_samples(store)
    return Services(store=store, timezone="UTC", clock=lambda: NOW)


@pytest.fixture
def core(services: Services) -> Dispatcher:
    return Dispatcher(services)


async def ask(
    core: Dispatcher,
    text: str,
    *,
    chat: str = "-100",
    user: str = "5",
    language: str | None = None,
    kind: str = "supergroup",
) -> str:
    async def yes() -> bool:
        return True

    reply = await core.on_command(
        Incoming(
            platform="telegram",
            chat_id=chat,
            user_id=user,
            text=text,
            chat_kind=kind,
            is_chat_admin=yes,
            language=language,
        )
    )
    assert isinstance(reply, Message)
    return reply.plain()


def _sub(store: Store, theme: str = "clay") -> tuple[str, str, str, int]:
    with store.engine.connect() as conn:
        row = conn.execute(
            select(
                SubscriptionRow.day,
                SubscriptionRow.at_time,
                SubscriptionRow.timezone,
                SubscriptionRow.size,
            ).where(SubscriptionRow.theme == theme)
        ).one()
    return (row.day, row.at_time, row.timezone, row.size)


# -- the language ---------------------------------------------------------------------------------


async def test_lang_zh_answers_this_chat_in_chinese_only(core: Dispatcher) -> None:
    assert "Themes" in await ask(core, "/themes")
    assert await ask(core, "/lang zh") == "本聊天使用 中文 回复。"
    themes = await ask(core, "/themes")
    assert themes.startswith("主题")
    assert "9 个模型" in themes
    assert "订阅每周摘要" in themes
    card = await ask(core, "/model kimi k2 thinking")
    assert "模型 · 2026-02" in card
    assert "核心技术创新" in card
    assert "Mechanism" not in card
    assert "也见于：2025-12" in card
    assert "我不认识 /frobnicate" in await ask(core, "/frobnicate")
    # Another chat is untouched.
    assert "Themes" in await ask(core, "/themes", chat="-200")
    assert "This chat is answered in English." in await ask(core, "/lang en")


async def test_auto_follows_whoever_set_the_chat_up(core: Dispatcher, services: Services) -> None:
    # A chat nobody set up answers each person in their own language.
    assert "主题" in await ask(core, "/themes", language="zh-hans")
    assert "Themes" in await ask(core, "/themes", language="en")
    # The first subscriber (a Chinese Telegram user) sets the chat up ...
    reply = await ask(core, "/subscribe clay", user="7", language="zh-hans")
    assert reply.startswith(
        "已为本聊天订阅 基座模型追踪 (The Clay)：每星期一 09:00（UTC），每次 5 条。"
    )
    # ... so the group is answered in Chinese, whoever asks, until /lang says otherwise.
    assert "主题" in await ask(core, "/themes", user="8", language="en")
    assert (await ask(core, "/lang", language="en")).startswith(
        "本聊天跟随使用者的语言（auto）：当前为 中文。"
    )
    assert "English" in await ask(core, "/lang en", language="zh-CN")
    assert "Themes" in await ask(core, "/themes", user="8", language="zh-hans")
    assert "当前为 中文" in await ask(core, "/lang auto", language="en")
    # Its digests are written in the chat's language too.
    with services.store.engine.connect() as conn:
        sub_id = conn.execute(select(SubscriptionRow.id)).scalar_one()
    with services.store.engine.begin() as conn:
        outbox_id = make_digest_due(conn, sub_id, datetime(2026, 3, 2, 9, 0, tzinfo=UTC), NOW)
    with services.store.engine.connect() as conn:
        data = conn.execute(select(OutboxRow.message).where(OutboxRow.id == outbox_id)).scalar_one()
    digest = message_from_json(data).plain()
    assert digest.startswith("基座模型追踪 (The Clay) · 2026年3月2日 当周")
    assert "详情：/model GLM-4.7" in digest
    assert "还有 4 条待推送" in digest


async def test_the_default_language_setting(services: Services) -> None:
    services.language = "zh"
    core = Dispatcher(services)
    assert "主题" in await ask(core, "/themes")
    assert "Themes" in await ask(core, "/themes", language="en-US")


async def test_lang_refuses_what_it_does_not_speak(core: Dispatcher) -> None:
    text = await ask(core, "/lang klingon")
    assert text == "“klingon” is not a language I speak. Use /lang zh, /lang en or /lang auto."
    assert "中文" in await ask(core, "/lang 中文")


async def test_refusals_are_translated(core: Dispatcher) -> None:
    async def no() -> bool:
        return False

    await ask(core, "/lang zh")
    reply = await core.on_command(
        Incoming("telegram", "-100", "9", "/subscribe clay", "supergroup", is_chat_admin=no)
    )
    assert reply is not None
    assert reply.plain() == "只有本群管理员和机器人管理员可以更改本群的设置。"


# -- forgiving input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "／model glm-4.7",
        "／ｍｏｄｅｌ　ＧＬＭ－４．７",
        "/model “GLM-4.7”",
        "/model 「GLM-4.7」",
        '/model "GLM-4.7"',
    ],
)
async def test_full_width_and_quotes(core: Dispatcher, text: str) -> None:
    assert (await ask(core, text)).startswith("GLM-4.7\n")


@pytest.mark.parametrize(
    ("arg", "sub"),
    [
        ("clay 周一", ("mon", "09:00", "UTC", 5)),
        ("clay 星期三 21:00", ("wed", "21:00", "UTC", 5)),
        ("clay 礼拜天 9pm", ("sun", "21:00", "UTC", 5)),
        ("clay 周五21点", ("fri", "21:00", "UTC", 5)),
        ("clay 上午9点 北京时间", ("mon", "09:00", "Asia/Shanghai", 5)),
        ("clay 晚上8点半", ("mon", "20:30", "UTC", 5)),
        ("clay UTC+8", ("mon", "09:00", "Etc/GMT-8", 5)),
        ("clay GMT+08:00", ("mon", "09:00", "Etc/GMT-8", 5)),
        ("clay +05:30", ("mon", "09:00", "Asia/Kolkata", 5)),
        ("clay 9 pm，周二", ("tue", "21:00", "UTC", 5)),
        ("基座模型追踪", ("mon", "09:00", "UTC", 5)),
        ("The Clay fri", ("fri", "09:00", "UTC", 5)),
        ("基座模型追踪 (The Clay) items=3", ("mon", "09:00", "UTC", 3)),
    ],
)
async def test_forgiving_subscribe(
    core: Dispatcher, services: Services, arg: str, sub: tuple[str, str, str, int]
) -> None:
    text = await ask(core, f"/subscribe {arg}")
    assert text.startswith("Subscribed this chat to 基座模型追踪 (The Clay)"), text
    assert _sub(services.store) == sub


async def test_an_offset_is_shown_as_people_write_it(core: Dispatcher) -> None:
    text = await ask(core, "/subscribe clay UTC+8")
    assert "every Monday at 09:00 (UTC+8)" in text


async def test_resubscribing_changes_only_what_it_names(
    core: Dispatcher, services: Services
) -> None:
    await ask(core, "/subscribe clay asia/shanghai items=3 thu")
    text = await ask(core, "/subscribe clay 9pm")
    assert text.startswith(
        "Changed this chat's 基座模型追踪 (The Clay): time 09:00 → 21:00. "
        "Now 3 items every Thursday at 21:00 (Asia/Shanghai)."
    )
    assert _sub(services.store) == ("thu", "21:00", "Asia/Shanghai", 3)
    same = await ask(core, "/subscribe The Clay")
    assert same.startswith("Nothing changed: this chat already gets 基座模型追踪 (The Clay)")
    await ask(core, "/unsubscribe 基座模型追踪")
    again = await ask(core, "/subscribe clay")
    # A subscription turned off and on again starts from the defaults, and says so.
    assert again.startswith(
        "Subscribed this chat to 基座模型追踪 (The Clay) again: 5 items every Monday at 09:00"
    )
    assert "not the schedule it had before" in again
    assert _sub(services.store) == ("mon", "09:00", "UTC", 5)


async def test_plurals_and_small_words(core: Dispatcher) -> None:
    themes = await ask(core, "/themes")
    assert re.search(r"(?<!\d)1 (models|papers|topics|insights|radars)\b", themes) is None
    assert "4 insights, 2 radars" in themes
    help_text = await ask(core, "/help")
    assert ".." not in help_text
    assert "。." not in help_text
    assert "/subscribe THEME [DAY] [HH:MM] [TIMEZONE] [items=N]" in help_text
    assert "/lang zh|en|auto" in help_text
