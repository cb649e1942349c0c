"""The registry of platforms: a new platform is its package under ``channels/`` and one line here.

Each package's ``__init__`` declares a :class:`~channels.base.PlatformSpec` named ``SPEC`` (its
settings, how to build its channel, its rate limits, its admin-id form); importing it never loads
the platform's SDK. This is the only module of ``bot/`` that names platforms. It also writes a reply's commands as
each platform runs them (:func:`in_chat_words`), from what each declares (``PlatformSpec.typed``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Collection
from dataclasses import replace
from functools import cache

from channels.base import PlatformSpec
from digests.message import Block, BulletList, Context, Message, Paragraph, Quote, Spans

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


def workspace_of(platform: str, address: str) -> str | None:
    """The workspace a chat or user id of ``platform`` belongs to when one gateway serves
    several (Slack's OAuth distribution: ``T123:C456``); None for one workspace."""
    declared = spec(platform)
    return declared.workspace(address) if declared is not None else None


def local_platforms() -> frozenset[str]:
    """Platforms whose user sits at this machine (the console): bot admins by definition."""
    return frozenset(s.name for s in specs() if s.local)


_TYPED = re.compile(r"^/([a-z_]+)(?:\s+(.*))?$", re.S)


def typed(platform: str, command: str, chat_kind: str, menu: Collection[str] | None = None) -> str:
    """``command`` (``/search 蒸馏``) as a person types it on ``platform`` in a chat of
    ``chat_kind`` (``/digestbot search 蒸馏`` on Slack, ``/search text:蒸馏`` on Discord).

    ``menu`` holds the public commands that platforms register as slash commands (None: any).
    Text that is no command is returned as it is.
    """
    found = _TYPED.match(command.strip())
    declared = spec(platform)
    if found is None or declared is None:
        return command
    name, arg = found.group(1), (found.group(2) or "").strip()
    return declared.typed(name, arg, chat_kind, menu is None or name in menu)


def in_chat_words(
    message: Message, platform: str, chat_kind: str, menu: Collection[str] | None = None
) -> Message:
    """``message`` with every command it shows as text (:attr:`Span.command`) written as the
    platform runs it (:func:`typed`). Buttons keep their commands: a press sends the command
    itself, whatever the platform."""

    def spelled(row: Spans) -> Spans:
        return tuple(
            replace(s, text=typed(platform, s.command, chat_kind, menu))
            if s.command and s.text == s.command
            else s
            for s in row
        )

    blocks: list[Block] = []
    for block in message.blocks:
        match block:
            case Paragraph(spans=s):
                block = Paragraph(spelled(s))
            case Context(spans=s):
                block = Context(spelled(s))
            case Quote(spans=s, expandable=e):
                block = Quote(spelled(s), e)
            case BulletList(items=items):
                block = BulletList(tuple(spelled(item) for item in items))
        blocks.append(block)
    return replace(message, blocks=tuple(blocks))
