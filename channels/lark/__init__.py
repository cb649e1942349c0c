"""Feishu/Lark, on the official ``lark-oapi`` SDK (extra ``digestbot[lark]``).

The package is importable without the SDK: :mod:`.settings` and :mod:`.render` are pure, and
:func:`build` imports the adapter (and with it ``lark_oapi``) only when a Lark app is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channels.dedup import FirstSeen
from channels.lark.settings import LarkSettings

if TYPE_CHECKING:
    from channels.lark.adapter import LarkChannel

NAME = "lark"
#: The admin-id form: ``lark:ou_…`` (the user's open_id, as events carry it).
ADMIN_ID_EXAMPLE = "lark:ou_0123abcd"

#: Whether a 429 pauses every chat of the platform, not just the one: Feishu's 429
#: (99991400) is an API's app-wide limit.
PAUSE_PLATFORM_ON_429 = True


def build(settings: LarkSettings, *, first_seen: FirstSeen | None = None) -> LarkChannel:
    """The Lark channel for ``settings`` (imports the SDK)."""
    from channels.lark.adapter import LarkChannel

    return LarkChannel.from_settings(settings, first_seen=first_seen)


__all__ = ["ADMIN_ID_EXAMPLE", "NAME", "PAUSE_PLATFORM_ON_429", "LarkSettings", "build"]
