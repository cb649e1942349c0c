"""Discord, on discord.py (extra ``digestbot[discord]``): the platform's declaration.

The package is importable without discord.py: :mod:`.settings` and :mod:`.render` are pure, and
the adapter (and with it ``discord``) is imported only when the channel is built.
"""

from __future__ import annotations

import json
from typing import Any

from channels.base import BuildContext, Channel, PlatformSpec, RateLimits, secret_value
from channels.discord.settings import DiscordSettings
from digests.message import Message

#: How people address the bot in a server channel (a mention), in hints.
MENTION = "@digestbot"


def typed(name: str, arg: str, chat_kind: str, menu: bool) -> str:
    """A command as Discord runs it: a slash command takes its argument as the ``text``
    option (``/search text:蒸馏``); a command with no slash command (admins', buttons') is a
    mention in a server channel and plain text in a DM."""
    if menu:
        return f"/{name} text:{arg}" if arg else f"/{name}"
    text = f"{name} {arg}" if arg else name
    return text if chat_kind == "private" else f"{MENTION} {text}"


def _own(settings: Any) -> DiscordSettings:
    assert isinstance(settings, DiscordSettings)
    return settings


def _build(settings: Any, context: BuildContext) -> Channel:
    from channels.discord.adapter import DiscordChannel

    return DiscordChannel.from_settings(
        _own(settings),
        commands=context.menu,
        images=context.images,
        pace=context.pace,
        keep_command=context.keep_command,
    )


def _render(message: Message, *, images: bool = True) -> str:
    from channels.discord.render import render_discord

    return json.dumps(render_discord(message, images=images), ensure_ascii=False, indent=2)


def _limits(settings: Any) -> RateLimits:
    own = _own(settings)
    # A 429 that reaches us is one channel's: discord.py keeps Discord's buckets itself.
    return RateLimits(
        global_rate=own.discord_global_rate, chat_interval=own.discord_channel_interval
    )


SPEC = PlatformSpec(
    name="discord",
    settings=DiscordSettings,
    configured=lambda settings: _own(settings).discord_token is not None,
    build=_build,
    render=_render,
    rate_limits=_limits,
    # A user's id, a snowflake (Developer Mode: Copy User ID).
    admin_id=r"\d+",
    admin_example="discord:123456789012345678",
    secrets=lambda settings: [secret_value(_own(settings).discord_token)],
    direct_kind="private",
    typed=typed,
)

__all__ = ["SPEC", "DiscordSettings"]
