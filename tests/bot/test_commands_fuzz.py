"""Whatever people type, the command core answers with a message or stays quiet: never an error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands.dispatch import Dispatcher, default_commands
from bot.commands.services import Services
from bot.gateway import seed_samples
from bot.store.store import Store
from channels.base import Incoming
from channels.slack.render import render_slack
from channels.telegram.render import render_telegram


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dispatcher]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    store = Store.open(f"sqlite:///{path}")
    seed_samples(store)
    yield Dispatcher(Services(store=store))
    store.close()


words = st.sampled_from(default_commands().names())
noise = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    command=words,
    argument=noise,
    slash=st.booleans(),
    kind=st.sampled_from(["private", "group", "supergroup", "channel", "im", "console"]),
)
def test_any_argument_gets_an_answer_that_renders(
    core: Dispatcher, command: str, argument: str, slash: bool, kind: str
) -> None:
    text = f"{'/' if slash else ''}{command} {argument}"
    incoming = Incoming("telegram", "-5", "7", text, chat_kind=kind)
    reply = asyncio.run(core.on_command(incoming))
    if reply is None:
        assert not slash
        assert kind not in ("private", "im", "console")
        return
    assert reply.blocks
    for html in render_telegram(reply):
        assert len(html.encode("utf-16-le")) // 2 <= 4096
    for payload in render_slack(reply):
        assert len(payload["blocks"]) <= 50
