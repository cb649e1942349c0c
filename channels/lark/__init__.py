"""Feishu/Lark, on the official ``lark-oapi`` SDK (extra ``digestbot[lark]``): the declaration.

The package is importable without the SDK: :mod:`.settings` and :mod:`.render` are pure, and the
adapter (and with it ``lark_oapi``) is imported only when the channel is built.
"""

from __future__ import annotations

import json
from typing import Any

from channels.base import BuildContext, Channel, PlatformSpec, RateLimits, secret_value
from channels.lark.settings import LarkSettings
from digests.message import Message

#: How people address the bot in a group (a mention), in hints.
MENTION = "@digestbot"


def typed(name: str, arg: str, chat_kind: str, menu: bool) -> str:
    """A command as Lark runs it: in a group the bot hears only messages that mention it
    (``@digestbot search 蒸馏``); a direct chat takes ``/search 蒸馏``."""
    text = f"{name} {arg}" if arg else name
    return f"/{text}" if chat_kind == "private" else f"{MENTION} {text}"


def _own(settings: Any) -> LarkSettings:
    assert isinstance(settings, LarkSettings)
    return settings


def _build(settings: Any, context: BuildContext) -> Channel:
    from channels.lark.adapter import LarkChannel

    return LarkChannel.from_settings(
        _own(settings), pace=context.pace, keep_command=context.keep_command
    )


def _render(message: Message, *, images: bool = True) -> str:
    # Card images need an img_key uploaded first (im/v1/images): figures stay links.
    from channels.lark.render import render_lark

    return json.dumps(render_lark(message), ensure_ascii=False, indent=2)


def _limits(settings: Any) -> RateLimits:
    own = _own(settings)
    return RateLimits(
        global_rate=own.lark_global_rate,
        chat_interval=own.lark_chat_interval,
        # Feishu's 429 (99991400) is an API's app-wide limit: pause every chat.
        pause_platform_on_429=True,
    )


SPEC = PlatformSpec(
    name="lark",
    settings=LarkSettings,
    configured=lambda settings: _own(settings).lark_app_id is not None,
    build=_build,
    render=_render,
    rate_limits=_limits,
    # A user's open_id, as events carry it.
    admin_id=r"ou_[0-9A-Za-z_]+",
    admin_example="lark:ou_0123abcd",
    secrets=lambda settings: [
        secret_value(_own(settings).lark_app_secret),
        secret_value(_own(settings).lark_verification_token),
        secret_value(_own(settings).lark_encrypt_key),
    ],
    direct_kind="private",
    typed=typed,
)

__all__ = ["SPEC", "LarkSettings"]
