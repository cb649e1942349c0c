"""SlackChannel in Socket Mode: real slack-bolt and slack_sdk over the fake's websocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError

from channels.slack.adapter import SlackChannel
from tests.fakes import EchoHandler, wait_for
from tests.fakes.slack import (
    APP_TOKEN,
    FakeSlack,
    event_body,
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
