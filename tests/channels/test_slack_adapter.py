"""SlackChannel end to end: real slack-bolt and slack_sdk against the local fake Web API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.store import Store
from channels.base import ChatGone, Incoming, MaybeDelivered, RetryLater, SendError
from channels.slack.adapter import SlackChannel, command_text
from digests.message import Message
from tests.fakes import EchoHandler, wait_for
from tests.fakes.slack import (
    FakeSlack,
    block_actions_body,
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


async def test_a_shared_file_elsewhere_than_slack_is_not_fetched_with_the_token(
    fake: FakeSlack, client: Client, handler: EchoHandler, caplog: pytest.LogCaptureFixture
) -> None:
    event = fake.file_share_event("2026-02.md", b"# 2026-02")
    event["files"][0]["url_private_download"] = "https://files.evil.example/2026-02.md"
    assert await post_signed(client, event_body(event, "Ev401")) == 200
    await wait_for(lambda: "must come from slack.com" in caplog.text)
    assert handler.uploads == []
    assert fake.downloads == []


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


async def test_send_maps_5xx_to_maybe_delivered(fake: FakeSlack, channel: SlackChannel) -> None:
    fake.fail_next("chat.postMessage", status=503)
    with pytest.raises(MaybeDelivered):
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
    with pytest.raises(MaybeDelivered) as info:
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


# --- hardening: our checks run on the raw request, before anything parses it ------------------


def sign_bytes(
    body: bytes, timestamp: str | None = None, secret: str = SECRET, **headers: str
) -> dict[str, str]:
    """Slack's v0 signature over raw bytes (``signed_headers`` takes text only)."""
    ts = str(int(time.time())) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={mac}"} | headers


async def test_without_a_signing_secret_nothing_is_accepted(fake: FakeSlack) -> None:
    slack = SlackChannel(fake.bot_token, api_url=fake.api_url)  # an empty key signs anything
    handler = EchoHandler()
    await slack.start(handler)
    app = web.Application()
    app.add_routes(slack.web_routes())
    body = slash_command_body("/echo", "x", response_url=fake.response_url())
    async with TestClient(TestServer(app)) as client:
        headers = sign_bytes(body.encode(), secret="", **FORM)
        assert (await client.post("/slack/events", data=body, headers=headers)).status == 401
    await slack.stop()
    assert handler.commands == []


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_TYPE = {"Content-Type": "application/json"}


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "-1", " 1700000000", "9" * 40])
async def test_non_numeric_timestamp_is_refused_not_a_crash(
    fake: FakeSlack, client: Client, handler: EchoHandler, timestamp: str
) -> None:
    body = slash_command_body("/echo", "x", response_url=fake.response_url())
    headers = sign_bytes(body.encode(), timestamp, **FORM)
    assert (await client.post("/slack/events", data=body, headers=headers)).status == 401
    no_timestamp = {"X-Slack-Signature": headers["X-Slack-Signature"]}
    assert (await client.post("/slack/events", data=body, headers=no_timestamp)).status == 401
    assert handler.commands == []


HOSTILE = {
    "bad JSON": (b'{"type": "event_callback", ', JSON_TYPE),
    "JSON that is not an object": (b"[1, 2, 3]", JSON_TYPE),
    "a form without command or payload": (b"a=b&c&&=", FORM),
    "bad JSON in a form payload": (b"payload=%7Bnot+json", FORM),
    "a body that is not UTF-8": (b'{"type": "\xff\xfe"}', JSON_TYPE),
    "too deeply nested JSON": (b'{"a": ' * 100 + b"1" + b"}" * 100, JSON_TYPE),
    "a misshapen field event": (b'{"type": "event_callback", "event": "x"}', JSON_TYPE),
    "block_actions without an action_id in a form payload": (
        b"payload=" + json.dumps({"type": "block_actions", "actions": []}).encode(),
        FORM,
    ),
}


async def test_hostile_signed_bodies_get_400_and_one_log_line_per_kind(
    client: Client, handler: EchoHandler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="channels.slack.inbound")
    for body, headers in HOSTILE.values():
        for _ in range(4):  # a burst: answered every time, logged once
            resp = await client.post(
                "/slack/events", data=body, headers=sign_bytes(body, **headers)
            )
            assert resp.status == 400, (body[:40], await resp.text())
    lines = [r.getMessage() for r in caplog.records if r.name == "channels.slack.inbound"]
    for kind in HOSTILE:
        assert len([line for line in lines if line.endswith(f": {kind}")]) == 1, (kind, lines)
    assert len(lines) == len(HOSTILE)
    assert handler.commands == []


async def test_very_deep_json_is_refused_not_a_recursion_crash(client: Client) -> None:
    body = b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    headers = sign_bytes(body, **JSON_TYPE)
    assert (await client.post("/slack/events", data=body, headers=headers)).status == 400


async def test_a_body_over_the_cap_is_refused_before_it_is_read_whole(client: Client) -> None:
    body = b'{"type": "event_callback", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    headers = sign_bytes(body, **JSON_TYPE)
    declared = await client.post("/slack/events", data=io.BytesIO(body), headers=headers)
    assert declared.status == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = await client.post("/slack/events", data=chunks(), headers=headers)
    assert streamed.status == 413


async def test_slash_text_that_says_payload_is_still_a_command(
    fake: FakeSlack, client: Client, handler: EchoHandler
) -> None:
    # Bolt's own parser took any form containing "payload" for an interactive payload.
    body = slash_command_body("/echo", "payload attacks", response_url=fake.response_url())
    assert await post_signed(client, body) == 200
    await wait_for(lambda: fake.responses)
    assert handler.commands[0].text == "/echo payload attacks"


async def test_mutated_signed_payloads_never_crash_the_endpoint(
    fake: FakeSlack, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Each field of real payloads set to each wrong type: 2xx, 400 or 404, never 5xx or a
    traceback in the log (Bolt's routing and our listeners read these fields)."""
    mention = json.loads(event_body(mention_event("echo hi"), "Ev900"))
    upload = json.loads(event_body(fake.file_share_event("a.md", b"x"), "Ev901"))
    press = block_actions_body("/echo x", response_url=fake.response_url())
    pressed = json.loads(dict(urllib.parse.parse_qsl(press))["payload"])
    for seed, form in ((mention, False), (upload, False), (pressed, True)):
        for path in list(_paths(seed)):
            for wrong in (None, 5, "x", [], {}, [None], {"id": 5}):
                mutated = json.loads(json.dumps(seed))
                _set(mutated, path, wrong)
                text = json.dumps(mutated)
                body = urllib.parse.urlencode({"payload": text}) if form else text
                assert await post_signed(client, body) in (200, 400, 404), (path, wrong)
    await asyncio.sleep(0.3)  # listeners run after the ack
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield from _paths(inner, (*prefix, n))


def _set(value: object, path: tuple[str | int, ...], new: object) -> None:
    for key in path[:-1]:
        value = value[key]  # type: ignore[index]
    value[path[-1]] = new  # type: ignore[index]


# --- once: replays and retries through the real dispatcher's dedup ----------------------------


@pytest.fixture
def dispatcher(tmp_path: Path) -> Iterator[Dispatcher]:
    """The real command core with the gateway's dedup on a real SQLite ``processed_updates``."""
    store = Store.open(f"sqlite:///{tmp_path / 'slack.db'}")

    async def first_seen(key: str) -> bool:
        return await asyncio.to_thread(store.first_seen, key)

    yield Dispatcher(
        Services(store=store), middleware=Dispatcher.standard_middleware(first_seen=first_seen)
    )
    store.close()


@pytest.fixture
async def once(fake: FakeSlack, dispatcher: Dispatcher) -> AsyncIterator[Client]:
    slack = SlackChannel(fake.bot_token, signing_secret=SECRET, api_url=fake.api_url)
    await slack.start(dispatcher)
    app = web.Application()
    app.add_routes(slack.web_routes())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    await slack.stop()


async def test_replayed_slash_command_is_acked_and_answered_once(
    fake: FakeSlack, once: Client
) -> None:
    body = slash_command_body("/help", "", response_url=fake.response_url())
    headers = signed_headers(SECRET, body)
    for _ in range(3):  # the same signed request: Slack never retries a slash command
        assert (await once.post("/slack/events", data=body, headers=headers)).status == 200
    await wait_for(lambda: fake.responses)
    await asyncio.sleep(0.3)
    assert len(fake.responses) == 1
    # The same command typed again is a new request, and is answered.
    again = slash_command_body("/help", "", response_url=fake.response_url())
    assert await post_signed(once, again) == 200
    await wait_for(lambda: len(fake.responses) == 2)


async def test_replayed_button_press_is_answered_once(fake: FakeSlack, once: Client) -> None:
    body = block_actions_body("/help", response_url=fake.response_url())
    headers = signed_headers(SECRET, body)
    for _ in range(3):
        assert (await once.post("/slack/events", data=body, headers=headers)).status == 200
    await wait_for(lambda: fake.sent)
    await asyncio.sleep(0.3)
    assert len(fake.sent) == 1


async def test_retried_event_without_event_id_is_answered_once(
    fake: FakeSlack, once: Client
) -> None:
    envelope = json.loads(event_body(mention_event("help"), "unused"))
    del envelope["event_id"]
    first = json.dumps(envelope)
    retry = json.dumps(envelope | {"event_time": envelope["event_time"] + 7})
    assert await post_signed(once, first) == 200
    assert await post_signed(once, retry, **{"X-Slack-Retry-Num": "1"}) == 200
    await wait_for(lambda: fake.sent)
    await asyncio.sleep(0.3)
    assert len(fake.sent) == 1
    # Another mention in the same channel is another event, and is answered.
    assert await post_signed(once, event_body(mention_event("help"), "Ev777")) == 200
    await wait_for(lambda: len(fake.sent) == 2)
