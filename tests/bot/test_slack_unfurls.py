"""Slack unfurls end to end: a link to an item of the reports pasted in a channel is unfurled into
the item's short card (``link_shared`` → ``chat.unfurl``), through the real gateway in HTTP mode
against the fake Slack, which records every ``chat.unfurl`` and checks its blocks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.bot.test_buttons_slack import Bot, start
from tests.fakes import wait_for
from tests.fakes.slack import FakeSlack, event_body, link_shared_event

DAPO_PDF = "https://arxiv.org/pdf/2503.14476v2"
GLM = "https://z.ai/blog/glm-4.7"
NOTHING = "https://arxiv.org/abs/1706.03762"


@pytest.fixture
async def bot(sqlite_url: str) -> AsyncIterator[Bot]:
    async with FakeSlack() as sl:
        gateway, task = await start(sqlite_url, sl)
        assert gateway.http is not None
        async with aiohttp.ClientSession() as http:
            yield Bot(gateway, sl, http, f"http://127.0.0.1:{gateway.http.port}", sqlite_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


async def shared(bot: Bot, *urls: str, event_id: str, **kwargs: object) -> dict:  # type: ignore[type-arg]
    before = len(bot.slack.unfurls)
    await bot.post(event_body(link_shared_event(*urls, **kwargs), event_id=event_id))  # type: ignore[arg-type]
    await wait_for(lambda: len(bot.slack.unfurls) > before, within=15)
    return dict(bot.slack.unfurls[-1])


async def test_links_to_items_unfurl_into_their_short_cards(bot: Bot) -> None:
    call = await shared(
        bot, DAPO_PDF, GLM, NOTHING, event_id="EvLinks1", channel="C0TEAM", message_ts="7.000001"
    )
    assert (call["channel"], call["ts"]) == ("C0TEAM", "7.000001")
    unfurls = call["unfurls"]
    # a link to nothing in the reports is left to Slack's own preview
    assert set(unfurls) == {DAPO_PDF, GLM}
    paper = json.dumps(unfurls[DAPO_PDF]["blocks"], ensure_ascii=False)
    assert "DAPO: An Open-Source LLM Reinforcement Learning System at Scale" in paper
    assert "paper · 2025-12" in paper
    assert "/paper DAPO" in paper  # the command for more, as Slack runs it
    model = json.dumps(unfurls[GLM]["blocks"], ensure_ascii=False)
    assert "GLM-4.7" in model
    assert "model · 2026-02" in model
    assert "/model GLM-4.7" in model
    # a short card: the entry, not the whole card
    assert len(unfurls[GLM]["blocks"]) <= 6
    assert not bot.slack.sent  # nothing posted in the channel


async def test_a_message_being_written_is_unfurled_by_its_id(bot: Bot) -> None:
    call = await shared(bot, GLM, event_id="EvLinks2", composer=True)
    assert call["unfurl_id"] == "C0CHAN.UNFURL1"
    assert call["source"] == "composer"
    assert GLM in call["unfurls"]


async def test_unfurls_are_in_the_channels_language(bot: Bot) -> None:
    await bot.slash("/lang", "zh", channel_id="C0ZH")
    call = await shared(bot, GLM, event_id="EvLinks3", channel="C0ZH")
    text = json.dumps(call["unfurls"][GLM]["blocks"], ensure_ascii=False)
    assert "模型 · 2026-02" in text
    assert "model · 2026-02" not in text


async def test_links_to_nothing_unfurl_nothing(bot: Bot) -> None:
    await bot.post(event_body(link_shared_event(NOTHING), event_id="EvLinks4"))
    await shared(bot, GLM, event_id="EvLinks5")  # a later event is answered: the first was done
    assert [set(c["unfurls"]) for c in bot.slack.unfurls] == [{GLM}]
