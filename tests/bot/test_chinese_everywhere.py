"""Everything the bot writes is in the chat's language: every command (and every button press)
over the samples in a chat set to ``zh``, with the web face on, and no English interface word in
what comes back.

An English interface word is a piece of a catalog msgid (the text between its placeholders) that
the Chinese catalog translates, found untranslated in a reply: a string marked but not looked up,
or written a second time unmarked. Report text may be English, so a piece that the samples' own
text contains is not counted; nor is one that its translation keeps (``items=N``, ``/subscribe``).
A second check catches strings never marked at all: an English word of a reply in Chinese that
the same reply in English has too, and that is no report text, command, theme or zone name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bot.commands.dispatch import Dispatcher, default_commands
from bot.commands.services import Services
from bot.i18n import translator
from bot.i18n.catalogs import extract
from bot.store.store import Store
from bot.web.links import WebLinks
from channels.base import Action, Incoming
from digests.message import Message
from tests.bot.test_subscriptions import NOW, ingest_samples
from tests.conftest import SAMPLES

#: Every command at least once, with the mistakes people make, in the order a user might.
ASKED = (
    "hello",
    "/nosuchcommand",
    "/help",
    "/start",
    "/model",
    "/model GLM-4.7",
    "/model glm4.7 2025-12",
    "/model Kimi-K2-Thinking",
    "/model kimi k2",
    "/model llama",
    "/model 2025-12",
    "/model GLM-4.7 2024-01",
    "/model " + "x" * 300,
    "/paper rubrics as rewards",
    "/paper https://z.ai/blog/glm-4.7",
    "/paper https://example.com/nothing",
    "/topic Agent Memory",
    "/topic nosuchtopicatall",
    "/search 蒸馏",
    "/search zzzqqq",
    "/themes",
    "/latest",
    "/latest 2025-12",
    "/latest someday",
    "/highlights",
    "/highlights 2025-12",
    "/reports",
    "/subscriptions",
    "/unsubscribe clay",
    "/subscribe",
    "/subscribe pottery",
    "/subscribe clay funday",
    "/subscribe clay noon",
    "/subscribe clay CST",
    "/subscribe clay items=1000",
    "/subscribe clay 25:00",
    "/subscribe clay tue 08:30 Narnia",
    "/subscribe clay tue wed",
    "/subscribe clay",
    "/subscribe clay fri 21:00 Asia/Shanghai items=3",
    "/subscribe clay fri 21:00 Asia/Shanghai items=3",
    "/subscriptions",
    "/digest clay",
    "/digest hands",
    "/digest pottery",
    "/unsubscribe chisel",
    "/unsubscribe clay",
    "/subscribe clay",
    "/unsubscribe all",
    "/lang",
    "/lang xx",
    "/status",
    "/more /model Kimi-K2-Thinking",
    "/more /status",
    "/results 2 agent",
    "/results x",
    "/feedback 1 up",
    "/feedback 1 up",
    "/feedback 999999 down",
    "/feedback nonsense",
    "/feeds",
    "/feeds revoke",
    "/watch",
    "/watch 长上下文",
    "/watch DeepSeek",
    "/watches",
    "/unwatch DeepSeek",
    "/unwatch nosuchwatch",
    "/unwatch all",
    "/top",
    "/top clay",
    "/top pottery",
)
#: Words that are the same in both languages: zones, units, brands of the interface.
KEPT = {"utc", "asia", "shanghai", "america", "chicago", "riyadh", "halifax", "europe", "berlin"}
KEPT |= {"new_york", "items", "english", "auto", "http", "https", "example", "com", "web", "md"}
KEPT |= {"digest", "sha", "cst", "ast", "digestbot", "region", "city", "jan", "up", "down"}
#: What /subscribe takes as it is, in any language (the days as typed: mon, tuesday).
KEPT |= {"mon", "tue", "wed", "thu", "fri", "sat", "sun", "tuesday"}
#: Words typed as they are (/feeds revoke) and the names of feed formats.
KEPT |= {"revoke", "rss", "atom", "opml"}


def _yes_admin() -> object:
    async def check() -> bool:
        return True

    return check


@pytest.fixture
def core(sqlite_url: str) -> Iterator[Dispatcher]:
    store = Store.open(sqlite_url)
    ingest_samples(store)
    web = WebLinks("https://digest.example.com", b"0123456789abcdef-secret", clock=lambda: 1e9)
    yield Dispatcher(Services(store=store, timezone="UTC", clock=lambda: NOW, web=web))
    store.close()


def shown(message: Message) -> str:
    """Everything a reader sees: the text, the web link and every button's label."""
    return "\n".join([message.plain(), *(b.label for b in message.buttons())])


async def conversation(core: Dispatcher, chat: str, language: str) -> list[tuple[str, str]]:
    """(what was asked, what came back) for :data:`ASKED` and each reply's buttons pressed."""
    out: list[tuple[str, str]] = []

    async def say(text: str) -> Message | None:
        return await core.on_command(
            Incoming(platform="telegram", chat_id=chat, user_id="5", text=text)
        )

    await say(f"/lang {language}")
    for text in ASKED:
        reply = await say(text)
        if reply is None:
            continue
        out.append((text, shown(reply)))
        for button in reply.buttons()[:3]:
            pressed = await core.on_action(
                Action(platform="telegram", chat_id=chat, user_id="5", command=button.command)
            )
            if pressed is not None:
                out.append((f"{text} → [{button.label}]", shown(pressed)))
    return out


def _fragments() -> list[tuple[str, str]]:
    """(piece of an English msgid, its msgid) for every msgid the Chinese catalog translates."""
    zh = translator("zh")
    pieces = []
    for message in extract():
        if not message.id or message.context:
            continue  # patterns (date, list separator) are not words
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for msgid in ids:
            translated = zh.ngettext(ids[0], ids[-1], 1) if len(ids) > 1 else zh.gettext(msgid)
            if translated == msgid:
                continue
            for piece in re.split(r"\{[^}]*\}", msgid):
                piece = piece.strip(" ,.;:—·()“”\n")
                if len(piece) >= 4 and re.search(r"[A-Za-z]{3}", piece) and piece not in translated:
                    pieces.append((piece, msgid))
    return pieces


def _report_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in SAMPLES.glob("*.md"))


def test_the_conversation_covers_every_command() -> None:
    asked = {text.split()[0].lstrip("/") for text in ASKED if text.startswith("/")}
    assert {spec.name for spec in default_commands()} <= asked


async def test_no_catalog_msgid_is_shown_untranslated_in_chinese(core: Dispatcher) -> None:
    report = _report_text()
    pieces = [(p, m) for p, m in _fragments() if p not in report]
    assert len(pieces) > 100  # the check has something to look for
    # a word of its own: not a command (/paper), an argument's name (items=) or part of a word
    patterns = [(re.compile(rf"(?<![\w/]){re.escape(p)}(?![\w=])"), p, m) for p, m in pieces]
    found = []
    for asked, reply in await conversation(core, "81", "zh"):
        found += [
            f"{asked}: {p!r} (of {m!r})" for pattern, p, m in patterns if pattern.search(reply)
        ]
    assert found == [], "\n".join(found)


async def test_no_english_word_of_the_interface_stays_in_chinese(core: Dispatcher) -> None:
    report = _report_text().lower()
    english = dict(await conversation(core, "82", "en"))
    chinese = await conversation(core, "83", "zh")
    commands = set(default_commands().names())
    found = []
    for asked, reply in chinese:
        same = english.get(asked, "")
        for word in set(re.findall(r"(?<![\w/.@=-])[A-Za-z][A-Za-z_]{2,}", reply)):
            low = word.lower()
            typed = low in asked.lower()  # echoed back: the reader's own words
            if typed or low in KEPT or low in commands or low in report or word not in same:
                continue
            found.append(f"{asked}: {word}")
    assert found == [], "\n".join(found)
