"""discord.py's errors mapped to the channel error tree (see :mod:`channels.base`).

discord.py retries 429s itself and raises :class:`discord.RateLimited` only for a wait longer
than ``max_ratelimit_timeout``; 403 (Missing Access 50001, Missing Permissions 50013, Cannot
send messages to this user 50007) and 404 (Unknown Channel 10003) mean the chat is gone for us.
"""

from __future__ import annotations

import discord

from channels.base import ChatGone, RetryLater, SendError, TransientSendError


def convert_error(exc: BaseException) -> SendError:
    """Map a discord.py / aiohttp error to the channel error tree (see :mod:`channels.base`)."""
    if isinstance(exc, discord.RateLimited):
        return RetryLater(exc.retry_after, f"discord: rate limited for {exc.retry_after:.0f}s")
    if isinstance(exc, discord.Forbidden | discord.NotFound):
        return ChatGone(f"discord: {exc.status} {exc.code} {exc.text}".strip())
    if isinstance(exc, discord.DiscordServerError):
        return TransientSendError(f"discord: {exc.status} {exc.text}".strip())
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:  # a 429 discord.py could not retry (no Via header: a proxy's)
            return RetryLater(1.0, "discord: 429")
        return SendError(f"discord: {exc.status} {exc.code} {exc.text}".strip())
    return TransientSendError(f"discord: {exc!r}")
