"""The registry of platforms: a new platform is its package under ``channels/`` and one line here.

Each package's ``__init__`` declares a :class:`~channels.base.PlatformSpec` named ``SPEC`` (its
settings, how to build its channel, its rate limits, its admin-id form); importing it never loads
the platform's SDK. This is the only module of ``bot/`` that names platforms.
"""

from __future__ import annotations

import importlib
from functools import cache

from channels.base import PlatformSpec

PLATFORMS = (
    "channels.telegram",
    "channels.slack",
    "channels.lark",
    "channels.discord",
    "channels.console",
)


@cache
def specs() -> tuple[PlatformSpec, ...]:
    """Every registered platform's declaration, in registry order."""
    found = []
    for module in PLATFORMS:
        spec = importlib.import_module(module).SPEC
        if not isinstance(spec, PlatformSpec):
            raise TypeError(f"{module}.SPEC is not a PlatformSpec")
        found.append(spec)
    return tuple(found)


def spec(name: str) -> PlatformSpec | None:
    """The platform called ``name``, or None."""
    return next((s for s in specs() if s.name == name), None)


def local_platforms() -> frozenset[str]:
    """Platforms whose user sits at this machine (the console): bot admins by definition."""
    return frozenset(s.name for s in specs() if s.local)
