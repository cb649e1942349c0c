"""SlackChannel in Socket Mode: real slack-bolt and slack_sdk over the fake's websocket."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError

from channels.slack.adapter import SlackChannel
from tests.fakes import EchoHandler, wait_for
from tests.fakes.slack import (
    APP_TOKEN,
    FakeSlack,
    block_actions_body,
    event_body,
    home_opened_event,
    mention_event,
    slash_command_body,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


def socket_channel(fake: FakeSlack, app_token: str = APP_TOKEN) -> SlackChannel:
    return SlackChannel(
        fake.bot_token,
        app_token=app_token,
        api_url=fake.api_url,
        commands=["/echo", "admin"],
        drain_timeout=2.0,
    )


@pytest.fixture
async def channel(fake: FakeSlack, handler: EchoHandler) -> AsyncIterator[SlackChannel]:
    slack = socket_channel(fake)
    await slack.start(handler)
    await wait_for(lambda: fake.sockets)
    yield slack
    await slack.stop()


async def test_start_connects_over_socket_mode(fake: FakeSlack, channel: SlackChannel) -> None:
    assert [method for method, _ in fake.calls] == ["auth.test", "apps.connections.open"]
    assert fake.socket_connects == ["1"]
    assert channel.connected()
    assert channel.web_routes() == []


@pytest.mark.parametrize(
    ("app_token", "error"),
    [("xapp-1-other", "invalid_auth"), ("xoxb-not-an-app-token", "not_allowed_token_type")],
)
async def test_refused_app_token_fails_start(
    fake: FakeSlack, handler: EchoHandler, app_token: str, error: str
) -> None:
    slack = socket_channel(fake, app_token)
    with pytest.raises(SlackApiError) as raised:
        async with asyncio.timeout(5):  # slack_sdk alone would retry forever
            await slack.start(handler)
    assert raised.value.response["error"] == error
    await slack.stop()
    assert fake.socket_connects == []


async def test_slash_command_is_acked_and_answered_via_response_url(
    fake: FakeSlack, channel: SlackChannel, handler: EchoHandler
) -> None:
    body = slash_command_body("/echo", "hello <world> & co", response_url=fake.response_url())
    envelope_id = await fake.socket_send("slash_commands", body)
    await wait_for(lambda: fake.socket_ack(envelope_id))
    assert fake.socket_ack(envelope_id) == {"envelope_id": envelope_id}
    await wait_for(lambda: fake.responses)
    payload = fake.responses[0].payload
    assert payload["response_type"] == "in_channel"
    assert "hello &lt;world&gt; &amp; co" in str(payload["blocks"])
    incoming = handler.commands[0]
    assert (incoming.platform, incoming.chat_id, incoming.user_id) == ("slack", "C0CHAN", "U0USER")
    assert incoming.text == "/echo hello <world> & co"


async def test_app_mention_is_acked_and_answered_in_thread(
    fake: FakeSlack, channel: SlackChannel, handler: EchoHandler
) -> None:
    event = mention_event("echo from a mention")
    envelope_id = await fake.socket_send("events_api", event_body(event, "Ev100"))
    await wait_for(lambda: fake.sent)
    posted = fake.sent[0]
    assert posted.channel == "C0CHAN"
    assert posted.options["thread_ts"] == event["ts"]
    assert "from a mention" in posted.text
    assert handler.commands[0].text == "/echo from a mention"
    await wait_for(lambda: fake.socket_ack(envelope_id))


async def test_redelivered_event_carries_the_same_delivery_id(
    fake: FakeSlack, channel: SlackChannel, handler: EchoHandler
) -> None:
    # Both envelopes are acknowledged; the gateway answers the delivery id once.
    body = event_body(mention_event("echo once"), "Ev200")
    first = await fake.socket_send("events_api", body)
    retry = await fake.socket_send("events_api", body, retry_attempt=1, retry_reason="timeout")
    await wait_for(lambda: fake.socket_ack(first) and fake.socket_ack(retry))
    await wait_for(lambda: len(handler.commands) == 2)
    assert [c.delivery_id for c in handler.commands] == ["slack:Ev200", "slack:Ev200"]


async def test_reconnects_when_slack_asks_to_refresh(
    fake: FakeSlack, channel: SlackChannel, handler: EchoHandler
) -> None:
    await fake.socket_disconnect("refresh_requested")
    await wait_for(lambda: fake.socket_connects == ["1", "2"] and len(fake.sockets) == 1)
    envelope_id = await fake.socket_send("events_api", event_body(mention_event("echo hi"), "Ev3"))
    await wait_for(lambda: fake.sent and fake.socket_ack(envelope_id))
    assert fake.socket_unexpected == []


async def test_stop_closes_the_websocket_cleanly(fake: FakeSlack, handler: EchoHandler) -> None:
    slack = socket_channel(fake)
    await slack.start(handler)
    await wait_for(lambda: fake.sockets)
    await slack.stop()
    await wait_for(lambda: not fake.sockets)
    assert fake.socket_close_codes == [1000]
    assert not slack.connected()
    await asyncio.sleep(0.2)  # nothing reconnects
    assert fake.socket_connects == ["1"]


def _interactive(body: str) -> dict:
    return json.loads(urllib.parse.parse_qs(body)["payload"][0])


async def test_button_press_is_acked_and_answered(
    fake: FakeSlack, channel: SlackChannel, handler: EchoHandler
) -> None:
    body = block_actions_body("/echo pressed", response_url=fake.response_url())
    envelope_id = await fake.socket_send("interactive", _interactive(body))
    await wait_for(lambda: fake.socket_ack(envelope_id))
    await wait_for(lambda: fake.sent)
    assert fake.sent[0].channel == "C0CHAN"
    assert "pressed" in fake.sent[0].text
    action = handler.actions[0]
    assert (action.platform, action.chat_id, action.user_id) == ("slack", "C0CHAN", "U0USER")
    assert action.command == "/echo pressed"
    # a button the handler cannot use gets an ephemeral notice, for the presser only
    stale = block_actions_body("", response_url=fake.response_url())
    await fake.socket_send("interactive", _interactive(stale))
    await wait_for(lambda: fake.responses)
    assert fake.responses[0].payload["response_type"] == "ephemeral"
    assert "stale" in str(fake.responses[0].payload["blocks"])


async def test_home_tab_is_published_when_opened(fake: FakeSlack, channel: SlackChannel) -> None:
    await fake.socket_send("events_api", event_body(home_opened_event("U0HOME"), "EvHome"))
    await fake.socket_send("events_api", event_body(home_opened_event("U0MSG", "messages"), "Ev2"))
    await wait_for(lambda: fake.views)
    await asyncio.sleep(0.2)
    assert [v["user_id"] for v in fake.views] == ["U0HOME"]
    assert "home of U0HOME in None" in str(fake.views[0]["view"]["blocks"])
