"""The Lark HTTP callback route against what Feishu (and a forger) posts to it.

Feishu signs every event, but not the ``url_verification`` challenge it posts when the callback
URL is saved: that one comes encrypted and without headers. Refusals are a short 4xx, one log
line a minute per kind and no traceback, from our logger only (never again from lark-oapi's).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels.lark.adapter import LarkChannel
from channels.refusals import Refusal, RefusalLog
from tests.fakes import EchoHandler, wait_for
from tests.fakes.lark import (
    APP_ID,
    APP_SECRET,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FakeLark,
    challenge_request,
    encrypt,
    message_event,
    sign,
    signed_request,
)

Client = TestClient[web.Request, web.Application]
PATH = "/lark/events"
OUR_LOGGER = "channels.lark.callbacks"


@pytest.fixture
async def fake() -> AsyncIterator[FakeLark]:
    async with FakeLark() as server:
        yield server


async def serve(fake: FakeLark, handler: EchoHandler, encrypt_key: str | None) -> LarkChannel:
    lark = LarkChannel(
        APP_ID,
        APP_SECRET,
        verification_token=VERIFICATION_TOKEN,
        encrypt_key=encrypt_key,
        api_url=fake.url,
        drain_timeout=2.0,
    )
    await lark.start(handler)
    return lark


@pytest.fixture
async def client(fake: FakeLark, handler: EchoHandler) -> AsyncIterator[Client]:
    lark = await serve(fake, handler, ENCRYPT_KEY)
    app = web.Application()
    app.add_routes(lark.web_routes())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    await lark.stop()


@pytest.fixture
async def plain_client(fake: FakeLark, handler: EchoHandler) -> AsyncIterator[Client]:
    """HTTP mode with a verification token but no encrypt key: Feishu signs nothing."""
    lark = await serve(fake, handler, None)
    app = web.Application()
    app.add_routes(lark.web_routes())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
    await lark.stop()


async def post(client: Client, request: tuple[bytes, dict[str, str]]) -> tuple[int, dict]:
    body, headers = request
    resp = await client.post(PATH, data=body, headers=headers)
    return resp.status, json.loads(await resp.read())


def deep(levels: int) -> bytes:
    return b'{"encrypt": ' + b"[" * levels + b"]" * levels + b"}"


def garbage() -> str:
    return base64.b64encode(os.urandom(48)).decode()


async def test_the_encrypted_challenge_without_headers_is_answered(
    client: Client, handler: EchoHandler
) -> None:
    body, headers = challenge_request("c-saved-url")
    assert not any(name.startswith("X-Lark") for name in headers)
    assert "c-saved-url" not in body.decode()  # encrypted, as Feishu sends it
    assert await post(client, (body, headers)) == (200, {"challenge": "c-saved-url"})
    assert handler.commands == []


async def test_forged_challenges_are_refused(client: Client) -> None:
    forged = {
        "a wrong token": challenge_request("c-1", token="forged"),
        "another key": challenge_request("c-2", encrypt_key="not-the-key"),
        "garbage ciphertext": challenge_request("c-3", encrypted=garbage()),
        "not base64": challenge_request("c-4", encrypted="%%% not base64 %%%"),
        "too short": challenge_request("c-5", encrypted=base64.b64encode(b"x" * 16).decode()),
        "not encrypted": challenge_request("c-6", encrypt_key=None),
        "no challenge": (
            json.dumps(
                {
                    "encrypt": encrypt(
                        json.dumps({"type": "url_verification", "token": VERIFICATION_TOKEN}),
                        ENCRYPT_KEY,
                    )
                }
            ).encode(),
            {"Content-Type": "application/json"},
        ),
    }
    for name, request in forged.items():
        status, answer = await post(client, request)
        assert 400 <= status < 500, name
        assert "challenge" not in answer, name
        assert answer["msg"].startswith("refused: "), (name, answer)


async def test_an_unsigned_event_is_refused_even_encrypted_with_the_key(
    client: Client, handler: EchoHandler
) -> None:
    event = json.dumps(message_event("/echo unsigned"))
    body = json.dumps({"encrypt": encrypt(event, ENCRYPT_KEY)}).encode()
    headers = {"Content-Type": "application/json"}
    assert (await post(client, (body, headers)))[0] == 401
    partial = sign(body)
    del partial["X-Lark-Signature"]  # a timestamp and nonce are no signature
    assert (await post(client, (body, partial)))[0] == 401
    good = signed_request(message_event("/echo signed"))
    assert (await post(client, good))[0] == 200
    await wait_for(lambda: handler.commands)
    await asyncio.sleep(0.1)
    assert [c.text for c in handler.commands] == ["/echo signed"]


async def test_timestamps_must_be_plain_fresh_seconds(client: Client) -> None:
    event = json.dumps({"encrypt": encrypt(json.dumps(message_event("/echo x")), ENCRYPT_KEY)})
    for stamp in ("nan", "inf", "1e9", "²", "-1", str(int(time.time()) - 301)):
        headers = sign(event.encode(), timestamp=stamp)  # correctly signed, but not fresh
        assert (await post(client, (event.encode(), headers)))[0] == 401, stamp


async def test_the_challenge_without_an_encrypt_key_needs_the_token(plain_client: Client) -> None:
    plain = challenge_request("c-plain", encrypt_key=None)
    assert await post(plain_client, plain) == (200, {"challenge": "c-plain"})
    forged = challenge_request("c-plain", encrypt_key=None, token="forged")
    assert (await post(plain_client, forged))[0] == 401


async def test_malformed_bodies_get_a_short_4xx_and_no_internal_error_text(
    client: Client, plain_client: Client
) -> None:
    nested = deep(3000)
    forged_signature = dict(sign(nested), **{"X-Lark-Signature": "0" * 64})
    cases = {
        "unsigned, 3,000 deep": (client, (nested, {"Content-Type": "application/json"})),
        "signed, 3,000 deep": (client, (nested, sign(nested))),
        "forged signature, 3,000 deep": (client, (nested, forged_signature)),
        "signed, not UTF-8": (client, (b'{"encrypt": "\xff"}', sign(b'{"encrypt": "\xff"}'))),
        "signed, not an object": (client, (b"[]", sign(b"[]"))),
        "signed, decrypts to nonsense": (
            client,
            signed_request({"schema": "2.0", "header": "not an object"}),
        ),
        "plain mode, 3,000 deep": (plain_client, (nested, {"Content-Type": "application/json"})),
        "plain mode, not JSON": (plain_client, (b"{", {"Content-Type": "application/json"})),
    }
    for name, (to, request) in cases.items():
        status, answer = await post(to, request)
        assert 400 <= status < 500, (name, status, answer)
        assert answer["msg"].startswith("refused: "), (name, answer)
        assert "recursion" not in answer["msg"].lower(), name
        assert "Expecting" not in answer["msg"], name  # json's own error text
        assert "line 1" not in answer["msg"], name


async def test_refusals_are_one_line_a_minute_per_kind_without_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    forged_token = message_event("/echo x")
    forged_token["header"]["token"] = "forged"
    nested = deep(3000)
    unsigned = {"Content-Type": "application/json"}
    bursts = [
        (challenge_request("c", token="forged"), "a URL-verification challenge with a wrong"),
        (challenge_request("c", encrypted=garbage()), "an unsigned body that does not decrypt"),
        ((nested, unsigned), "a body of too deeply nested JSON"),
        ((nested, sign(nested)), "a body of too deeply nested JSON"),
        ((nested, dict(sign(nested), **{"X-Lark-Signature": "0" * 64})), "a bad signature"),
        (signed_request(message_event("/echo x"), encrypt_key="not-the-key"), "a bad signature"),
        (signed_request(message_event("/echo x"), timestamp=0), "a stale timestamp"),
        (signed_request(forged_token), "a wrong verification token"),  # the SDK's check
        (signed_request({"schema": "2.0", "header": "x"}), "an event the SDK could not read"),
    ]
    for request, _ in bursts:
        for _ in range(5):  # a burst: answered every time, logged once
            assert 400 <= (await post(client, request))[0] < 500
    records = [r for r in caplog.records if r.name != "aiohttp.access"]
    lines = [r.getMessage() for r in records]
    kinds = list(dict.fromkeys(kind for _, kind in bursts))
    assert len(lines) == len(kinds), lines
    for line, kind in zip(lines, kinds, strict=True):
        assert line.startswith("lark: refused a request (4"), line
        assert f"): {kind}" in line, line
    assert all(r.name == OUR_LOGGER and r.levelno == logging.WARNING for r in records)
    assert all(
        r.exc_info is None and not r.exc_text and "\n" not in r.getMessage() for r in records
    )


async def test_an_event_we_do_not_subscribe_to_is_acknowledged_quietly(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    other = message_event("x")
    other["header"]["event_type"] = "im.message.reaction.created_v1"
    assert await post(client, signed_request(other)) == (200, {"msg": "ignored"})
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_the_sdk_logs_through_the_root_logger_only(caplog: pytest.LogCaptureFixture) -> None:
    """lark-oapi gives its logger a stdout handler of its own and lets it propagate too: each
    SDK line came out twice, once unredacted on the console channel's stdout."""
    import channels.lark.sdk  # noqa: F401 - what removes that handler

    sdk = logging.getLogger("Lark")
    assert sdk.handlers == []
    assert sdk.propagate
    sdk.warning("probe %d", 1)
    assert [r.getMessage() for r in caplog.records if r.name == "Lark"] == ["probe 1"]


async def test_the_refusal_log_counts_what_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.refusals")
    refusals = RefusalLog("lark", log, every=0.2)
    caplog.set_level(logging.WARNING, logger="tests.refusals")
    for _ in range(3):
        refusals.refused(Refusal(401, "a bad signature"))
    refusals.refused(Refusal(400, "a body of bad JSON"))
    await asyncio.sleep(0.25)
    refusals.refused(Refusal(401, "a bad signature"))
    assert [r.getMessage() for r in caplog.records if r.name == "tests.refusals"] == [
        "lark: refused a request (401): a bad signature",
        "lark: refused a request (400): a body of bad JSON",
        "lark: refused a request (401): a bad signature (and 2 more since the last such line)",
    ]
