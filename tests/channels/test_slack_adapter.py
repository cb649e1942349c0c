"""SlackChannel end to end: real slack-bolt and slack_sdk against the local fake Web API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.base import ChatGone, Incoming, RetryLater, SendError, TransientSendError
from channels.slack.adapter import SlackChannel, command_text
from digests.message import Message
from tests.fakes import EchoHandler, wait_for
from tests.fakes.slack import (
    FakeSlack,
    dm_event,
    event_body,
    mention_event,
    signed_headers,
    slash_command_body,
)

SECRET = "fake-signing-secret"
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        yield server


@pytest.fixture
async def channel(fake: FakeSlack, handler: EchoHandler) -> AsyncIterator[SlackChannel]:
    slack = SlackChannel(
        fake.bot_token,
        signing_secret=SECRET,
        api_url=fake.api_url,
        commands=["/echo", "admin"],
        drain_timeout=2.0,
    )
    await slack.start(handler)
    yield slack
    await slack.stop()


@pytest.fixture
async def client(channel: SlackChannel) -> AsyncIterator[Client]:
    app = web.Application()
    app.add_routes(channel.web_routes())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def post_signed(client: Client, body: str, **headers: str) -> int:
    resp = await client.post(
        "/slack/events", data=body, headers=signed_headers(SECRET, body) | headers
    )
    return resp.status


async def test_signed_slash_command_is_acked_and_answered_via_response_url(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    body = slash_command_body("/echo", "hello <world> & co", response_url=fake.response_url())
    started = time.monotonic()
    assert await post_signed(client, body) == 200
    assert time.monotonic() - started < 3
    await wait_for(lambda: fake.responses)
    payload = fake.responses[0].payload
    assert payload["response_type"] == "in_channel"
    assert "hello &lt;world&gt; &amp; co" in str(payload["blocks"])
    incoming = handler.commands[0]
    assert (incoming.platform, incoming.chat_id, incoming.user_id) == ("slack", "C0CHAN", "U0USER")
    assert incoming.text == "/echo hello <world> & co"
    assert incoming.chat_kind == "channel"
    assert await incoming.is_chat_admin() is True


async def test_unregistered_slash_command_is_not_handled(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    body = slash_command_body("/other", "x", response_url=fake.response_url())
    assert await post_signed(client, body) == 404
    assert handler.commands == []


async def test_unsigned_request_is_refused(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    body = slash_command_body("/echo", "x", response_url=fake.response_url())
    resp = await client.post(
        "/slack/events", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status == 401
    wrong = signed_headers("not-the-secret", body)
    assert (await client.post("/slack/events", data=body, headers=wrong)).status == 401
    assert handler.commands == []


async def test_stale_timestamp_is_refused(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    body = slash_command_body("/echo", "x", response_url=fake.response_url())
    stale = signed_headers(SECRET, body, timestamp=int(time.time()) - 301)
    assert (await client.post("/slack/events", data=body, headers=stale)).status == 401
    assert handler.commands == []


async def test_app_mention_is_answered_in_thread(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    event = mention_event("echo from a mention")
    assert await post_signed(client, event_body(event, "Ev100")) == 200
    await wait_for(lambda: fake.sent)
    posted = fake.sent[0]
    assert posted.channel == "C0CHAN"
    assert posted.options["thread_ts"] == event["ts"]
    assert "from a mention" in posted.text
    assert handler.commands[0].text == "/echo from a mention"


async def test_retried_event_carries_the_same_delivery_id(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    # Slack retries an event it thinks was missed; the gateway answers each delivery id once.
    body = event_body(mention_event("echo once"), "Ev200")
    assert await post_signed(client, body) == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert await post_signed(client, body, **retry) == 200
    await wait_for(lambda: len(handler.commands) == 2)
    assert [c.delivery_id for c in handler.commands] == ["slack:Ev200", "slack:Ev200"]


async def test_direct_message_is_a_command(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    assert await post_signed(client, event_body(dm_event("echo in a dm"), "Ev300")) == 200
    await wait_for(lambda: fake.sent)
    assert fake.sent[0].channel == "D0DM"
    assert "thread_ts" not in fake.sent[0].options
    assert handler.commands[0].chat_kind == "im"


async def test_dm_file_share_reaches_handler(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    content = "# 2026-02\n\n蒸馏".encode()
    event = fake.file_share_event("2026-02.md", content)
    assert await post_signed(client, event_body(event, "Ev400")) == 200
    await wait_for(lambda: fake.sent)
    upload, size, data = handler.uploads[0]
    assert (upload.platform, upload.chat_id, upload.filename) == ("slack", "D0DM", "2026-02.md")
    assert size == len(content)
    assert data == content
    assert f"got {len(content)} bytes" in fake.sent[0].text


async def test_non_markdown_file_share_is_ignored(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    event = fake.file_share_event("photo.png", b"png")
    assert await post_signed(client, event_body(event, "Ev500")) == 200
    await asyncio.sleep(0.2)
    assert handler.uploads == []
    assert fake.downloads == []


def test_command_text_from_mentions_and_links() -> None:
    assert command_text("<@UBOT> model GLM-4.7") == "/model GLM-4.7"
    assert command_text("<@UBOT|digestbot>   paper <https://arxiv.org/abs/1|arxiv> &amp; more") == (
        "/paper https://arxiv.org/abs/1 & more"
    )
    assert command_text("<@UBOT>") == "/help"


# --- send() -----------------------------------------------------------------------------------


async def test_send_returns_ts(fake: FakeSlack, channel: SlackChannel) -> None:
    ids = await channel.send("C1", Message.text("hi <!channel>"))
    assert ids == [fake.sent[0].ts]
    assert "&lt;!channel&gt;" in str(fake.sent[0].blocks)


async def test_send_maps_429_to_retry_later_without_sdk_retry(
    fake: FakeSlack, channel: SlackChannel
) -> None:
    fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=7)
    with pytest.raises(RetryLater) as info:
        await channel.send("C1", Message.text("x"))
    assert info.value.retry_after == 7.0
    assert [m for m, _ in fake.calls].count("chat.postMessage") == 1


async def test_send_maps_archived_to_chat_gone(fake: FakeSlack, channel: SlackChannel) -> None:
    fake.archive("C2")
    with pytest.raises(ChatGone, match="is_archived"):
        await channel.send("C2", Message.text("x"))


async def test_send_maps_5xx_to_transient(fake: FakeSlack, channel: SlackChannel) -> None:
    fake.fail_next("chat.postMessage", status=503)
    with pytest.raises(TransientSendError):
        await channel.send("C1", Message.text("x"))


async def test_send_maps_other_api_errors_to_send_error(
    fake: FakeSlack, channel: SlackChannel
) -> None:
    fake.fail_next("chat.postMessage", "invalid_blocks")
    with pytest.raises(SendError, match="invalid_blocks") as info:
        await channel.send("C1", Message.text("x"))
    assert type(info.value) is SendError


async def test_send_failing_mid_way_reports_parts_sent(
    fake: FakeSlack, channel: SlackChannel
) -> None:
    long = Message.text(*(f"paragraph {i} " + "word " * 500 for i in range(40)))
    fake.fail_next("chat.postMessage", delay=0.0)  # the first part goes through
    fake.fail_next("chat.postMessage", status=500)
    with pytest.raises(TransientSendError) as info:
        await channel.send("C1", long)
    assert info.value.sent_ids == (fake.sent[0].ts,)


class GatedHandler(EchoHandler):
    """Holds every command until ``gate`` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def on_command(self, incoming: Incoming) -> Message | None:
        reply = await super().on_command(incoming)
        await self.gate.wait()
        return reply


async def test_stop_waits_for_replies_in_flight(fake: FakeSlack) -> None:
    handler = GatedHandler()
    slack = SlackChannel(fake.bot_token, signing_secret=SECRET, api_url=fake.api_url)
    app = web.Application()
    app.add_routes(slack.web_routes())
    await slack.start(handler)
    async with TestClient(TestServer(app)) as client:
        body = slash_command_body("/echo", "late", response_url=fake.response_url())
        assert await post_signed(client, body) == 200
        await wait_for(lambda: handler.commands)
        stopping = asyncio.create_task(slack.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()
        handler.gate.set()
        await stopping
    assert len(fake.responses) == 1
