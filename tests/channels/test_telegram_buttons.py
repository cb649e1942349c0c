"""TelegramChannel and presses: answered in time, notices as toasts, tokens, topics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from channels.base import Action
from channels.telegram.adapter import TelegramChannel
from digests.message import Actions, Button, Message, Paragraph, Span
from tests.fakes import EchoHandler, wait_for
from tests.fakes.telegram import FakeTelegram, buttons_of


class SlowHandler(EchoHandler):
    """Presses take a second: longer than the channel waits before answering."""

    async def on_action(self, action: Action) -> Message | None:
        await asyncio.sleep(1.0)
        return await super().on_action(action)


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(max_poll_wait=0.2) as server:
        yield server


async def started(fake: FakeTelegram, handler: EchoHandler, **kwargs: object) -> TelegramChannel:
    channel = TelegramChannel(
        fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        poll_timeout=0.2,
        request_timeout=2.0,
        **kwargs,  # type: ignore[arg-type]
    )
    await channel.start(handler)
    return channel


def with_buttons(*buttons: Button) -> Message:
    return Message((Paragraph((Span("pick"),)), Actions(buttons)))


async def test_a_slow_press_is_answered_before_its_reply(fake: FakeTelegram) -> None:
    channel = await started(fake, SlowHandler(), answer_within=0.2)
    try:
        (sent_id,) = await channel.send("77", with_buttons(Button("Go", "/echo done")))
        sent = next(s for s in fake.sent if str(s.message_id) == sent_id)
        fake.press(sent, 77, label="Go")
        await wait_for(lambda: fake.answers, within=5)
        assert not [s for s in fake.sent if s.plain == "done"]  # answered first …
        await wait_for(lambda: [s for s in fake.sent if s.plain == "done"], within=5)  # … then
    finally:
        await channel.stop()


async def test_long_commands_need_a_keeper_and_a_token_comes_back(fake: FakeTelegram) -> None:
    kept: dict[str, str] = {}

    async def keep(command: str) -> str:
        kept[command] = f"T{len(kept)}"
        return kept[command]

    handler = EchoHandler()
    channel = await started(fake, handler, keep_command=keep)
    long = "/echo " + "词" * 30  # 96 bytes
    try:
        await channel.send("78", with_buttons(Button("Long", long), Button("Short", "/echo x")))
        await channel.send("78", with_buttons(Button("Long", long)))
        data = [b["callback_data"] for s in fake.sent for b in buttons_of(s)]
        assert data == ["~T0", "/echo x", "~T0"]
        assert kept == {long: "T0"}  # stored once, remembered after
        fake.press(fake.sent[0], 78, label="Long")
        await wait_for(lambda: handler.actions, within=5)
        assert (handler.actions[0].token, handler.actions[0].command) == ("T0", None)
        await wait_for(lambda: fake.answers, within=5)
        assert fake.answers[0]["text"] == "stale"  # the echo handler knows no tokens
    finally:
        await channel.stop()
    plain = await started(fake, EchoHandler())  # no keeper: a long button is left out
    try:
        await plain.send("79", with_buttons(Button("Long", long), Button("Short", "/echo x")))
        assert [b["text"] for b in buttons_of(fake.sent[-1])] == ["Short"]
    finally:
        await plain.stop()


async def test_press_in_a_topic_answers_in_the_topic(fake: FakeTelegram) -> None:
    handler = EchoHandler()
    channel = await started(fake, handler)
    try:
        await channel.send("-100900/7", with_buttons(Button("Go", "/echo in topic")))
        assert fake.sent[0].options["message_thread_id"] == 7
        fake.press(fake.sent[0], 5, label="Go")
        await wait_for(lambda: len(fake.sent) == 2, within=5)
        assert fake.sent[1].plain == "in topic"
        assert fake.sent[1].options["message_thread_id"] == 7
        assert handler.actions[0].chat_id == "-100900/7"
    finally:
        await channel.stop()


async def test_the_web_link_is_a_url_button_too(fake: FakeTelegram) -> None:
    channel = await started(fake, EchoHandler())
    try:
        message = Message(
            (Paragraph((Span("a card"),)), Actions((Button("Go", "/echo done"),))),
            web_url="https://digest.example.com/web/items/model/glm47",
            web_label="在网页上打开",
        )
        (sent_id,) = await channel.send("77", message)
        sent = next(s for s in fake.sent if str(s.message_id) == sent_id)
        assert buttons_of(sent)[-1] == {
            "text": "在网页上打开",
            "url": "https://digest.example.com/web/items/model/glm47",
        }
        assert buttons_of(sent)[0]["callback_data"] == "/echo done"
        assert "在网页上打开" in sent.plain  # beside the text link, not instead of it
    finally:
        await channel.stop()
