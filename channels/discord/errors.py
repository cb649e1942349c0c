"""discord.py's errors mapped to the error tree in one table (see :mod:`channels.sender`).

discord.py retries 429s itself and raises :class:`discord.RateLimited` only for a wait longer
than ``max_ratelimit_timeout``; 403 (Missing Access 50001, Missing Permissions 50013, Cannot
send messages to this user 50007) and 404 (Unknown Channel 10003) mean the chat is gone for us.

discord.py also tries a request up to five times when Discord answers 500, 502, 504 or 524, each
of which may follow a message Discord posted: :func:`answer_trace` stops that inside a send (the
answer raises :class:`~channels.base.MaybeDelivered` before discord.py sees it), and tells the
sender what came back, so a 200 that is not JSON is "maybe delivered" too. A dropped connection
or a timeout after the request left may have delivered it; one that never connected did not.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import discord

from channels.base import ChatGone, MaybeDelivered, RetryLater, SendError, TransientSendError
from channels.sender import ErrorTable, Row, answer_came

#: Failures before the request could have left: nothing was posted.
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
#: Failures after the request left, with no answer: the message may have been posted.
MAYBE_SENT = (
    TimeoutError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientOSError,
)


def _what(exc: discord.HTTPException) -> str:
    return f"discord: {exc.status} {exc.code} {exc.text}".strip()


#: First matching row wins.
TABLE = ErrorTable(
    "discord",
    (
        Row(
            discord.RateLimited,
            lambda e: RetryLater(e.retry_after, f"discord: rate limited for {e.retry_after:.0f}s"),
        ),
        Row((discord.Forbidden, discord.NotFound), lambda e: ChatGone(_what(e))),
        Row(
            discord.DiscordServerError,
            lambda e: TransientSendError(f"discord: {e.status} {e.text}".strip()),
        ),
        # A 429 discord.py could not retry (no Via header: a proxy's).
        Row(
            discord.HTTPException,
            lambda e: RetryLater(1.0, "discord: 429"),
            when=lambda e: e.status == 429,
        ),
        Row(discord.HTTPException, lambda e: SendError(_what(e))),
        Row(NOT_SENT, lambda e: TransientSendError(f"discord: {e!r}")),
        Row(MAYBE_SENT, lambda e: MaybeDelivered(f"discord: no answer after sending ({e!r})")),
        Row(aiohttp.ClientError, lambda e: TransientSendError(f"discord: {e!r}")),
    ),
)


def convert_error(exc: BaseException) -> SendError:
    """A discord.py / aiohttp error as the error tree's (see :data:`TABLE`)."""
    return TABLE.convert(exc) or TransientSendError(f"discord: {exc!r}")


def answer_trace() -> aiohttp.TraceConfig:
    """The REST session's trace: every answer is told to the sender (``ok``: a 2xx in JSON), and
    a server error inside a send is "maybe delivered" at once, not retried by discord.py."""

    async def on_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        response = params.response
        status = response.status
        ok = 200 <= status < 300 and response.content_type == "application/json"
        if answer_came(ok, status) and status >= 500:
            raise MaybeDelivered(f"discord: HTTP {status} after sending")

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    return trace
