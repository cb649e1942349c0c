"""Right, or says so; and search that finds what people half-remember (issue 24).

A handful of the relevance benchmark's behaviours (tests/bench/relevance.py), through the chat
commands over the bundled samples, on SQLite and PostgreSQL, and once through ``digestbot ask``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.store import Store
from channels.base import Incoming
from digests.message import Actions, Heading, Message
from tests.stored import ingest_samples

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def core(store: Store) -> Dispatcher:
    assert ingest_samples(store) is not None  # 2025-12 and 2026-02
    return Dispatcher(Services(store=store))


async def ask(core: Dispatcher, line: str) -> Message:
    reply = await core.on_command(Incoming("console", "me", "me", line, chat_kind="console"))
    assert reply is not None
    return reply


def card_title(message: Message) -> str:
    """The item a card is about; '' when the reply is no card."""
    first = message.blocks[0]
    if isinstance(first, Heading) and not first.text.startswith("Search:"):
        return first.text
    return ""


def buttons(message: Message) -> list[tuple[str, str]]:
    return [
        (b.label, b.command) for a in message.blocks if isinstance(a, Actions) for b in a.buttons
    ]


@pytest.mark.parametrize("name", ["gemini", "gpt5", "qwen2.5", "llama", "GLM-4.8"])
async def test_a_model_not_in_the_reports_is_said_to_be_absent(core: Dispatcher, name: str) -> None:
    reply = await ask(core, f"/model {name}")
    assert card_title(reply) == "", f"/model {name} opened another model's card"
    text = reply.plain()
    assert f"No model “{name}” in the reports." in text
    assert "Several models match" not in text
    assert f"/search {name}" in text


async def test_a_missing_version_lists_the_family_not_another_card(core: Dispatcher) -> None:
    text = (await ask(core, "/model GLM-4.8")).plain()
    assert "Models of that family: /model GLM-4.6, /model GLM-4.7" in text
    # qwen2.5 is not Qwen3-Next: the family is offered, not opened
    qwen = await ask(core, "/model qwen2.5")
    assert card_title(qwen) == ""
    assert "/model Qwen3-Next-80B-A3B" in qwen.plain()


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("glm-47", "GLM-4.7"),
        ("GLM 4.77", "GLM-4.7"),
        ("deepsek v3.2 exp", "DeepSeek-V3.2-Exp"),
        ("qwen3 next", "Qwen3-Next-80B-A3B"),
        ("mistral large", "Mistral Large 3"),
        ("olmo3", "Olmo 3"),
        ("GLM 思考模式", "GLM-4.7"),  # the family by name, the model by its text
    ],
)
async def test_typos_and_half_names_still_open_their_card(
    core: Dispatcher, query: str, title: str
) -> None:
    assert card_title(await ask(core, f"/model {query}")) == title


async def test_a_family_alone_lists_the_family(core: Dispatcher) -> None:
    reply = await ask(core, "/model glm")
    assert "Several models match “glm”. Which one?" in reply.plain()
    assert sorted(cmd for _, cmd in buttons(reply)) == ["/model GLM-4.6", "/model GLM-4.7"]


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("推理强度可调", "/model gpt-oss-120b"),  # words the report writes in another order
        ("虚拟内存 换入换出", "/paper MemGPT"),
        ("蒸馏 判别器", "/paper GAD"),  # 蒸馏 is also "distillation" in the English title
        ("卡片盒笔记", "/paper A-Mem"),
        ("int4 quantization", "/model Kimi-K2-Thinking"),  # stemmed: quantization ~ 量化
        ("self play with zero data", "/paper Absolute Zero"),
        ("distilation", "/paper"),  # a typo of a title word still finds distillation papers
    ],
)
async def test_search_finds_what_people_half_remember(
    core: Dispatcher, query: str, first: str
) -> None:
    reply = await ask(core, f"/search {query}")
    commands = [cmd for _, cmd in buttons(reply) if not cmd.startswith("/results")]
    assert commands, reply.plain()
    assert commands[0].startswith(first), (query, commands)


async def test_search_counts_an_item_once_and_labels_differ(core: Dispatcher) -> None:
    # Kimi-K2-Thinking is in both sample months: one hit
    kimi = await ask(core, "/search int4 quantization")
    opened = [cmd for _, cmd in buttons(kimi) if "Kimi-K2-Thinking" in cmd]
    assert len(opened) == 1
    # each month's "Best Implementation" is its own item: two buttons, two labels
    best = await ask(core, "/search best implementation")
    labels = [label for label, cmd in buttons(best) if cmd.startswith("/highlights")]
    assert len(labels) == 2
    assert len(set(labels)) == 2, labels
    assert sorted(labels) == [
        "Best Implementation (insight, 2025-12)",
        "Best Implementation (insight, 2026-02)",
    ]


async def test_did_you_mean_only_offers_candidates_found(core: Dispatcher) -> None:
    # a hit far ahead of the others is answered with its card, saying it is the closest match
    gad = await ask(core, "/paper 判别器 蒸馏")
    assert card_title(gad).startswith("GAD")
    assert "Closest match for “判别器 蒸馏”" in gad.plain()
    # several found by their text: "Did you mean", not "Several papers match"
    reward = (await ask(core, "/paper reward model")).plain()
    assert "Did you mean one of these? (nothing is named “reward model”)" in reward
    assert "Several papers match" not in reward
    nothing = (await ask(core, "/paper zzqx")).plain()
    assert "No paper matches “zzqx”." in nothing
    assert "Did you mean" not in nothing


def test_digestbot_ask_says_a_model_is_absent(tmp_path: Path) -> None:
    env = {
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'ask.db'}",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(REPO),
    }
    ingest = [sys.executable, "-m", "bot.cli", "ingest", str(REPO / "digests" / "samples")]
    subprocess.run(ingest, env=env, check=True, capture_output=True, cwd=REPO)
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", "/model gemini"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout
    assert "No model “gemini” in the reports." in out
    assert "Minimax" not in out
    assert "═" not in out
