"""The sender's language and the full-width slash reach the gateway from every adapter."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.console.adapter import ConsoleChannel
from channels.slack.adapter import SlackChannel
from channels.telegram.adapter import TelegramChannel
from tests.fakes import EchoHandler, wait_for
from tests.fakes.slack import FakeSlack, dm_event, event_body, signed_headers, slash_command_body
from tests.fakes.telegram import FakeTelegram

SECRET = "fake-signing-secret"


async def test_telegram_language_code_and_full_width_slash(handler: EchoHandler) -> None:
    async with FakeTelegram() as fake:
        channel = TelegramChannel(
            fake.token,
            base_url=fake.base_url,
            base_file_url=fake.base_file_url,
            commands=[("echo", "Repeat the text")],
            poll_timeout=0.2,
            request_timeout=2.0,
        )
        await channel.start(handler)
        try:
            message = fake.message_dict(111, 111, "private", text="／echo 你好")
            message["from"]["language_code"] = "zh-hans"
            fake.push_update({"message": message})
            fake.user_message(222, 222, "/echo hi")
            await wait_for(lambda: len(fake.sent) == 2)
        finally:
            await channel.stop()
    first, second = handler.commands
    assert (first.text, first.language) == ("/echo 你好", "zh-hans")
    assert (second.text, second.language) == ("/echo hi", None)
    assert fake.sent[0].plain == "你好"


@pytest.fixture
async def slack(handler: EchoHandler) -> AsyncIterator[tuple[FakeSlack, TestClient]]:  # type: ignore[type-arg]
    async with FakeSlack() as fake:
        channel = SlackChannel(
            fake.bot_token, signing_secret=SECRET, api_url=fake.api_url, drain_timeout=2.0
        )
        await channel.start(handler)
        app = web.Application()
        app.add_routes(channel.web_routes())
        async with TestClient(TestServer(app)) as client:
            yield fake, client
        await channel.stop()


async def test_slack_locale_is_asked_once_per_user(
    slack: tuple[FakeSlack, TestClient],  # type: ignore[type-arg]
    handler: EchoHandler,
) -> None:
    fake, client = slack
    fake.add_user("U0ZH")
    fake.users["U0ZH"]["locale"] = "zh-CN"
    bodies = [
        slash_command_body("/echo", "一", response_url=fake.response_url(), user_id="U0ZH"),
        event_body(dm_event("／echo 二", user="U0ZH"), "Ev901"),
        event_body(dm_event("echo three", user="U0EN"), "Ev902"),
    ]
    for n, body in enumerate(bodies, 1):
        resp = await client.post("/slack/events", data=body, headers=signed_headers(SECRET, body))
        assert resp.status == 200
        await wait_for(lambda n=n: len(handler.commands) == n)
    assert [(c.text, c.language) for c in handler.commands] == [
        ("/echo 一", "zh-CN"),
        ("/echo 二", "zh-CN"),
        ("/echo three", None),
    ]
    asked = [p.get("user") for method, p in fake.calls if method == "users.info"]
    assert asked.count("U0ZH") == 1


async def test_console_language_comes_from_the_locale(
    handler: EchoHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    out = io.StringIO()
    channel = ConsoleChannel(io.StringIO("/echo 好\n"), out)
    await channel.start(handler)
    await channel.done.wait()
    assert handler.commands[0].language == "zh_CN"
    assert out.getvalue().startswith("好")  # piped input: no greeting, no prompt
