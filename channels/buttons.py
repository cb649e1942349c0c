"""What a button carries to the platform and back: its command, or a token of it.

A platform's button payload is small (Telegram's ``callback_data`` 64 bytes, Discord's
``custom_id`` 100 characters): a command that fits travels as it is; a longer one is stored by
the gateway (``BuildContext.keep_command``, the ``action_tokens`` table, 30 days) and the button
carries :data:`TOKEN_MARK` and its 12-character token. A press turns the payload back into the
fields of an :class:`~channels.base.Action` (:func:`action_fields`); the dispatcher looks a
token up and answers an unknown or expired one with its "expired" notice. Either way a button
only sends a command that could be typed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

#: Marks a payload that is a token of a stored command, not the command itself.
TOKEN_MARK = "~"
#: How long a stored command's token is reused before it is stored (and its expiry renewed) again.
TOKEN_MEMORY_SECONDS = 3600.0
#: Commands remembered at most (a digest sent to many chats stores its long commands once).
MEMORY_SIZE = 10_000


class ButtonData:
    """Payloads for one platform's buttons.

    Args:
        keep: Stores a command and returns its token (the gateway's); without it, a command
            too long for the payload has no button.
        limit: The payload's size in UTF-8 bytes.
    """

    def __init__(self, keep: Callable[[str], Awaitable[str]] | None, limit: int) -> None:
        self._keep = keep
        self.limit = limit
        self._known: dict[str, tuple[str, float]] = {}

    async def data(self, command: str) -> str | None:
        """The command itself when it fits, else :data:`TOKEN_MARK` and a token of it; None
        when it does not fit and cannot be kept."""
        if len(command.encode()) <= self.limit and not command.startswith(TOKEN_MARK):
            return command
        if self._keep is None:
            return None
        now = time.monotonic()
        known = self._known.get(command)
        if known is None or now - known[1] > TOKEN_MEMORY_SECONDS:
            if len(self._known) > MEMORY_SIZE:
                self._known.clear()
            known = self._known[command] = (await self._keep(command), now)
        return TOKEN_MARK + known[0]


def action_fields(data: str) -> dict[str, str]:
    """The ``command`` or ``token`` of an :class:`~channels.base.Action` for a pressed payload."""
    if data.startswith(TOKEN_MARK):
        return {"token": data[len(TOKEN_MARK) :]}
    return {"command": data}


__all__ = ["TOKEN_MARK", "ButtonData", "action_fields"]
