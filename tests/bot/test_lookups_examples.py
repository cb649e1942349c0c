"""Every example the README and /help give, run against the bundled samples, finds something real.

The examples are read from the README (code spans that are commands, and the bare arguments in
the commands table's rows such as `glm4.7` for /model) and from the command registry (each
command's example), so a new example is checked as soon as it is written down.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands.dispatch import Dispatcher, default_commands
from bot.commands.services import Services
from bot.gateway import seed_samples
from bot.store.store import Store
from channels.base import Incoming
from digests.message import Heading, Message

README = Path(__file__).parents[2] / "README.md"
# Placeholders in usage lines (`/model NAME`) are not examples.
_PLACEHOLDER = re.compile(
    r"\b(?:NAME|QUERY|TEXT|WORDS|THEME|DAY|HH:MM|TIMEZONE|MONTH|PATH|PLATFORM|CHAT|N)\b"
    r"|…|\[|\]|@yourbot|^/cmd"
)
_CODE = re.compile(r"`([^`\n]+)`")
FAILURES = (
    "No model matches",
    "No paper matches",
    "No topic matches",
    "Nothing matches",
    "Usage:",
    "I don't know",
    "Which one?",
    "No reports yet",
    "for bot admins only",
    "No highlights",
    "There is no report for",
    "report has no",
    "is not a month",
    "No item links",
)
COMMANDS = default_commands()
LOOKUPS = {"model": "model", "paper": "paper", "topic": "topic"}


def readme_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    names = set(COMMANDS.names())
    found: list[str] = []
    for line in text.splitlines():
        row = re.match(r"\|\s*`/(\w+)[^`]*`[^|]*\|(.*)\|\s*$", line)
        for span in _CODE.findall(line):
            span = span.strip()
            command = re.match(r"^/(\w+)", span)
            if command and command.group(1) in names and not _PLACEHOLDER.search(span):
                spec = COMMANDS.get(command.group(1))
                assert spec is not None
                if span != f"/{command.group(1)}" or not spec.needs_arg:  # "a `/search` hint"
                    found.append(span)
            elif (
                row
                and not span.startswith("/")
                and row.group(1) in ("model", "paper", "search")
                and span in row.group(2)
                and not _PLACEHOLDER.search(span)
            ):
                # the commands table's bare arguments: `glm4.7` in the /model row
                found.append(f"/{row.group(1)} {span}")
    return list(dict.fromkeys(found))


def help_examples() -> list[str]:
    return list(dict.fromkeys(spec.example for spec in COMMANDS))


# Discord's option syntax (`/model text:GLM-4.7`) is typed in Discord's client, which sends the
# option's value alone; it is no console input.
EXAMPLES = [e for e in dict.fromkeys(readme_examples() + help_examples()) if " text:" not in e]


def test_the_examples_are_read() -> None:
    # the list itself must not silently shrink to nothing
    for expected in ("/paper GAD", "/paper rubrics as rewards", "/search 卡片盒", "/model glm4.7"):
        assert expected in EXAMPLES
    assert len(EXAMPLES) >= 25


@pytest.fixture
def core(store: Store) -> Iterator[Dispatcher]:
    assert seed_samples(store) is not None
    services = Services(store=store, admins=frozenset({("console", "admin")}))
    return Dispatcher(services)


def titles(store: Store, kind: str) -> set[str]:
    with store.engine.connect() as conn:
        from sqlalchemy import select

        from bot.store.models import ItemRow

        return set(conn.execute(select(ItemRow.title).where(ItemRow.kind == kind)).scalars())


@pytest.mark.parametrize("example", EXAMPLES)
async def test_example_finds_something(core: Dispatcher, store: Store, example: str) -> None:
    reply = await core.on_command(
        Incoming("console", "admin", "admin", example, chat_kind="console")
    )
    assert isinstance(reply, Message)
    text = reply.plain()
    assert text.strip()
    for failure in FAILURES:
        assert failure not in text, f"{example!r} answered: {text[:300]}"
    name = example.split()[0].lstrip("/")
    if name in LOOKUPS:
        # a card: its heading is a real item's title (of that kind, or one the card names)
        head = reply.blocks[0]
        assert isinstance(head, Heading)
        assert head.text in titles(store, LOOKUPS[name]) | titles(store, "model"), text[:300]
    if name == "search":
        assert text.startswith("Search:")
        assert "More: /" in text
