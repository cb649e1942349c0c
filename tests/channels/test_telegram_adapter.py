"""TelegramChannel end to end: real python-telegram-bot against the local fake Bot API."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.base import (
    ChatGone,
    ChatMoved,
    MaybeDelivered,
    RetryLater,
    SendError,
)
from channels.telegram.adapter import SECRET_HEADER, TelegramChannel
from digests.message import Message
from tests.fakes import EchoHandler, wait_for
from tests.fakes.telegram import BOT_USER, FakeTelegram
from tests.fakes.telegram_objects import EntityError, parse_html

BOT = BOT_USER["username"]

# PTB 22's own RetryAfter constructor reads its deprecated int-valued ``retry_after`` and warns
# on every 429 (unless PTB_TIMEDELTA=1); the adapter copes with both types.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after`:telegram.warnings.PTBDeprecationWarning"
)


def make_channel(fake: FakeTelegram, **kwargs: Any) -> TelegramChannel:
    options: dict[str, Any] = {"poll_timeout": 0.2, "request_timeout": 10.0} | kwargs
    return TelegramChannel(
        fake.token,
        base_url=fake.base_url,
        base_file_url=fake.base_file_url,
        commands=[("echo", "Repeat the text"), ("admin", "Am I an admin?")],
        **options,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def polling(fake: FakeTelegram, handler: EchoHandler) -> AsyncIterator[TelegramChannel]:
    channel = make_channel(fake)
    await channel.start(handler)
    yield channel
    await channel.stop()


async def test_private_command_is_answered(
    fake: FakeTelegram, polling: TelegramChannel, handler: EchoHandler
) -> None:
    fake.user_message(111, 111, "/echo hello <world>")
    await wait_for(lambda: len(fake.sent) == 1)
    sent = fake.sent[0]
    assert sent.chat_id == 111
    assert sent.plain == "hello <world>"
    assert sent.parse_mode == "HTML"
    assert sent.options["link_preview_options"] == {"is_disabled": True}
    assert "reply_parameters" not in sent.options
    incoming = handler.commands[0]
    assert (incoming.platform, incoming.chat_id, incoming.user_id) == ("telegram", "111", "111")
    assert incoming.chat_kind == "private"
    assert await incoming.is_chat_admin() is True
    assert [c["command"] for c in fake.commands] == ["echo", "admin"]


async def test_group_command_for_us_answered_for_other_bot_ignored(
    fake: FakeTelegram, polling: TelegramChannel, handler: EchoHandler
) -> None:
    fake.user_message(-1001, 7, "/echo@otherbot not for us", chat_type="supergroup")
    update = fake.user_message(-1001, 7, f"/echo@{BOT} for us", chat_type="supergroup")
    await wait_for(lambda: len(fake.sent) == 1)
    await asyncio.sleep(0.1)
    assert [s.plain for s in fake.sent] == ["for us"]
    assert [c.text for c in handler.commands] == ["/echo for us"]
    reply_to = fake.sent[0].options["reply_parameters"]
    assert reply_to["message_id"] == update["message"]["message_id"]
    assert handler.commands[0].chat_kind == "supergroup"


async def test_group_admin_status_comes_from_get_chat_member(
    fake: FakeTelegram, polling: TelegramChannel
) -> None:
    fake.set_member(-5, 1, "administrator")
    fake.user_message(-5, 1, "/admin", chat_type="group")
    fake.user_message(-5, 2, "/admin", chat_type="group")
    await wait_for(lambda: len(fake.sent) == 2)
    assert sorted(s.plain for s in fake.sent) == ["admin=False", "admin=True"]


async def test_channel_post_command_is_answered(
    fake: FakeTelegram, polling: TelegramChannel, handler: EchoHandler
) -> None:
    fake.user_message(-100777, None, "/echo to the channel", chat_type="channel")
    await wait_for(lambda: len(fake.sent) == 1)
    assert fake.sent[0].chat_id == -100777
    assert handler.commands[0].chat_kind == "channel"
    assert handler.commands[0].user_id == "-100777"


async def test_document_upload_reaches_handler_with_size_before_fetch(
    fake: FakeTelegram, polling: TelegramChannel, handler: EchoHandler
) -> None:
    content = "# 2026-02\n\n蒸馏 report".encode()
    fake.document_message(111, 111, "2026-02.md", content)
    fake.document_message(111, 111, "photo.jpg", b"jpeg")  # not a report: ignored
    await wait_for(lambda: len(fake.sent) == 1)
    upload, size, data = handler.uploads[0]
    assert (upload.filename, upload.chat_id, upload.user_id) == ("2026-02.md", "111", "111")
    assert size == len(content)
    assert data == content
    assert fake.sent[0].plain == f"got {len(content)} bytes"
    await asyncio.sleep(0.1)
    assert len(handler.uploads) == 1


async def test_set_my_commands_failure_is_not_fatal(
    fake: FakeTelegram, handler: EchoHandler
) -> None:
    fake.fail_next("setMyCommands", 400, "Bad Request: command is invalid")
    channel = make_channel(fake)
    await channel.start(handler)
    try:
        fake.user_message(111, 111, "/echo still here")
        await wait_for(lambda: len(fake.sent) == 1)
    finally:
        await channel.stop()
    assert fake.sent[0].plain == "still here"


# --- webhook mode -----------------------------------------------------------------------------


@pytest.fixture
async def webhook(
    fake: FakeTelegram, handler: EchoHandler
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    channel = make_channel(
        fake, webhook_url="https://bot.example/tg/hook", webhook_secret="s3cret_token"
    )
    app = web.Application()
    app.add_routes(channel.web_routes())
    await channel.start(handler)
    async with TestClient(TestServer(app)) as client:
        yield client
    await channel.stop()


def update_json(fake: FakeTelegram, update_id: int, text: str) -> dict[str, object]:
    return {"update_id": update_id, "message": fake.message_dict(222, 222, "private", text=text)}


async def test_webhook_with_right_secret_is_handled(
    fake: FakeTelegram, webhook: TestClient[web.Request, web.Application]
) -> None:
    assert fake.webhook == {"url": "https://bot.example/tg/hook", "secret_token": "s3cret_token"}
    resp = await webhook.post(
        "/tg/hook",
        json=update_json(fake, 10, "/echo hooked"),
        headers={SECRET_HEADER: "s3cret_token"},
    )
    assert resp.status == 200
    await wait_for(lambda: len(fake.sent) == 1)
    assert fake.sent[0].plain == "hooked"


async def test_webhook_with_wrong_or_missing_secret_is_refused(
    fake: FakeTelegram, webhook: TestClient[web.Request, web.Application], handler: EchoHandler
) -> None:
    wrong = await webhook.post(
        "/tg/hook", json=update_json(fake, 11, "/echo x"), headers={SECRET_HEADER: "nope"}
    )
    missing = await webhook.post("/tg/hook", json=update_json(fake, 12, "/echo x"))
    assert (wrong.status, missing.status) == (403, 403)
    await asyncio.sleep(0.1)
    assert handler.commands == []


async def test_webhook_refusals_are_short_and_logged_once_a_minute_per_kind(
    fake: FakeTelegram,
    webhook: TestClient[web.Request, web.Application],
    handler: EchoHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A flood of wrong secrets and malformed bodies (issue 30): each a short 4xx naming its
    kind, no internal error's text; one log line per kind, never a traceback."""
    ok = {SECRET_HEADER: "s3cret_token"}
    bodies = [b"{", b"\xff\xfe", b"[1, 2]", b"[" * 3000 + b"]" * 3000]
    with caplog.at_level(logging.WARNING):
        for _ in range(20):
            wrong = await webhook.post("/tg/hook", data=b"{}", headers={SECRET_HEADER: "nope"})
            assert wrong.status == 403
            missing = await webhook.post("/tg/hook", data=b"{}")
            assert missing.status == 403
            for body in bodies:
                resp = await webhook.post("/tg/hook", data=body, headers=ok)
                assert 400 <= resp.status < 500, body[:20]
                text = await resp.text()
                assert len(text) < 120
                assert "Traceback" not in text
                assert "Error" not in text or "(" in text  # a kind's name, not a message
    lines = [r for r in caplog.records if r.name.startswith("channels.telegram")]
    assert all(r.exc_info is None for r in lines)
    kinds = [r.getMessage() for r in lines]
    assert len(kinds) == len(set(kinds))  # each kind once, however many came
    assert 2 <= len(kinds) <= 2 + len(bodies)
    assert handler.commands == []


async def test_webhook_redelivery_carries_the_same_delivery_id(
    fake: FakeTelegram, webhook: TestClient[web.Request, web.Application], handler: EchoHandler
) -> None:
    # Telegram retries an update it thinks was lost; the gateway answers each delivery id once.
    body = update_json(fake, 13, "/echo once")
    for _ in range(3):
        resp = await webhook.post("/tg/hook", json=body, headers={SECRET_HEADER: "s3cret_token"})
        assert resp.status == 200
    other = update_json(fake, 14, "/echo twice")
    resp = await webhook.post("/tg/hook", json=other, headers={SECRET_HEADER: "s3cret_token"})
    assert resp.status == 200
    await wait_for(lambda: len(handler.commands) == 4)
    ids = sorted(str(c.delivery_id) for c in handler.commands)
    assert ids[0] == ids[1] == ids[2] != ids[3]
    assert ids[0].endswith(":13")
    assert ids[3].endswith(":14")


# --- send() error mapping ---------------------------------------------------------------------


async def test_send_returns_message_ids(fake: FakeTelegram, polling: TelegramChannel) -> None:
    ids = await polling.send("333", Message.text("a & b"))
    assert ids == [str(fake.sent[0].message_id)]
    assert fake.sent[0].plain == "a & b"


async def test_send_maps_429_to_retry_later(fake: FakeTelegram, polling: TelegramChannel) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", {"retry_after": 3})
    with pytest.raises(RetryLater) as info:
        await polling.send("333", Message.text("x"))
    assert info.value.retry_after == 3.0
    assert info.value.sent_ids == ()


async def test_send_maps_403_kicked_to_chat_gone(
    fake: FakeTelegram, polling: TelegramChannel
) -> None:
    fake.chat_gone(-42)
    with pytest.raises(ChatGone, match="kicked"):
        await polling.send("-42", Message.text("x"))


async def test_send_maps_400_migrate_to_chat_moved(
    fake: FakeTelegram, polling: TelegramChannel
) -> None:
    fake.migrate(-43, -1000000000043)
    with pytest.raises(ChatMoved) as info:
        await polling.send("-43", Message.text("x"))
    assert info.value.new_chat_id == "-1000000000043"


async def test_send_maps_5xx_to_maybe_delivered(
    fake: FakeTelegram, polling: TelegramChannel
) -> None:
    fake.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(MaybeDelivered):
        await polling.send("333", Message.text("x"))


async def test_send_failing_mid_way_reports_parts_sent(
    fake: FakeTelegram, polling: TelegramChannel
) -> None:
    long = Message.text(*(f"paragraph {i} " + "word " * 150 for i in range(12)))
    fake.fail_next("sendMessage", None)  # the first part goes through
    fake.fail_next("sendMessage", 500, "Internal Server Error")
    with pytest.raises(MaybeDelivered) as info:
        await polling.send("333", long)
    assert info.value.sent_ids == (str(fake.sent[0].message_id),)
    assert len(fake.sent) == 1


async def test_send_maps_other_bad_requests_to_plain_send_error(
    fake: FakeTelegram, polling: TelegramChannel
) -> None:
    fake.fail_next("sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag")
    with pytest.raises(SendError, match="parse entities") as info:
        await polling.send("333", Message.text("x"))
    assert type(info.value) is SendError


async def test_send_timeout_after_sending_is_maybe_delivered(
    fake: FakeTelegram, handler: EchoHandler
) -> None:
    # The request reached the server, the answer came too late: it may have been delivered
    # (issue 16); so may a 5xx answered after it left (issue 30).
    channel = make_channel(fake, request_timeout=0.3)
    await channel.start(handler)
    try:
        fake.fail_next("sendMessage", None, delay=0.6)
        with pytest.raises(MaybeDelivered):
            await channel.send("333", Message.text("x"))
        fake.fail_next("sendMessage", 502, "Bad Gateway")
        with pytest.raises(MaybeDelivered):
            await channel.send("333", Message.text("x"))
        fake.deliver_then_garble("sendMessage")
        with pytest.raises(MaybeDelivered):
            await channel.send("333", Message.text("x"))
    finally:
        await channel.stop()


def test_fake_checks_html_like_telegram() -> None:
    assert parse_html("<b>a &amp; b</b> &lt;br&gt; &#128512;") == "a & b <br> 😀"
    for bad in ("a<br>b", "<b>open", "<i>x</b>", "<p>x</p>", "1 < 2"):
        with pytest.raises(EntityError):
            parse_html(bad)


async def test_webhook_rejects_what_is_not_an_update(
    webhook: TestClient[web.Request, web.Application], handler: EchoHandler
) -> None:
    headers = {SECRET_HEADER: "s3cret_token"}
    assert (await webhook.post("/tg/hook", data="nope", headers=headers)).status == 400
    assert (await webhook.post("/tg/hook", json=["x"], headers=headers)).status == 400
    assert handler.commands == []


HOSTILE_BODIES = {
    "deep array": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "unclosed deep array": b"[" * 1_000_000,  # just under aiohttp's 1 MiB body limit
    # Parses (under Python's recursion limit), yet no update nests 65 levels.
    "deep field in an update": b'{"update_id": 1, "x": ' + b"[" * 65 + b"]" * 65 + b"}",
    "a JSON list": b'[{"update_id": 1}]',
    "a JSON string": b'"update_id"',
    "a JSON number": b"15",
    "null": b"null",
    "invalid UTF-8": b'{"update_id": 1, "x": "\xff\xfe"}',
    "UTF-16": '{"update_id": 1}'.encode("utf-16"),
    "a date no timestamp holds": (
        b'{"update_id": 1, "message": {"message_id": 1, "date": 100000000000000000000,'
        b' "chat": {"id": 1, "type": "private"}}}'
    ),
}


@pytest.mark.parametrize("kind", list(HOSTILE_BODIES))
async def test_webhook_refuses_hostile_bodies_with_400_and_one_log_line(
    fake: FakeTelegram,
    webhook: TestClient[web.Request, web.Application],
    handler: EchoHandler,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    headers = {SECRET_HEADER: "s3cret_token", "Content-Type": "application/json"}
    started = time.perf_counter()
    resp = await webhook.post("/tg/hook", data=HOSTILE_BODIES[kind], headers=headers)
    assert resp.status == 400
    assert time.perf_counter() - started < 2.0
    refusals = [r for r in caplog.records if "telegram: refused a request" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].levelno == logging.WARNING
    assert all(r.exc_info is None and r.levelno < logging.ERROR for r in caplog.records)
    # The webhook still answers the next real update.
    ok = await webhook.post("/tg/hook", json=update_json(fake, 40, "/echo after"), headers=headers)
    assert ok.status == 200
    await wait_for(lambda: len(fake.sent) == 1)
    assert fake.sent[0].plain == "after"
    assert [c.text for c in handler.commands] == ["/echo after"]


async def test_webhook_refuses_a_secret_header_that_is_not_utf8(
    webhook: TestClient[web.Request, web.Application], handler: EchoHandler
) -> None:
    # A raw request: aiohttp's client would not send these header bytes.
    reader, writer = await asyncio.open_connection(webhook.host, webhook.port)
    writer.write(
        b"POST /tg/hook HTTP/1.1\r\nHost: bot\r\nConnection: close\r\n"
        + SECRET_HEADER.encode()
        + b": \xff\xfe\r\nContent-Length: 2\r\n\r\n{}"
    )
    await writer.drain()
    status_line = (await reader.readline()).decode()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == "403"
    assert handler.commands == []


async def test_webhook_refuses_a_body_over_the_size_limit(
    webhook: TestClient[web.Request, web.Application], handler: EchoHandler
) -> None:
    body = b'{"update_id": 1, "x": "' + b"a" * 2_000_000 + b'"}'
    headers = {SECRET_HEADER: "s3cret_token"}
    resp = await webhook.post("/tg/hook", data=io.BytesIO(body), headers=headers)
    assert resp.status == 413
    assert handler.commands == []


async def test_send_skips_parts_already_delivered(
    fake: FakeTelegram, polling: TelegramChannel
) -> None:
    channel = polling
    from digests.cards import model_card
    from tests.channels.sample_items import long_model

    message = model_card(long_model())
    all_ids = await channel.send("31", message)
    assert len(all_ids) >= 3
    whole = [s.plain for s in fake.sent]
    fake.sent.clear()
    rest = await channel.send("31", message, skip=1)
    assert len(rest) == len(all_ids) - 1
    assert [s.plain for s in fake.sent] == whole[1:]
