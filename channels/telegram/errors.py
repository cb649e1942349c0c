"""python-telegram-bot's errors mapped to the error tree in one table, and the request class that
tells the sender when the Bot API answered ``ok``.

A ``200 {"ok": true}`` whose ``result`` PTB cannot read (a field missing or of another type)
raises outside ``TelegramError``; :class:`AnswerRequest` reports the ``ok`` answer first, so the
sender counts the message as delivered (:mod:`channels.sender`).
"""

from __future__ import annotations

import datetime as dtm
import json
import warnings
from typing import Any

import httpx
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from channels.base import (
    ChatGone,
    ChatMoved,
    MaybeDelivered,
    RetryLater,
    SendError,
    TransientSendError,
)
from channels.sender import ErrorTable, Row, answer_came

# A deleted forum topic answers "message thread not found": its subscriptions go as a chat's do.
_GONE_BAD_REQUESTS = (
    "chat not found",
    "group chat was deactivated",
    "peer_id_invalid",
    "message thread not found",
)
#: httpx failures before the request could have reached Telegram: a resend cannot duplicate.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.LocalProtocolError)


def retry_after_seconds(exc: RetryAfter) -> float:
    """``retry_after`` in seconds: PTB 22 gives an int (deprecated) or a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: object = exc.retry_after
    if isinstance(value, dtm.timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


def _gone(exc: BadRequest) -> bool:
    return any(s in exc.message.lower() for s in _GONE_BAD_REQUESTS)


def _unreadable(exc: TelegramError) -> bool:
    """A request that left and got no readable answer: a read timeout, a dropped connection,
    or a 200 whose body is not JSON (PTB's "Invalid server response")."""
    cause = exc.__cause__
    if type(exc) is TelegramError:
        return isinstance(cause, ValueError)
    return (
        isinstance(exc, NetworkError)
        and isinstance(cause, httpx.TransportError)
        and not isinstance(cause, _NOT_SENT)
    )


#: PTB's errors, first matching row wins (BadRequest before NetworkError: it subclasses it).
TABLE = ErrorTable(
    "telegram",
    (
        Row(RetryAfter, lambda e: RetryLater(retry_after_seconds(e), e.message)),
        Row(ChatMigrated, lambda e: ChatMoved(str(e.new_chat_id))),
        Row(Forbidden, lambda e: ChatGone(e.message)),
        Row(BadRequest, lambda e: ChatGone(e.message), when=_gone),
        Row(BadRequest, lambda e: SendError(e.message)),
        Row(TelegramError, lambda e: MaybeDelivered(e.message), when=_unreadable),
        Row(NetworkError, lambda e: TransientSendError(e.message)),  # TimedOut, 5xx answers
        Row(TelegramError, lambda e: SendError(e.message)),
    ),
)


def convert_error(exc: TelegramError) -> SendError:
    """A PTB error as the error tree's (see :data:`TABLE`)."""
    error = TABLE.convert(exc)
    assert error is not None  # the last row takes every TelegramError
    return error


class AnswerRequest(HTTPXRequest):
    """PTB's HTTPX request, telling the sender what the Bot API answered: its status (a 5xx
    after sending is "maybe delivered") and whether it said ``ok``."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        answer_came(False, code)
        return code, payload

    def parse_json_payload(self, payload: bytes) -> Any:  # type: ignore[override]
        # As PTB's, without its traceback per unreadable answer: the outbox logs one a row.
        try:
            data = json.loads(payload.decode("utf-8", "replace"))
        except ValueError as exc:
            raise TelegramError("Invalid server response") from exc
        answer_came(isinstance(data, dict) and data.get("ok") is True)
        return data
