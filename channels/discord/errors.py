"""discord.py's errors mapped to the error tree in one table (see :mod:`channels.sender`).

discord.py retries 429s itself and raises :class:`discord.RateLimited` only for a wait longer
than ``max_ratelimit_timeout``; 403 (Missing Access 50001, Missing Permissions 50013, Cannot
send messages to this user 50007) and 404 (Unknown Channel 10003) mean the chat is gone for us.
"""

from __future__ import annotations

import aiohttp
import discord

from channels.base import ChatGone, RetryLater, SendError, TransientSendError
from channels.sender import ErrorTable, Row


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
        Row((aiohttp.ClientError, TimeoutError), lambda e: TransientSendError(f"discord: {e!r}")),
    ),
)


def convert_error(exc: BaseException) -> SendError:
    """A discord.py / aiohttp error as the error tree's (see :data:`TABLE`)."""
    return TABLE.convert(exc) or TransientSendError(f"discord: {exc!r}")
