"""Buttons on Discord: the real gateway and discord.py against the fake Discord.

Replies carry message components; a press is an ``INTERACTION_CREATE`` of type 3 dispatched over
the fake gateway, and goes through the gateway's dispatcher as a typed command does. The fake
records each interaction's callback: 7 (the message updated in place), 4 with flag 64 (an
ephemeral answer for the presser), 6 (acknowledged; the answer follows as a new message).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from bot.commands.buttons import STALE
from bot.gateway import Gateway, seed_samples
from bot.settings import load_settings
from bot.store.models import ActionTokenRow, SubscriptionRow
from bot.store.store import Store
from tests.bot.test_buttons_telegram import LONG_PART, long_report
from tests.fakes import wait_for
from tests.fakes.discord import TOKEN, FakeDiscord, Posted, buttons_of, embeds_text, wait_ready

ADMIN = 1001
EPHEMERAL = 64
MANAGE_CHANNELS = 1 << 4
PUBLIC = "https://digest.example.com"


@dataclass
class Bot:
    gateway: Gateway
    discord: FakeDiscord
    db_url: str

    async def slash(self, name: str, text: str = "", **kwargs: Any) -> Posted:
        before = len(self.discord.sent)
        options = [{"name": "text", "type": 3, "value": text}] if text else []
        await self.discord.slash(name, options, **kwargs)
        await wait_for(lambda: len(self.discord.sent) > before, within=15)
        return self.discord.sent[-1]

    async def press(self, posted: Posted, label: str = "", **kwargs: Any) -> dict[str, Any]:
        """Press a button of ``posted``; returns the interaction's callback."""
        interaction = await self.discord.press(posted, label, **kwargs)
        await wait_for(lambda: self.discord.callback_of(interaction) is not None, within=15)
        callback = self.discord.callback_of(interaction)
        assert callback is not None
        return callback


@pytest.fixture
async def bot(sqlite_url: str) -> AsyncIterator[Bot]:
    async with FakeDiscord() as discord:
        env = {
            "DIGESTBOT_DATABASE_URL": sqlite_url,
            "DIGESTBOT_DISCORD_TOKEN": TOKEN,
            "DIGESTBOT_DISCORD_API_URL": discord.api_url,
            "DIGESTBOT_DISCORD_GATEWAY_URL": discord.gateway_url,
            "DIGESTBOT_DISCORD_CHANNEL_INTERVAL": "0",
            "DIGESTBOT_ADMINS": f"discord:{ADMIN}",
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_HTTP_PORT": "0",
            "DIGESTBOT_PUBLIC_URL": PUBLIC,
            "DIGESTBOT_WEB_SECRET": "discord-buttons-web-secret",
        }
        store = Store.open(sqlite_url)
        seed_samples(store)
        store.close()
        gateway = Gateway(load_settings(env=env), stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        await wait_ready(discord, within=60)
        await wait_for(lambda: gateway.outbox is not None, within=30)
        yield Bot(gateway, discord, sqlite_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


def updated(callback: dict[str, Any]) -> dict[str, Any]:
    assert callback["type"] == 7, callback  # the message that held the button, updated
    data: dict[str, Any] = callback["data"]
    return data


def ephemeral_text(callback: dict[str, Any]) -> str:
    assert callback["type"] == 4, callback
    assert callback["data"]["flags"] & EPHEMERAL
    return embeds_text(callback["data"]["embeds"])


def labels(data: dict[str, Any]) -> list[str]:
    return [b["label"] for b in buttons_of(data.get("components"))]


async def test_search_pages_edit_the_same_message(bot: Bot) -> None:
    first = await bot.slash("search", "agent")
    assert "Next ›" in first.labels()
    page = updated(await bot.press(first, "Next ›"))
    assert "page 2" in embeds_text(page["embeds"])
    assert "‹ Previous" in labels(page)
    assert len(bot.discord.sent) == 1  # nothing new was posted: the results were edited


async def test_long_command_travels_under_a_stored_token(bot: Bot) -> None:
    words = " ".join(["智能体"] * 40)
    first = await bot.slash("search", words)
    custom_id = first.button("Next ›")["custom_id"]
    assert custom_id.startswith("~")
    assert len(custom_id) <= 100
    page = updated(await bot.press(first, "Next ›"))
    assert "page 2" in embeds_text(page["embeds"])
    store = Store.open(bot.db_url)
    try:
        with store.engine.connect() as conn:
            tokens = set(conn.execute(select(ActionTokenRow.token)).scalars())
    finally:
        store.close()
    assert custom_id[1:] in tokens


async def test_stale_or_forged_button_is_answered_ephemerally(bot: Bot) -> None:
    first = await bot.slash("themes")
    for custom_id in ("~notATokenWeKnow", "/nosuchcommand"):
        callback = await bot.press(first, custom_id=custom_id)
        assert ephemeral_text(callback) == STALE.format(help="/help")
    await asyncio.sleep(0.2)
    assert len(bot.discord.sent) == 1


async def test_subscribe_button_obeys_the_server_rules(bot: Bot) -> None:
    themes = await bot.slash("themes", user_id=7)
    assert "Subscribe: clay" in themes.labels()
    refused = await bot.press(themes, "Subscribe: clay", user_id=7)
    assert "Only this chat's administrators" in ephemeral_text(refused)
    store = Store.open(bot.db_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(SubscriptionRow.id)).first() is None
        before = len(bot.discord.sent)
        allowed = await bot.press(themes, "Subscribe: clay", user_id=8, permissions=MANAGE_CHANNELS)
        assert allowed["type"] == 6  # acknowledged; the answer follows for everyone
        await wait_for(lambda: len(bot.discord.sent) > before, within=15)
        answer = bot.discord.sent[-1]
        assert "Subscribed this chat to" in answer.text
        assert not answer.flags & EPHEMERAL
        with store.engine.connect() as conn:
            subs = conn.execute(select(SubscriptionRow.chat_id, SubscriptionRow.theme)).all()
        assert [tuple(s) for s in subs] == [("700", "clay")]
    finally:
        store.close()


async def test_feedback_and_details_on_digest_entries(bot: Bot) -> None:
    digest = await bot.slash("digest", "clay")
    assert digest.labels()[:3] == ["Details: GLM-4.7", "👍", "👎"]
    assert ephemeral_text(await bot.press(digest, "👍")).startswith("Thanks: 👍")
    assert "already" in ephemeral_text(await bot.press(digest, "👍"))
    before = len(bot.discord.sent)
    assert (await bot.press(digest, "Details: GLM-4.7"))["type"] == 6
    await wait_for(lambda: len(bot.discord.sent) > before, within=15)
    assert bot.discord.sent[-1].embeds[0]["title"].startswith("GLM-4.7")
    before = len(bot.discord.sent)
    await bot.discord.user_message("status", channel_id=900, user_id=ADMIN, guild=False)
    await wait_for(lambda: len(bot.discord.sent) > before, within=15)
    status = bot.discord.sent[-1]
    assert "Feedback: 1 👍, 0 👎 on 1 item from 1 chat" in status.text


async def test_more_unfolds_a_card_in_place(bot: Bot) -> None:
    attachment = bot.discord.add_attachment("2026-03.md", long_report())
    await bot.discord.slash(
        "upload",
        [{"name": "report", "type": 11, "value": attachment["id"]}],
        user_id=ADMIN,
        guild=False,
        resolved={"attachments": {attachment["id"]: attachment}},
    )
    await wait_for(lambda: bot.discord.sent, within=15)
    card = await bot.slash("model", "Longwinded-1")
    assert "More" in card.labels()
    assert LONG_PART not in card.text
    unfolded = updated(await bot.press(card, "More"))
    assert LONG_PART in embeds_text(unfolded["embeds"])
    assert "More" not in labels(unfolded)


async def test_open_on_the_web_is_a_link_button(bot: Bot) -> None:
    card = await bot.slash("model", "GLM-4.7")
    web = card.button("Open on the web")
    assert web["style"] == 5
    assert web["url"].startswith(f"{PUBLIC}/web/items/")
    assert "custom_id" not in web
