"""The obvious next step is a button: /subscribe, /subscriptions, /latest, a topic's papers, and
"Open on the web" as a link button beside the text link on Telegram and Slack.

Commands run through the real dispatcher over the samples; presses go through ``on_action`` as
the platforms send them; replies are rendered by the real renderers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.store import Store
from bot.web.links import WebLinks
from channels.base import Action, Incoming
from channels.console.render import render_console
from channels.slack.render import render_slack
from channels.telegram.render import render_telegram_parts
from digests.message import Message
from tests.bot.test_subscriptions import NOW, ingest_samples

CHAT = "42"


@pytest.fixture
def core(sqlite_url: str) -> Iterator[Dispatcher]:
    store = Store.open(sqlite_url)
    ingest_samples(store)
    web = WebLinks("https://digest.example.com", b"0123456789abcdef-secret", clock=lambda: 1e9)
    yield Dispatcher(
        Services(store=store, timezone="UTC", clock=lambda: NOW, web=web, language="en")
    )
    store.close()


async def ask(core: Dispatcher, text: str, platform: str = "telegram") -> Message:
    reply = await core.on_command(
        Incoming(platform=platform, chat_id=CHAT, user_id="7", text=text, chat_kind="private")
    )
    assert isinstance(reply, Message)
    return reply


async def press(core: Dispatcher, command: str) -> Message:
    reply = await core.on_action(
        Action(platform="telegram", chat_id=CHAT, user_id="7", command=command)
    )
    assert isinstance(reply, Message)
    return reply


def pairs(message: Message) -> list[tuple[str, str]]:
    return [(b.label, b.command) for b in message.buttons()]


async def test_subscribe_offers_preview_and_unsubscribe(core: Dispatcher) -> None:
    reply = await ask(core, "/subscribe clay")
    assert pairs(reply) == [("Preview", "/digest clay"), ("Unsubscribe", "/unsubscribe clay")]
    preview = await press(core, "/digest clay")
    assert "GLM-4.7" in preview.plain()
    assert "Preview" in preview.plain()
    assert "Unsubscribed this chat from clay" in (await press(core, "/unsubscribe clay")).plain()


async def test_subscriptions_offer_each_ones_preview_and_unsubscribe(core: Dispatcher) -> None:
    await ask(core, "/subscribe clay")
    await ask(core, "/subscribe hands tue")
    reply = await ask(core, "/subscriptions")
    assert pairs(reply) == [
        ("Preview: clay", "/digest clay"),
        ("Unsubscribe: clay", "/unsubscribe clay"),
        ("Preview: hands", "/digest hands"),
        ("Unsubscribe: hands", "/unsubscribe hands"),
    ]
    assert "Unsubscribed this chat from hands" in (await press(core, "/unsubscribe hands")).plain()
    assert [c for _, c in pairs(await ask(core, "/subscriptions"))] == [
        "/digest clay",
        "/unsubscribe clay",
    ]


async def test_latest_offers_each_theme(core: Dispatcher) -> None:
    reply = await ask(core, "/latest")
    commands = [c for _, c in pairs(reply)]
    assert commands, reply.plain()
    assert all(c.startswith("/digest ") for c in commands)
    # one per theme the report lists, each a theme that /digest knows
    assert len(commands) == len(set(commands))
    for command in commands:
        answer = await press(core, command)
        assert "There is no theme" not in answer.plain(), command


async def test_a_topics_papers_are_buttons(core: Dispatcher) -> None:
    card = await ask(core, "/topic Agent Memory")
    papers = [(label, c) for label, c in pairs(card) if c.startswith("/paper ")]
    assert len(papers) >= 2, card.plain()
    label, command = papers[0]
    answer = await press(core, command)
    assert "paper" in answer.plain()
    assert answer.blocks[0].text.split()[0] in label  # type: ignore[union-attr]


async def test_open_on_the_web_is_a_link_button_on_telegram_and_slack(core: Dispatcher) -> None:
    card = await ask(core, "/model GLM-4.7")
    assert card.web_url is not None
    parts = render_telegram_parts(card)
    links = [b for part in parts for row in part.rows for b in row if b.url]
    assert [(b.label, b.url) for b in links] == [("Open on the web", card.web_url)]
    assert "Open on the web" in parts[-1].text  # the text link stays beside it
    elements = [
        e
        for payload in render_slack(card)
        for block in payload["blocks"]
        if block["type"] == "actions"
        for e in block["elements"]
        if "url" in e
    ]
    assert [(e["text"]["text"], e["url"]) for e in elements] == [("Open on the web", card.web_url)]
    assert elements[0]["action_id"].startswith("digestbot-link-")
    assert "value" not in elements[0]
    # the console shows the link as before, and no link button among its numbered choices
    console = render_console(card)
    assert "Open on the web" in console
    assert "] Open on the web" not in console


async def test_the_web_link_and_buttons_are_in_the_chats_language(core: Dispatcher) -> None:
    await ask(core, "/lang zh")
    card = await ask(core, "/model Kimi-K2-Thinking")
    links = [b for part in render_telegram_parts(card) for row in part.rows for b in row if b.url]
    assert [b.label for b in links] == ["在网页上打开"]
    labels = [b.label for b in card.buttons()]
    assert any(label.startswith("也见于 ") for label in labels), labels
    subscribed = await ask(core, "/subscribe clay")
    assert [label for label, _ in pairs(subscribed)] == ["预览", "退订"]
