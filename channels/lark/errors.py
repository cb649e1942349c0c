"""Feishu's answers mapped to the channel error tree, and how a send is addressed.

Codes (open.feishu.cn, server error codes and im/v1/messages): 99991400 is the API gateway's
per-app rate limit (HTTP 429, or 400 on older APIs), with the wait in ``x-ogw-ratelimit-reset``;
230020 is im's per-chat frequency limit; 230002 means the bot is not in the group (it was
removed), 230013 that the user is outside the bot's availability; 99991661/99991663/99991668 are
refused tenant access tokens. Open API calls either raise (the network, a refused tenant token)
or answer with a failed response: :data:`TABLE` maps both. An answer that is not JSON (the SDK
cannot read it), a server error, a read timeout and a connection dropped after the request left
may have posted the card (``requests`` makes no retries of its own); a connection never made did
not.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests
import urllib3.exceptions
from lark_oapi.core.exception import ObtainAccessTokenException
from lark_oapi.core.model import BaseResponse

from channels.base import ChatGone, MaybeDelivered, RetryLater, SendError, TransientSendError
from channels.sender import ErrorTable, Row

RATE_LIMITED = frozenset({99991400, 230020})
GONE_CODES = frozenset({230002, 230013})
#: The tenant access token was refused: fetch a new one and try again later.
TOKEN_CODES = frozenset({99991661, 99991663, 99991668})
RESET_HEADER = "x-ogw-ratelimit-reset"
#: What an Open API call can raise: the network, or a refused tenant token.
CALL_ERRORS = (requests.RequestException, OSError, ObtainAccessTokenException)


def _left(exc: BaseException) -> bool:
    """Whether ``exc`` came after the request left: a read timeout, a connection dropped while
    waiting for the answer, a body cut short (not a refused or timed-out connect)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        return isinstance(reason, urllib3.exceptions.ProtocolError)
    return False


def _status(response: BaseResponse) -> int:
    return int(getattr(response.raw, "status_code", 0) or 0)


def _what(response: BaseResponse) -> str:
    if response.code is None:
        return f"lark: HTTP {_status(response)}"
    return f"lark: {response.code} {response.msg or ''}".strip()


#: First matching row wins; the last covers every failed answer.
TABLE = ErrorTable(
    "lark",
    (
        Row(CALL_ERRORS, lambda e: MaybeDelivered(f"lark: no answer ({e!r})"), when=_left),
        Row(CALL_ERRORS, lambda e: TransientSendError(f"lark: {e!r}")),
        # The SDK could not read the answer (not JSON): it came, so the request had left.
        Row(json.JSONDecodeError, lambda e: MaybeDelivered(f"lark: unreadable answer ({e!r})")),
        Row(
            BaseResponse,
            lambda r: RetryLater(_reset_seconds(getattr(r.raw, "headers", None)), _what(r)),
            when=lambda r: _status(r) == 429 or r.code in RATE_LIMITED,
        ),
        Row(BaseResponse, lambda r: ChatGone(_what(r)), when=lambda r: r.code in GONE_CODES),
        Row(
            BaseResponse,
            lambda r: MaybeDelivered(f"{_what(r)} after sending"),
            when=lambda r: _status(r) >= 500 or (_status(r) == 200 and r.code is None),
        ),
        Row(
            BaseResponse,
            lambda r: TransientSendError(_what(r)),
            when=lambda r: r.code in TOKEN_CODES or r.code is None,
        ),
        Row(BaseResponse, lambda r: SendError(_what(r))),
    ),
)


def convert_error(response: BaseResponse) -> SendError:
    """A failed SDK response as the error tree's (see :data:`TABLE`)."""
    return TABLE.refused(response)


def _reset_seconds(headers: Any) -> float:
    for key, value in dict(headers or {}).items():
        if str(key).lower() == RESET_HEADER:
            try:
                return max(1.0, float(value))
            except ValueError:
                break
    return 1.0


def receive_id_type(chat_id: str) -> str:
    """How Feishu should read ``chat_id``: a user's open_id/union_id, else a chat id."""
    if chat_id.startswith("ou_"):
        return "open_id"
    if chat_id.startswith("on_"):
        return "union_id"
    return "chat_id"


def idempotency_key(chat_id: str, index: int, content: str) -> str:
    """The ``uuid`` of one card of a send: Feishu posts one message per uuid within an hour."""
    digest = hashlib.sha256(f"{chat_id}\n{index}\n{content}".encode()).hexdigest()
    return digest[:48]  # Feishu takes at most 50 characters
