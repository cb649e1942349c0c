"""Every command's reply, on the bundled samples, renders as Lark cards and Discord embeds within
those platforms' limits (the real replies, not only generated messages)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.gateway import seed_samples
from bot.store.store import Store
from channels.base import Incoming
from channels.discord.render import render_discord
from channels.lark.render import render_lark
from tests.channels.test_render_discord import assert_payload
from tests.channels.test_render_lark import assert_card


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dispatcher]:
    path: Path = tmp_path_factory.mktemp("replies") / "replies.db"
    store = Store.open(f"sqlite:///{path}")
    seed_samples(store)
    yield Dispatcher(Services(store=store))
    store.close()


@pytest.mark.parametrize(
    "text",
    [
        "/help",
        "/themes",
        "/latest",
        "/model GLM-4.7",
        "/model glm",
        "/paper rubrics as rewards",
        "/topic agent memory",
        "/search 蒸馏",
        "/digest clay",
        "/digest hands",
        "/subscriptions",
    ],
)
def test_reply_renders_on_lark_and_discord(core: Dispatcher, text: str) -> None:
    reply = asyncio.run(
        core.on_command(Incoming("lark", "oc_1", "ou_1", text, chat_kind="private"))
    )
    assert reply is not None
    cards = render_lark(reply)
    payloads = render_discord(reply)
    assert cards
    assert payloads
    for card in cards:
        assert_card(card)
    for payload in payloads:
        assert_payload(payload)
