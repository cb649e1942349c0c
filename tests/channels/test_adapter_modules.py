"""The adapters' side modules (Telegram's presses and inline mode, Slack's presses, Home tab and
threads) reach their adapter only through a protocol of its public methods: no private member of
the channel they are handed, and no import of the adapter, so the two form no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SIDE_MODULES = {
    "channels/telegram/inline.py": "channels.telegram.adapter",
    "channels/slack/home.py": "channels.slack.adapter",
}


def coupling(source: str, adapter: str) -> list[str]:
    """What in ``source`` imports ``adapter`` (anywhere, type-checking blocks included) or
    reads a private member of the ``channel`` it is handed."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported = [node.module or ""]
        elif isinstance(node, ast.Import):
            imported = [a.name for a in node.names]
        else:
            imported = []
        if adapter in imported:
            found.append(f"line {node.lineno}: imports {adapter}")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "channel"
            and node.attr.startswith("_")
        ):
            found.append(f"line {node.lineno}: channel.{node.attr}")
    return found


@pytest.mark.parametrize(("module", "adapter"), sorted(SIDE_MODULES.items()))
def test_side_modules_use_only_the_adapters_public_surface(module: str, adapter: str) -> None:
    assert coupling((ROOT / module).read_text(encoding="utf-8"), adapter) == []


def test_the_check_fails_on_planted_coupling() -> None:
    planted = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from channels.slack.adapter import SlackChannel\n"
        "async def f(channel):\n"
        "    await channel._post('C1')\n"
    )
    assert coupling(planted, "channels.slack.adapter") == [
        "line 3: imports channels.slack.adapter",
        "line 5: channel._post",
    ]
