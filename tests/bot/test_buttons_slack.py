"""Slack's conventions end to end: /digestbot, signed block_actions, the Home tab, threads.

The real gateway in HTTP mode; requests are signed as Slack signs them and posted to the
gateway's own server; the fake Slack Web API records what the bot sent back.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.commands.buttons import STALE
from bot.gateway import Gateway, seed_samples
from bot.settings import load_settings
from bot.store.digests import next_digest
from bot.store.outbox import enqueue
from bot.store.store import Store
from tests.fakes import wait_for
from tests.fakes.slack import (
    FakeSlack,
    Reply,
    block_actions_body,
    event_body,
    home_opened_event,
    signed_headers,
    slash_command_body,
)

SECRET = "buttons-signing-secret"
ADMIN = "UADMIN"


@dataclass
class Bot:
    gateway: Gateway
    slack: FakeSlack
    http: aiohttp.ClientSession
    base: str
    db_url: str

    async def post(self, body: str) -> float:
        """POST a signed body to the gateway; returns how long the answer took (seconds)."""
        started = time.monotonic()
        async with self.http.post(
            f"{self.base}/slack/events", data=body, headers=signed_headers(SECRET, body)
        ) as resp:
            assert resp.status == 200, await resp.text()
        return time.monotonic() - started

    async def slash(self, command: str, text: str, **kwargs: Any) -> Reply:
        url = self.slack.response_url()
        before = len(self.slack.responses)
        await self.post(slash_command_body(command, text, response_url=url, **kwargs))
        await wait_for(lambda: len(self.slack.responses) > before, within=15)
        return self.slack.responses[-1]

    async def press(self, value: str, **kwargs: Any) -> float:
        return await self.post(block_actions_body(value, **kwargs))


async def start(sqlite_url: str, sl: FakeSlack, **extra: str) -> tuple[Gateway, asyncio.Task[int]]:
    env = {
        "DIGESTBOT_DATABASE_URL": sqlite_url,
        "DIGESTBOT_SLACK_BOT_TOKEN": sl.bot_token,
        "DIGESTBOT_SLACK_SIGNING_SECRET": SECRET,
        "DIGESTBOT_SLACK_API_URL": sl.api_url,
        "DIGESTBOT_ADMINS": f"slack:{ADMIN}",
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": "0",
    } | extra
    store = Store.open(sqlite_url)
    seed_samples(store)
    store.close()
    gateway = Gateway(load_settings(env=env), stdout=io.StringIO())
    task = asyncio.create_task(gateway.run())
    await wait_for(
        lambda: gateway.http is not None and gateway.http.port != 0 and gateway.outbox, within=30
    )
    return gateway, task


@pytest.fixture(params=[False, True], ids=["flat", "threads"])
async def bot(sqlite_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    threads = {"DIGESTBOT_SLACK_THREADS": "true"} if request.param else {}
    async with FakeSlack() as sl:
        gateway, task = await start(sqlite_url, sl, **threads)
        assert gateway.http is not None
        async with aiohttp.ClientSession() as http:
            yield Bot(gateway, sl, http, f"http://127.0.0.1:{gateway.http.port}", sqlite_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


def buttons(payload: dict) -> dict[str, str]:
    return {
        b["text"]["text"]: b["value"]
        for block in payload.get("blocks", [])
        if block["type"] == "actions"
        for b in block["elements"]
    }


async def test_namespaced_command_and_its_buttons(bot: Bot) -> None:
    card = await bot.slash("/digestbot", "model GLM-4.7")
    assert "GLM-4.7" in str(card.payload["blocks"][0])
    help_reply = await bot.slash("/digestbot", "")
    assert "digestbot" in str(help_reply.payload["blocks"])
    alias = await bot.slash("/themes", "")
    assert buttons(alias.payload)["Subscribe: clay"] == "/subscribe clay"
    status = await bot.slash("/digestbot", "status", user_id=ADMIN)
    assert "Delivery status" in str(status.payload["blocks"])


async def test_next_page_replaces_the_results_within_three_seconds(bot: Bot) -> None:
    results = await bot.slash("/digestbot", "search agent")
    value = buttons(results.payload)["Next ›"]
    url = bot.slack.response_url()
    took = await bot.press(value, response_url=url)
    assert took < 3.0  # acknowledged at once; the answer goes to response_url
    await wait_for(lambda: any(r.url_id == url.rsplit("/", 1)[-1] for r in bot.slack.responses))
    edited = bot.slack.responses[-1].payload
    assert edited["replace_original"] is True
    assert "page 2" in str(edited["blocks"])
    assert "‹ Previous" in buttons(edited)


async def test_feedback_stale_and_refused_presses_are_ephemeral(bot: Bot) -> None:
    digest = await bot.slash("/digestbot", "digest clay")
    thumbs = buttons(digest.payload)["👍"]
    assert thumbs.startswith("/feedback ")
    for value, expected in (
        (thumbs, "Thanks: 👍"),
        # the hint in Slack's words: /help is run as /digestbot help there
        ("/feedback 999999 up", STALE.format(help="/digestbot help")),
        ("/nosuchcommand", STALE.format(help="/digestbot help")),
        ("/status", "/digestbot status is for bot admins only"),
    ):
        before = len(bot.slack.responses)
        await bot.press(value, response_url=bot.slack.response_url())
        await wait_for(lambda b=before: len(bot.slack.responses) > b, within=15)
        answer = bot.slack.responses[-1].payload
        assert answer["response_type"] == "ephemeral"
        assert answer["replace_original"] is False
        assert expected in str(answer["blocks"])
    assert not bot.slack.sent  # nothing was posted to the channel for everyone


async def test_home_tab_lists_subscriptions_and_previews_a_digest(bot: Bot) -> None:
    await bot.slash("/subscribe", "clay tue 08:30 Europe/Berlin", channel_id="C0TEAM")
    bot.slack.join("C0TEAM", "U0HOME")
    await bot.post(event_body(home_opened_event(user="U0HOME"), event_id="EvHome1"))
    await wait_for(lambda: bot.slack.views, within=15)
    view = bot.slack.views[-1]
    assert view["user_id"] == "U0HOME"
    blocks = view["view"]["blocks"]
    text = str(blocks)
    assert "C0TEAM" in text
    assert "Tue" in text
    assert "GLM-4.7" in text
    home_buttons = buttons(view["view"])
    assert home_buttons["Preview: clay"] == "/digest clay"
    await bot.press("/digest clay", response_url=None, in_home_tab=True, user="U0HOME")
    await wait_for(lambda: [p for p in bot.slack.sent if p.channel == "U0HOME"], within=15)
    dm = next(p for p in bot.slack.sent if p.channel == "U0HOME")
    assert "Preview" in str(dm.blocks)


async def test_home_tab_shows_only_the_conversations_one_is_in(bot: Bot) -> None:
    """Issue 30: the Home tab shows a person the subscriptions of conversations they are in,
    never a private channel's or another person's direct chat's ids."""
    await bot.slash("/subscribe", "clay", channel_id="C0MINE")
    await bot.slash("/subscribe", "chisel", channel_id="G0SECRET")
    await bot.slash("/subscribe", "hands", channel_id="D0OTHER")
    bot.slack.join("C0MINE", "U0HOME", "U0OTHER")
    bot.slack.join("G0SECRET", "U0OTHER")
    bot.slack.join("D0OTHER", "U0OTHER")
    await bot.post(event_body(home_opened_event(user="U0HOME"), event_id="EvHomePrivate"))
    await wait_for(lambda: bot.slack.views, within=15)
    text = str(bot.slack.views[-1]["view"]["blocks"])
    assert "C0MINE" in text
    assert "G0SECRET" not in text
    assert "D0OTHER" not in text


async def test_a_scheduled_digest_threads_its_cards_when_set(bot: Bot) -> None:
    store = Store.open(bot.db_url)
    try:
        with store.engine.begin() as conn:
            digest = next_digest(conn, "slack", "C0TEAM", "clay", 3, datetime.now(UTC))
            assert digest is not None
            enqueue(conn, platform="slack", chat_id="C0TEAM", message=digest.message)
    finally:
        store.close()
    outbox = bot.gateway.outbox
    assert outbox is not None
    outbox.wake()
    threads = bot.gateway.settings.slack_threads
    await wait_for(
        lambda: len([p for p in bot.slack.sent if p.channel == "C0TEAM"]) >= 1 + 3 * threads,
        within=30,
    )
    await outbox.drain()
    posts = [p for p in bot.slack.sent if p.channel == "C0TEAM"]
    parent = posts[0]
    assert "thread_ts" not in parent.options
    assert "Details: GLM-4.7" in buttons({"blocks": parent.blocks})
    if not threads:
        assert len(posts) == 1
        return
    replies = posts[1:]
    assert len(replies) == 3
    assert all(r.options["thread_ts"] == parent.ts for r in replies)
    assert replies[0].blocks[0]["text"]["text"] == "GLM-4.7"


async def test_a_link_button_press_is_only_acknowledged(bot: Bot) -> None:
    card = await bot.slash("/model", "GLM-4.7")
    before = (len(bot.slack.responses), len(bot.slack.sent))
    took = await bot.press("", response_url=bot.slack.response_url(), action_id="digestbot-link-3")
    assert took < 3
    await asyncio.sleep(0.3)
    assert (len(bot.slack.responses), len(bot.slack.sent)) == before
    assert card.payload["blocks"]
