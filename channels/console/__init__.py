"""The console: the same commands on stdin/stdout, for the person at this machine."""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel

from channels.base import BuildContext, Channel, PlatformSpec
from digests.message import Message


class ConsoleSettings(BaseModel):
    """``DIGESTBOT_CONSOLE``: on when no chat platform is configured, unless set."""

    console: bool | None = None


def _build(settings: Any, context: BuildContext) -> Channel:
    from channels.console.adapter import ConsoleChannel

    return ConsoleChannel(context.stdin, context.stdout, translate=context.translate)


def _render(message: Message, *, images: bool = True) -> str:
    """The console shows every figure as its link (``images`` changes nothing here)."""
    from channels.console.render import render_console

    return render_console(message, color=sys.stdout.isatty())


def _configured(settings: Any) -> bool | None:
    assert isinstance(settings, ConsoleSettings)
    return settings.console


SPEC = PlatformSpec(
    name="console",
    settings=ConsoleSettings,
    configured=_configured,
    build=_build,
    render=_render,
    admin_example="console:console",
    direct_kind="console",
    local=True,
)
