"""Each platform's SDK failures become the error tree through its one table
(``channels/<name>/errors.py``), built here from the SDKs' own exception and answer objects."""

from __future__ import annotations

import datetime as dtm
import json
from typing import Any

import aiohttp
import httpx
import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from channels.base import (
    ChatGone,
    ChatMoved,
    MaybeDelivered,
    RetryLater,
    SendError,
    TransientSendError,
)
from channels.sender import ErrorTable


def caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def telegram_cases() -> list[tuple[BaseException, type[SendError]]]:
    return [
        (RetryAfter(dtm.timedelta(seconds=3)), RetryLater),
        (ChatMigrated(-1009), ChatMoved),
        (Forbidden("bot was blocked by the user"), ChatGone),
        (BadRequest("Bad Request: chat not found"), ChatGone),
        (BadRequest("Bad Request: message thread not found"), ChatGone),
        (BadRequest("Bad Request: can't parse entities"), SendError),
        (caused(NetworkError("read timed out"), httpx.ReadTimeout("t")), MaybeDelivered),
        (caused(NetworkError("connect failed"), httpx.ConnectError("c")), TransientSendError),
        (NetworkError("Bad Gateway"), TransientSendError),
        (caused(TelegramError("Invalid server response"), ValueError("x")), MaybeDelivered),
        (TelegramError("something else"), SendError),
    ]


@pytest.mark.parametrize(("exc", "becomes"), telegram_cases())
def test_telegram_table(exc: BaseException, becomes: type[SendError]) -> None:
    from channels.telegram.errors import TABLE

    assert type(TABLE.convert(exc)) is becomes


def test_a_telegram_rate_limit_keeps_its_wait_and_a_move_its_new_id() -> None:
    from channels.telegram.errors import TABLE

    later = TABLE.convert(RetryAfter(dtm.timedelta(seconds=7)))
    assert isinstance(later, RetryLater)
    assert later.retry_after == 7.0
    moved = TABLE.convert(ChatMigrated(-1009))
    assert isinstance(moved, ChatMoved)
    assert moved.new_chat_id == "-1009"


def slack_error(status: int, data: Any, headers: dict[str, str] | None = None) -> BaseException:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    response = AsyncSlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/chat.postMessage",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError("refused", response)


def slack_cases() -> list[tuple[BaseException, type[SendError]]]:
    return [
        (slack_error(200, {}), MaybeDelivered),  # a 200 that is not Slack's JSON
        (slack_error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "4"}), RetryLater),
        (slack_error(200, {"ok": False, "error": "channel_not_found"}), ChatGone),
        (slack_error(200, {"ok": False, "error": "is_archived"}), ChatGone),
        # A server error after the post left: it may have gone through.
        (slack_error(503, {"ok": False, "error": "service_unavailable"}), MaybeDelivered),
        (slack_error(200, {"ok": False, "error": "service_unavailable"}), TransientSendError),
        (slack_error(200, {"ok": False, "error": "invalid_blocks"}), SendError),
        (aiohttp.ConnectionTimeoutError(), TransientSendError),
        (aiohttp.ServerDisconnectedError(), MaybeDelivered),
        (TimeoutError(), MaybeDelivered),
        (aiohttp.ClientConnectionError(), TransientSendError),
    ]


@pytest.mark.parametrize(("exc", "becomes"), slack_cases())
def test_slack_table(exc: BaseException, becomes: type[SendError]) -> None:
    from channels.slack.errors import TABLE

    assert type(TABLE.convert(exc)) is becomes


def test_a_slack_rate_limit_waits_what_retry_after_says() -> None:
    from channels.slack.errors import TABLE

    later = TABLE.convert(slack_error(429, {"ok": False}, {"retry-after": "4"}))
    assert isinstance(later, RetryLater)
    assert later.retry_after == 4.0


def lark_answer(status: int, code: int | None, headers: dict[str, str] | None = None) -> Any:
    from lark_oapi.core.model import BaseResponse, RawResponse

    raw = RawResponse()
    raw.status_code = status
    raw.headers = headers or {}
    response = BaseResponse()
    response.raw = raw
    response.code = code
    response.msg = "refused"
    return response


@pytest.mark.parametrize(
    ("answer", "becomes"),
    [
        ((429, 99991400, {"x-ogw-ratelimit-reset": "5"}), RetryLater),
        ((400, 230020, None), RetryLater),
        ((400, 230002, None), ChatGone),
        ((500, 1, None), MaybeDelivered),
        ((400, 99991663, None), TransientSendError),
        ((502, None, None), MaybeDelivered),
        ((200, None, None), MaybeDelivered),
        ((404, None, None), TransientSendError),
        ((400, 230001, None), SendError),
    ],
)
def test_lark_table(answer: tuple[int, int | None, dict[str, str] | None], becomes: type) -> None:
    from channels.lark.errors import TABLE

    assert type(TABLE.refused(lark_answer(*answer))) is becomes


def test_lark_table_maps_a_failed_call_and_keeps_the_reset_wait() -> None:
    import requests
    import urllib3.exceptions

    from channels.lark.errors import TABLE

    assert type(TABLE.convert(requests.ConnectionError("down"))) is TransientSendError
    assert type(TABLE.convert(requests.ConnectTimeout("slow"))) is TransientSendError
    # After the request left: a read timeout, a connection dropped, an answer not JSON.
    assert type(TABLE.convert(requests.ReadTimeout("late"))) is MaybeDelivered
    dropped = requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted."))
    assert type(TABLE.convert(dropped)) is MaybeDelivered
    assert type(TABLE.convert(json.JSONDecodeError("x", "<html>", 0))) is MaybeDelivered
    later = TABLE.refused(lark_answer(429, 99991400, {"X-Ogw-Ratelimit-Reset": "5"}))
    assert isinstance(later, RetryLater)
    assert later.retry_after == 5.0


def test_discord_table_keeps_discord_pys_wait() -> None:
    import discord

    from channels.discord.errors import TABLE

    later = TABLE.convert(discord.RateLimited(42.0))
    assert isinstance(later, RetryLater)
    assert later.retry_after == 42.0
    assert type(TABLE.convert(aiohttp.ClientConnectionError())) is TransientSendError
    refused = aiohttp.ClientConnectorError(Any, OSError(111, "refused"))  # type: ignore[arg-type]
    assert type(TABLE.convert(refused)) is TransientSendError
    assert type(TABLE.convert(aiohttp.ServerDisconnectedError())) is MaybeDelivered
    assert type(TABLE.convert(TimeoutError())) is MaybeDelivered


def test_mapping_raises_ours_from_the_sdks_with_the_parts_sent() -> None:
    table = ErrorTable("x", ())
    from channels.telegram.errors import TABLE

    original = Forbidden("bot was kicked")
    with pytest.raises(ChatGone) as caught, TABLE.mapping(["1", "2"]):
        raise original
    assert caught.value.sent_ids == ("1", "2")
    assert caught.value.__cause__ is original
    # What no row covers is not ours to name: it goes on as it is.
    with pytest.raises(KeyError), table.mapping(["1"]):
        raise KeyError("a bug")
