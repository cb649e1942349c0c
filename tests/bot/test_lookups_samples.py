"""Lookups over the bundled sample reports: these run on every machine, seed or not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.gateway import seed_samples
from bot.store.store import Store
from channels.base import Incoming
from digests.message import Message


@pytest.fixture
def core(store: Store) -> Iterator[Dispatcher]:
    assert seed_samples(store) is not None
    return Dispatcher(Services(store=store))


async def ask(core: Dispatcher, text: str) -> Message:
    reply = await core.on_command(Incoming("slack", "C1", "U1", text, chat_kind="channel"))
    assert reply is not None
    return reply


async def test_model_in_two_months_shows_newest_and_the_other(core: Dispatcher) -> None:
    text = (await ask(core, "/model kimi k2 thinking")).plain()
    assert text.splitlines()[0] == "Kimi-K2-Thinking"
    assert "model · 2026-02" in text
    assert "INT4" in text
    assert "Also in: 2025-12" in text


async def test_close_names_across_months_give_a_pick_list(core: Dispatcher) -> None:
    text = (await ask(core, "/model glm")).plain()
    assert "Which one?" in text
    assert "/model GLM-4.6" in text
    assert "/model GLM-4.7" in text


async def test_search_and_topic_on_samples(core: Dispatcher) -> None:
    assert "DeepSeek-V3.2-Exp" in (await ask(core, "/search sparse attention")).plain()
    topic = (await ask(core, "/topic agent 记忆")).plain()
    assert topic.splitlines()[0] == "Agent 记忆"


async def test_hostile_text_in_a_report_stays_text(core: Dispatcher) -> None:
    from channels.slack.render import render_slack
    from channels.telegram.render import render_telegram

    reply = await ask(core, "/search Best Implementation")
    plain = reply.plain()
    assert "<!channel>" in plain
    assert "<!channel>" not in str(render_slack(reply))
    html = "".join(render_telegram(reply))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
