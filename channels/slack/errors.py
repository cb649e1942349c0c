"""slack_sdk's and aiohttp's errors mapped to the error tree in one table.

Web API errors (``{"ok": false, "error": …}``): ``ratelimited`` or HTTP 429 is a rate limit with
the wait in ``Retry-After``; a chat we may no longer post in is gone; Slack's own failures pass.
A 200 whose body is not Slack's JSON, a 5xx, a timeout waiting for the answer and a dropped
connection may have delivered the post (the client's own connection-error retry is off: the
outbox decides).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from channels.base import ChatGone, MaybeDelivered, RetryLater, SendError, TransientSendError
from channels.sender import ErrorTable, Row

GONE_ERRORS = frozenset(
    {"channel_not_found", "is_archived", "not_in_channel", "account_inactive", "user_disabled"}
)
TRANSIENT_ERRORS = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
#: Failures after the request left: a timeout waiting for the answer, a dropped connection.
MAYBE_SENT = (
    TimeoutError,
    aiohttp.ServerTimeoutError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
)


def error_of(exc: SlackApiError) -> str | None:
    """The Web API's ``error`` of a refused call, if its answer says."""
    data = getattr(exc.response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    return str(error) if error else None


def _status(exc: SlackApiError) -> int:
    response = exc.response
    return int(getattr(response, "status_code", getattr(response, "status", 0)) or 0)


def _what(exc: SlackApiError) -> str:
    return f"slack: {error_of(exc) or _status(exc)}"


def _retry_after(exc: SlackApiError) -> float:
    headers: Any = getattr(exc.response, "headers", None)
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


#: First matching row wins.
TABLE = ErrorTable(
    "slack",
    (
        # A 200 whose body is not Slack's JSON: the post may well have gone through.
        Row(
            SlackApiError,
            lambda e: MaybeDelivered("slack: unreadable answer to a post (HTTP 200)"),
            when=lambda e: _status(e) == 200 and not error_of(e),
        ),
        Row(
            SlackApiError,
            lambda e: RetryLater(_retry_after(e), _what(e)),
            when=lambda e: _status(e) == 429 or error_of(e) == "ratelimited",
        ),
        Row(SlackApiError, lambda e: ChatGone(_what(e)), when=lambda e: error_of(e) in GONE_ERRORS),
        # A server error answered to a request that left: the post may have gone through.
        Row(
            SlackApiError,
            lambda e: MaybeDelivered(f"{_what(e)} after sending"),
            when=lambda e: _status(e) >= 500,
        ),
        Row(
            SlackApiError,
            lambda e: TransientSendError(_what(e)),
            when=lambda e: error_of(e) in TRANSIENT_ERRORS,
        ),
        Row(SlackApiError, lambda e: SendError(_what(e))),
        # The connection never opened: nothing left.
        Row(aiohttp.ConnectionTimeoutError, lambda e: TransientSendError(f"slack: {e!r}")),
        Row(MAYBE_SENT, lambda e: MaybeDelivered(f"slack: {e!r}")),
        Row(
            (SlackClientError, aiohttp.ClientError),
            lambda e: TransientSendError(f"slack: {e!r}"),
        ),
    ),
)


def convert_error(exc: Exception) -> SendError:
    """A slack_sdk / aiohttp error as the error tree's (see :data:`TABLE`)."""
    return TABLE.convert(exc) or TransientSendError(f"slack: {exc!r}")
