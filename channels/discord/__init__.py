"""Discord, on discord.py (extra ``digestbot[discord]``).

The package is importable without discord.py: :mod:`.settings` and :mod:`.render` are pure, and
:func:`build` imports the adapter (and with it ``discord``) only when a bot token is configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from channels.dedup import FirstSeen
from channels.discord.settings import DiscordSettings

if TYPE_CHECKING:
    from channels.discord.adapter import DiscordChannel

NAME = "discord"
#: The admin-id form: ``discord:123456789012345678`` (the user's id, a snowflake).
ADMIN_ID_EXAMPLE = "discord:123456789012345678"

#: Whether a 429 pauses every chat of the platform: no, discord.py keeps Discord's buckets
#: itself, and a 429 that reaches us is one channel's.
PAUSE_PLATFORM_ON_429 = False


def build(
    settings: DiscordSettings,
    *,
    commands: Sequence[tuple[str, str]] = (),
    first_seen: FirstSeen | None = None,
) -> DiscordChannel:
    """The Discord channel for ``settings`` (imports discord.py)."""
    from channels.discord.adapter import DiscordChannel

    return DiscordChannel.from_settings(settings, commands=commands, first_seen=first_seen)


__all__ = ["ADMIN_ID_EXAMPLE", "NAME", "PAUSE_PLATFORM_ON_429", "DiscordSettings", "build"]
