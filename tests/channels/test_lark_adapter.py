"""LarkChannel end to end: the real lark-oapi SDK against the local fake Open Platform.

HTTP mode: event callbacks encrypted and signed as Feishu does, posted to the adapter's route.
Long connection: the SDK's own websocket client, fed protobuf frames by the fake.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.base import ChatGone, MaybeDelivered, RetryLater, SendError
from channels.lark.adapter import LarkChannel, command_text
from channels.lark.errors import receive_id_type
from digests.message import Message
from tests.fakes import EchoHandler, Fault, wait_for
from tests.fakes.lark import (
    APP_ID,
    APP_SECRET,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FakeLark,
    file_event,
    message_event,
    signed_request,
    wait_connected,
)

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def fake() -> AsyncIterator[FakeLark]:
    async with FakeLark() as server:
        yield server


def http_channel(fake: FakeLark, *, encrypt_key: str | None = ENCRYPT_KEY) -> LarkChannel:
    return LarkChannel(
        APP_ID,
        APP_SECRET,
        verification_token=VERIFICATION_TOKEN,
        encrypt_key=encrypt_key,
        api_url=fake.url,
        drain_timeout=2.0,
    )


@pytest.fixture
async def channel(fake: FakeLark, handler: EchoHandler) -> AsyncIterator[LarkChannel]:
    lark = http_channel(fake)
    await lark.start(handler)
    yield lark
    await lark.stop()


@pytest.fixture
async def client(channel: LarkChannel) -> AsyncIterator[Client]:
    app = web.Application()
    app.add_routes(channel.web_routes())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def post_event(client: Client, event: dict, **kwargs: object) -> int:
    body, headers = signed_request(event, **kwargs)  # type: ignore[arg-type]
    resp = await client.post("/lark/events", data=body, headers=headers)
    return resp.status


async def test_group_mention_is_a_command_answered_with_a_reply_card(
    fake: FakeLark, client: Client, handler: EchoHandler
) -> None:
    event = message_event("echo hello <at id=all></at> & co", mention_bot=True)
    started = time.monotonic()
    assert await post_event(client, event) == 200
    assert time.monotonic() - started < 3
    await wait_for(lambda: fake.sent)
    sent = fake.sent[0]
    assert sent.chat_id == "oc_group"
    assert sent.reply_to == event["event"]["message"]["message_id"]
    assert "&lt;at id=all&gt;&lt;/at&gt; &amp; co" in sent.text
    incoming = handler.commands[0]
    assert (incoming.platform, incoming.chat_id, incoming.user_id) == (
        "lark",
        "oc_group",
        "ou_user",
    )
    assert incoming.text == "/echo hello <at id=all></at> & co"
    assert incoming.chat_kind == "group"


async def test_slash_command_in_group_and_plain_text_in_p2p(
    fake: FakeLark, client: Client, handler: EchoHandler
) -> None:
    assert await post_event(client, message_event("/echo from a group")) == 200
    p2p = message_event("echo in private", chat_id="oc_p2p", chat_type="p2p")
    assert await post_event(client, p2p) == 200
    chatter = message_event("just talking about models")
    assert await post_event(client, chatter) == 200
    await wait_for(lambda: len(fake.sent) >= 2)
    await asyncio.sleep(0.1)
    assert sorted(c.text for c in handler.commands) == ["/echo from a group", "/echo in private"]
    private = [s for s in fake.sent if s.chat_id == "oc_p2p"]
    assert private[0].reply_to is None
    assert private[0].receive_id_type == "chat_id"


async def test_url_verification_answers_the_challenge(client: Client) -> None:
    challenge = {"challenge": "c-123", "token": VERIFICATION_TOKEN, "type": "url_verification"}
    body, headers = signed_request(challenge)
    resp = await client.post("/lark/events", data=body, headers=headers)
    assert resp.status == 200
    assert (await resp.json())["challenge"] == "c-123"


async def test_bad_signature_wrong_key_and_stale_requests_are_refused(
    client: Client, handler: EchoHandler
) -> None:
    event = message_event("/echo x")
    body, headers = signed_request(event)
    tampered = dict(headers, **{"X-Lark-Signature": "0" * 64})
    assert (await client.post("/lark/events", data=body, headers=tampered)).status == 401
    assert await post_event(client, event, encrypt_key="not-the-key") == 401
    old = int(time.time()) - 301
    assert await post_event(client, message_event("/echo x"), timestamp=old) == 401
    unsigned = json.dumps(message_event("/echo x")).encode()
    resp = await client.post(
        "/lark/events", data=unsigned, headers={"Content-Type": "application/json"}
    )
    assert resp.status == 401
    await asyncio.sleep(0.1)
    assert handler.commands == []


async def test_wrong_verification_token_is_refused_without_encryption(
    fake: FakeLark, handler: EchoHandler
) -> None:
    lark = http_channel(fake, encrypt_key=None)
    await lark.start(handler)
    app = web.Application()
    app.add_routes(lark.web_routes())
    async with TestClient(TestServer(app)) as client:
        event = message_event("/echo x")
        event["header"]["token"] = "forged"
        assert await post_event(client, event, encrypt_key=None) == 401
        good = message_event("/echo plain")
        assert await post_event(client, good, encrypt_key=None) == 200
        await wait_for(lambda: fake.sent)
    await lark.stop()
    assert [c.text for c in handler.commands] == ["/echo plain"]


async def test_a_retried_event_carries_its_event_id_as_delivery_id(
    fake: FakeLark, client: Client, handler: EchoHandler
) -> None:
    # The gateway answers each delivery id once (tests/bot/test_gateway_lark_discord.py).
    event = message_event("/echo once", event_id="ev-retried")
    assert await post_event(client, event) == 200
    assert await post_event(client, event) == 200
    await wait_for(lambda: len(handler.commands) == 2)
    assert {c.delivery_id for c in handler.commands} == {"lark:ev-retried"}


async def test_md_file_is_downloaded_through_the_resource_api(
    fake: FakeLark, client: Client, handler: EchoHandler
) -> None:
    content = "# 2026-02\n\n蒸馏".encode()
    assert await post_event(client, file_event(fake, "2026-02.md", content)) == 200
    await wait_for(lambda: fake.sent)
    upload, size, data = handler.uploads[0]
    assert (upload.platform, upload.chat_id, upload.filename) == ("lark", "oc_p2p", "2026-02.md")
    assert size is None
    assert data == content
    assert fake.downloads[0][1] == "file"
    assert f"got {len(content)} bytes" in fake.sent[0].text
    assert await post_event(client, file_event(fake, "photo.png", b"png")) == 200
    await asyncio.sleep(0.1)
    assert len(handler.uploads) == 1


async def test_group_owner_may_manage_others_may_not(
    fake: FakeLark, client: Client, handler: EchoHandler
) -> None:
    fake.owners["oc_group"] = "ou_owner"
    assert await post_event(client, message_event("/admin", sender="ou_owner")) == 200
    assert await post_event(client, message_event("/admin", sender="ou_member")) == 200
    await wait_for(lambda: len(fake.sent) >= 2)
    assert sorted(s.text for s in fake.sent) == ["admin=False", "admin=True"]


def test_command_text_mentions() -> None:
    bot = [("@_user_1", "ou_bot", "digestbot")]
    assert command_text("@_user_1 model GLM-4.7", bot, "ou_bot", False) == "/model GLM-4.7"
    assert command_text("@_user_1", bot, "ou_bot", False) == "/help"
    other = [("@_user_1", "ou_alice", "Alice")]
    assert command_text("@_user_1 model GLM-4.7", other, "ou_bot", False) is None
    assert command_text("/paper x @_user_1", other, "ou_bot", False) == "/paper x @Alice"
    assert command_text("search 蒸馏", [], "ou_bot", True) == "/search 蒸馏"
    many = [("@_user_1", "ou_bot", "digestbot"), ("@_user_10", "ou_10", "Ten")]
    assert command_text("@_user_1 paper x @_user_10", many, "ou_bot", False) == "/paper x @Ten"


def test_receive_id_type() -> None:
    assert receive_id_type("ou_123") == "open_id"
    assert receive_id_type("oc_123") == "chat_id"


# --- send() -----------------------------------------------------------------------------------


async def test_send_posts_cards_and_returns_message_ids(
    fake: FakeLark, channel: LarkChannel
) -> None:
    ids = await channel.send("oc_team", Message.text("hi **there**"))
    assert ids == [fake.sent[0].message_id]
    assert fake.sent[0].card["elements"][0]["content"] == "hi &#42;&#42;there&#42;&#42;"
    notice = await channel.send("ou_admin", Message.text("notice"))
    assert fake.sent[1].receive_id_type == "open_id"
    assert notice == [fake.sent[1].message_id]


async def test_a_retried_send_is_not_posted_twice(fake: FakeLark, channel: LarkChannel) -> None:
    first = await channel.send("oc_team", Message.text("digest"))
    again = await channel.send("oc_team", Message.text("digest"))
    assert first == again
    assert len(fake.sent) == 1


async def test_send_maps_429_to_retry_later(fake: FakeLark, channel: LarkChannel) -> None:
    fake.fail_next("send", 99991400, "request trigger frequency limit", status=429, reset=7)
    with pytest.raises(RetryLater) as info:
        await channel.send("oc_team", Message.text("x"))
    assert info.value.retry_after == 7.0
    fake.fail_next("send", 230020, "This operation triggers the frequency limit.")
    with pytest.raises(RetryLater):
        await channel.send("oc_team", Message.text("y"))


async def test_send_to_a_group_without_the_bot_is_chat_gone(
    fake: FakeLark, channel: LarkChannel
) -> None:
    fake.remove_bot("oc_left")
    with pytest.raises(ChatGone, match="230002"):
        await channel.send("oc_left", Message.text("x"))


async def test_send_maps_5xx_to_maybe_delivered_and_others_to_send_error(
    fake: FakeLark, channel: LarkChannel
) -> None:
    fake.fail_next("send", 1500, "internal error", status=500)
    with pytest.raises(MaybeDelivered):
        await channel.send("oc_team", Message.text("x"))
    fake.fail_next("send", 230001, "invalid request parameter")
    with pytest.raises(SendError, match="230001") as info:
        await channel.send("oc_team", Message.text("x"))
    assert type(info.value) is SendError


async def test_send_failing_mid_way_reports_parts_sent(
    fake: FakeLark, channel: LarkChannel
) -> None:
    long = Message.text(*(f"段落 {i} " + "内容 " * 900 for i in range(12)))
    fake.faults.add("send", Fault(None))
    fake.fail_next("send", 1500, "internal error", status=500)
    with pytest.raises(MaybeDelivered) as info:
        await channel.send("oc_team", long)
    assert info.value.sent_ids == (fake.sent[0].message_id,)


async def test_wrong_app_secret_fails_start(fake: FakeLark, handler: EchoHandler) -> None:
    # Another app id: the SDK caches tenant tokens per app id, process-wide.
    lark = LarkChannel("cli_unknown", "wrong", api_url=fake.url)
    with pytest.raises(RuntimeError, match="DIGESTBOT_LARK_APP_SECRET"):
        await lark.start(handler)


# --- the long connection ----------------------------------------------------------------------


async def test_long_connection_delivers_events_and_acks_frames(
    fake: FakeLark, handler: EchoHandler
) -> None:
    lark = LarkChannel(APP_ID, APP_SECRET, api_url=fake.url, drain_timeout=2.0)
    await lark.start(handler)
    try:
        await wait_connected(fake)
        assert lark.connected()
        event = message_event("echo over the socket", chat_id="oc_p2p", chat_type="p2p")
        await fake.socket_event(event)
        await wait_for(lambda: fake.sent)
        assert "over the socket" in fake.sent[0].text
        await wait_for(lambda: fake.acks)
        assert fake.acks[0]["payload"]["code"] == 200
        assert fake.acks[0]["headers"]["type"] == "event"
    finally:
        await lark.stop()
    assert not lark.connected()
    await asyncio.sleep(0.1)
    assert not fake.socket_connected


async def test_bot_removed_and_unsubscribed_events_are_acknowledged(
    client: Client, handler: EchoHandler
) -> None:
    removed = message_event("x")
    removed["header"]["event_type"] = "im.chat.member.bot.deleted_v1"
    removed["event"] = {"chat_id": "oc_group", "operator_id": {"open_id": "ou_owner"}}
    assert await post_event(client, removed) == 200
    other = message_event("x")
    other["header"]["event_type"] = "im.message.reaction.created_v1"
    body, headers = signed_request(other)
    resp = await client.post("/lark/events", data=body, headers=headers)
    assert resp.status == 200
    assert (await resp.json())["msg"] == "ignored"
    assert handler.commands == []


async def test_long_connection_reconnects_after_a_drop(
    fake: FakeLark, handler: EchoHandler
) -> None:
    lark = LarkChannel(APP_ID, APP_SECRET, api_url=fake.url, drain_timeout=2.0)
    await lark.start(handler)
    try:
        await wait_connected(fake)
        await fake.close_sockets()
        # The SDK reconnects by itself (ReconnectInterval 1 s from the endpoint's ClientConfig),
        # fetching a fresh endpoint in a worker thread.
        await wait_for(lambda: fake.open_sockets == 1, within=10)
        await wait_for(lambda: lark.connected(), within=5)
        await fake.socket_event(message_event("echo again", chat_id="oc_p2p", chat_type="p2p"))
        await wait_for(lambda: fake.sent, within=5)
        assert "again" in fake.sent[0].text
    finally:
        await lark.stop()
