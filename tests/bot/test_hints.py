"""Hints in each chat's own words: every reply that names a command names it as that platform
runs it, on every platform and in direct chats and groups alike.

Slack keeps ``/search``, ``/topic``, ``/status`` … for itself: there the bot's hints say
``/digestbot search …`` (or a short alias the manifest declares). Discord's slash commands take
their argument as the ``text`` option (``/search text:…``). In a Lark group the bot hears only
messages that mention it (``@digestbot search …``). Telegram and the console take ``/search …``.

Each reply is rendered by the platform's own renderer (buttons left out: a press sends the
command itself, whatever the platform) and every command it shows is checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.commands.dispatch import Dispatcher, default_commands
from bot.commands.home import home_page
from bot.commands.services import Services
from bot.i18n import translator
from bot.platforms import specs
from bot.store.digests import make_digest_due
from bot.store.models import OutboxRow, SubscriptionRow
from bot.store.store import Store
from channels.base import Action, Incoming, PlatformSpec
from channels.layout import WORD_JOINER
from channels.slack import ALIASES, SLACK_BUILTINS
from digests.message import Actions, Message, message_from_json
from tests.bot.test_subscriptions import NOW, ingest_samples

COMMANDS = default_commands()
NAMES = set(COMMANDS.names())
MENU = COMMANDS.menu_names()
#: Commands that take no argument: words after them in a sentence are prose.
BARE = {s.name for s in COMMANDS if " " not in s.usage}
#: Words of the replies' own sentences that may follow a command named alone.
PROSE = {"takes", "to", "for", "lists", "is", "in", "or", "—", "·"}
GROUP_KIND = {"telegram": "supergroup", "slack": "channel", "lark": "group", "discord": "group"}

#: Commands whose replies carry hints, in the order a new user might try them.
ASKED = (
    "hello",
    "/nosuchcommand",
    "/model",
    "/model 2025-12",
    "/model llama",
    "/paper https://example.com/no-such-paper",
    "/model " + "x" * 300,
    "/help",
    "/themes",
    "/latest",
    "/reports",
    "/highlights",
    "/model Kimi-K2-Thinking",
    "/topic Agent Memory",
    "/search 蒸馏",
    "/subscriptions",
    "/unsubscribe chisel",
    "/subscribe clay noon",
    "/subscribe clay",
    "/subscriptions",
    "/unsubscribe chisel",
    "/digest hands",
    "/digest clay",
    "/lang",
    "/lang xx",
    "/status",
)
_COMMAND = re.compile(r"(?<![\w/.:@-])/([a-z_]+)\b(?P<rest> \S+)?")


def _yes() -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return True

    return check


@pytest.fixture
def services(sqlite_url: str) -> Iterator[Services]:
    store = Store.open(sqlite_url)
    ingest_samples(store)
    yield Services(store=store, timezone="UTC", clock=lambda: NOW)
    store.close()


def texts(spec: PlatformSpec, message: Message) -> list[str]:
    """The text a reader sees of ``message`` on ``spec``'s platform, buttons left out."""
    shown = replace(message, blocks=tuple(b for b in message.blocks if not isinstance(b, Actions)))
    rendered = spec.render(shown, images=False)
    try:
        data = json.loads(rendered)
    except ValueError:
        return [rendered.replace(WORD_JOINER, "")]
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in ("value", "url", "image_url", "uuid"):
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    # report text is defused (a word joiner after each @), hints with it: read as people do
    return [t.replace(WORD_JOINER, "") for t in found]


def wrong(platform: str, kind: str, text: str) -> list[str]:
    """The commands in ``text`` that are not as ``platform`` runs them in a ``kind`` chat."""
    out = []
    for found in _COMMAND.finditer(text):
        name, rest = found.group(1), found.group("rest") or ""
        if name not in NAMES and name != "digestbot":
            continue
        shown = found.group(0)
        if platform == "slack":
            if name != "digestbot" and (name not in ALIASES or name in SLACK_BUILTINS):
                out.append(shown)
        elif platform == "discord":
            if name not in MENU:
                out.append(shown)  # no such slash command: a mention or a DM's text instead
            elif (
                rest
                and not rest.startswith(" text:")
                and name not in BARE
                and rest.strip().rstrip(".,") not in PROSE
            ):
                out.append(shown)
        elif platform == "lark":
            if kind != "private":
                out.append(shown)  # a group hears only what mentions the bot
        elif name == "digestbot" or rest.startswith(" text:"):
            out.append(shown)
    if platform == "lark" and kind == "private" and "@digestbot" in text:
        out.append("@digestbot in a direct chat")
    if platform in ("telegram", "console") and "@digestbot" in text:
        out.append("@digestbot")
    return out


def chats(spec: PlatformSpec) -> list[tuple[str, str]]:
    kinds = [("7", spec.direct_kind)]
    if spec.name in GROUP_KIND:
        kinds.append(("-100", GROUP_KIND[spec.name]))
    return kinds


@pytest.mark.parametrize("spec", specs(), ids=lambda s: s.name)
async def test_every_hint_names_the_command_as_the_platform_runs_it(
    services: Services, spec: PlatformSpec
) -> None:
    core = Dispatcher(services)
    problems: list[str] = []
    spelled: set[str] = set()
    for chat_id, kind in chats(spec):
        for text in ASKED:
            reply = await core.on_command(
                Incoming(
                    platform=spec.name,
                    chat_id=chat_id,
                    user_id="5",
                    text=text,
                    chat_kind=kind,
                    is_chat_admin=_yes(),
                )
            )
            if reply is None:
                continue
            for shown in texts(spec, reply):
                problems += [f"{kind} {text!r}: {w}" for w in wrong(spec.name, kind, shown)]
                spelled.update(m.group(0) for m in _COMMAND.finditer(shown))
                if "@digestbot" in shown:
                    spelled.add("@digestbot")
        # a stale button's notice too
        notice = await core.on_action(
            Action(platform=spec.name, chat_id=chat_id, user_id="5", token="gone", chat_kind=kind)
        )
        assert notice is not None
        for shown in texts(spec, notice):
            problems += [f"{kind} stale: {w}" for w in wrong(spec.name, kind, shown)]
    assert problems == []
    # the check saw the platform's own forms, not nothing
    expected = {
        "slack": "/digestbot help",
        "discord": "/search text:",
        "lark": "@digestbot",
        "telegram": "/search",
        "console": "/search",
    }[spec.name]
    assert any(s.startswith(expected.split()[0]) for s in spelled), spelled


@pytest.mark.parametrize(
    ("platform", "kind", "more", "preview"),
    [
        ("slack", "channel", "/model GLM-4.7", "/digest clay"),
        ("discord", "group", "/model text:GLM-4.7", "/digest text:clay"),
        ("lark", "group", "@digestbot model GLM-4.7", "@digestbot digest clay"),
        ("telegram", "supergroup", "/model GLM-4.7", "/digest clay"),
    ],
)
async def test_a_scheduled_digest_speaks_its_platform(
    services: Services, platform: str, kind: str, more: str, preview: str
) -> None:
    core = Dispatcher(services)
    reply = await core.on_command(
        Incoming(
            platform=platform,
            chat_id="-100",
            user_id="5",
            text="/subscribe clay items=1",
            chat_kind=kind,
            is_chat_admin=_yes(),
        )
    )
    assert reply is not None
    assert "Subscribed" in reply.plain()
    store = services.store
    with store.engine.begin() as conn:
        sub = conn.execute(select(SubscriptionRow.id)).scalar_one()
        outbox_id = make_digest_due(conn, sub, NOW, NOW)
        assert outbox_id is not None
        data = conn.execute(select(OutboxRow.message).where(OutboxRow.id == outbox_id)).scalar()
    digest = message_from_json(data if isinstance(data, dict) else json.loads(data))
    text = digest.plain()
    assert f"More: {more}" in text
    assert f"preview: {preview}" in text
    # its buttons still send the command itself
    assert "/model GLM-4.7" in [b.command for b in digest.buttons()]


async def test_the_slack_home_tab_speaks_slack(services: Services) -> None:
    page = home_page(services, "slack", translator("en")).plain()
    assert "No subscriptions yet: send /subscribe clay in a channel." in page
    assert "Everything else: /digestbot help" in page
    assert wrong("slack", "im", page) == []
