"""The pages that bypass the command middleware speak the user's language too: Slack's Home
tab (the opener's Slack locale) and the notice for a stale button (the chat's ``/lang``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.commands.buttons import STALE
from bot.i18n import translator
from tests.bot.test_buttons_slack import Bot, buttons, start
from tests.fakes import wait_for
from tests.fakes.slack import FakeSlack, event_body, home_opened_event


@pytest.fixture
async def bot(sqlite_url: str) -> AsyncIterator[Bot]:
    async with FakeSlack() as sl:
        gateway, task = await start(sqlite_url, sl)
        assert gateway.http is not None
        async with aiohttp.ClientSession() as http:
            yield Bot(gateway, sl, http, f"http://127.0.0.1:{gateway.http.port}", sqlite_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


async def _home_of(bot: Bot, user: str, event_id: str) -> dict:  # type: ignore[type-arg]
    before = len(bot.slack.views)
    await bot.post(event_body(home_opened_event(user=user), event_id=event_id))
    await wait_for(lambda: len(bot.slack.views) > before, within=15)
    view = bot.slack.views[-1]
    assert view["user_id"] == user
    return dict(view["view"])


async def test_home_tab_is_in_the_openers_language(bot: Bot) -> None:
    bot.slack.add_user("U0ZH")
    bot.slack.users["U0ZH"]["locale"] = "zh-CN"
    bot.slack.add_user("U0EN")
    bot.slack.users["U0EN"]["locale"] = "en-US"
    await bot.slash("/subscribe", "clay tue 08:30 Europe/Berlin", channel_id="C0TEAM")
    bot.slack.join("C0TEAM", "U0ZH", "U0EN")

    chinese = await _home_of(bot, "U0ZH", "EvHomeZh")
    text = str(chinese["blocks"])
    for shown in ("订阅", "下次", "周二", "新内容", "预览摘要", "其他功能：/digestbot help"):
        assert shown in text
    for english in ("Subscriptions", "New in", "Preview a digest", "Everything else"):
        assert english not in text
    assert buttons(chinese)["预览：clay"] == "/digest clay"
    assert "C0TEAM" in text  # the same page, only its words differ
    assert "GLM-4.7" in text

    english_view = await _home_of(bot, "U0EN", "EvHomeEn")
    assert "Subscriptions" in str(english_view["blocks"])
    assert buttons(english_view)["Preview: clay"] == "/digest clay"


async def test_home_tab_follows_the_users_lang_choice_over_the_locale(bot: Bot) -> None:
    bot.slack.add_user("U0ZH2")
    bot.slack.users["U0ZH2"]["locale"] = "zh-CN"
    # /lang in the user's own conversation with the app (where Home presses are answered)
    await bot.slash("/lang", "en", channel_id="U0ZH2", user_id="U0ZH2")
    view = await _home_of(bot, "U0ZH2", "EvHomeLang")
    assert "Preview a digest" in str(view["blocks"])


async def test_a_stale_button_is_refused_in_the_chats_language(bot: Bot) -> None:
    await bot.slash("/lang", "zh", channel_id="C0ZH")
    before = len(bot.slack.responses)
    await bot.press("/nosuchcommand", channel="C0ZH", response_url=bot.slack.response_url())
    await wait_for(lambda: len(bot.slack.responses) > before, within=15)
    answer = bot.slack.responses[-1].payload
    assert answer["response_type"] == "ephemeral"
    chinese = translator("zh").gettext(STALE).format(help="/digestbot help")
    assert chinese != STALE.format(help="/digestbot help")
    assert chinese in str(answer["blocks"])
