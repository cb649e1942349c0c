"""On-demand lookups through the command core, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.store import Store
from channels.base import Incoming
from digests import parse_report
from digests.message import Message


@pytest.fixture
def core(store: Store, seed_path: Path) -> Iterator[Dispatcher]:
    text = seed_path.read_text(encoding="utf-8")
    store.ingest(parse_report(text, "2026-01.md"), text)
    return Dispatcher(Services(store=store))


async def ask(core: Dispatcher, text: str, *, chat_kind: str = "private") -> Message:
    reply = await core.on_command(Incoming("telegram", "42", "42", text, chat_kind=chat_kind))
    assert reply is not None
    return reply


def heading(message: Message) -> str:
    return message.plain().splitlines()[0]


@pytest.mark.parametrize(
    "query", ["GLM-4.7", "glm4.7", "GLM 4.7", "glm-4.7", "  GLM-4.7  ", "glm 47"]
)
async def test_model_matches_loosely(core: Dispatcher, query: str) -> None:
    reply = await ask(core, f"/model {query}")
    assert heading(reply) == "GLM-4.7"
    assert "z.ai/blog/glm-4.7" in reply.plain()


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("kimi k2", "Kimi-K2"),
        ("deepseek v3.2", "DeepSeek V3.2"),
        ("minimax m2", "Minimax-M2"),
        ("DeepSeek-V3.2", "DeepSeek V3.2"),
        ("longcat flash omni", "LongCat-flash-Omni"),
        ("mimo v2 flash", "MiMo-V2-Flash"),
        ("GLM-4.77", "GLM-4.7"),
    ],
)
async def test_model_names_variants(core: Dispatcher, query: str, title: str) -> None:
    assert heading(await ask(core, f"/model {query}")) == title


async def test_model_card_has_every_labelled_part(core: Dispatcher) -> None:
    text = (await ask(core, "/model Kimi-K2")).plain()
    for label in ("[Infra] 超大 MoE + 长上下文训练形态", "[Data]", "[Train]", "代价/约束"):
        assert label in text
    assert "2026-01" in text


async def test_ambiguous_model_gives_a_pick_list(core: Dispatcher) -> None:
    text = (await ask(core, "/model deepseek")).plain()
    assert "Which one?" in text
    assert "/model DeepSeek-OCR" in text
    assert "/model DeepSeek V3.2" in text


async def test_unknown_model_hints_search_and_suggests_only_close_names(core: Dispatcher) -> None:
    text = (await ask(core, "/model gpt-9 turbo")).plain()
    assert "No model “gpt-9 turbo” in the reports." in text
    assert "Closest" not in text  # nothing in the report is anywhere near it
    assert "/search gpt-9 turbo" in text
    # a typo of a family opens its only model, saying it is the closest match
    reply = await ask(core, "/model minimaks")
    assert heading(reply) == "Minimax-M2"
    assert "Closest match for “minimaks”" in reply.plain()


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("GAD", "GAD Black-Box On-Policy Distillation"),
        ("A-Mem", "A-Mem: Agentic Memory for LLM Agents"),
        ("Rubrics as Rewards", "Rubrics as Rewards"),
        ("rubrics as rewards", "Rubrics as Rewards"),
        ("https://arxiv.org/abs/2507.17746", "Rubrics as Rewards"),
        ("http://arxiv.org/pdf/2507.17746v2", "Rubrics as Rewards"),
    ],
)
async def test_paper_by_short_name_title_or_link(core: Dispatcher, query: str, title: str) -> None:
    reply = await ask(core, f"/paper {query}")
    assert heading(reply) == title
    assert "场景/问题" in reply.plain()


@pytest.mark.parametrize("query", ["SAGE", "DMAD"])
async def test_paper_by_acronym_in_text(core: Dispatcher, query: str) -> None:
    text = (await ask(core, f"/paper {query}")).plain()
    assert query in text
    assert "No paper matches" not in text


async def test_topic_card_lists_its_papers(core: Dispatcher) -> None:
    reply = await ask(core, "/topic Agent Memory")
    text = reply.plain()
    assert heading(reply) == "Agent Memory"
    assert "General Agentic Memory via Deep Research" in text
    assert "G-Memory" in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("卡片盒", "A-Mem: Agentic Memory for LLM Agents"),
        ("蒸馏", "On policy Distillation"),
        ("sparse attention", "DeepSeek V3.2"),
    ],
)
async def test_search_finds_cjk_and_english(core: Dispatcher, query: str, expected: str) -> None:
    assert expected in (await ask(core, f"/search {query}")).plain()


async def test_search_distillation_finds_the_distillation_papers(core: Dispatcher) -> None:
    text = (await ask(core, "/search 蒸馏")).plain()
    assert "GAD Black-Box On-Policy Distillation" in text


async def test_themes_and_latest(core: Dispatcher) -> None:
    themes = (await ask(core, "/themes")).plain()
    for slug in ("clay", "chisel", "hands", "highlights"):
        assert slug in themes
    assert "8 models" in themes
    latest = (await ask(core, "/latest")).plain()
    assert "2026-01" in latest
    assert "GLM-4.7" in latest


async def test_help_explains_every_command_with_an_example(core: Dispatcher) -> None:
    text = (await ask(core, "/start")).plain()
    for usage in (
        "/model NAME",
        "/paper QUERY",
        "/topic QUERY",
        "/search TEXT",
        "/themes",
        "/latest",
        "/help",
    ):
        assert usage in text
    assert "e.g. /model GLM-4.7" in text


@pytest.mark.parametrize("text", ["/model", "/model   ", "/paper", "/search \x00\x01"])
async def test_empty_argument_gets_usage(core: Dispatcher, text: str) -> None:
    assert "Usage: /" in (await ask(core, text)).plain()


async def test_long_argument_is_refused_politely(core: Dispatcher) -> None:
    text = (await ask(core, "/search " + "x" * 10_000)).plain()
    assert "takes at most 200" in text


async def test_markup_in_argument_is_echoed_as_text(core: Dispatcher) -> None:
    reply = await ask(core, "/model <b>nope</b> **x** <!channel>")
    assert "<b>nope</b> **x** <!channel>" in reply.plain()
    from channels.slack.render import render_slack
    from channels.telegram.render import render_telegram

    assert "&lt;b&gt;nope&lt;/b&gt;" in render_telegram(reply)[0]
    assert "<!channel>" not in str(render_slack(reply))


async def test_command_addressed_to_the_bot_and_slack_style(core: Dispatcher) -> None:
    assert heading(await ask(core, "/model@digestbot_bot GLM-4.7", chat_kind="group")) == "GLM-4.7"
    assert heading(await ask(core, "model GLM-4.7", chat_kind="channel")) == "GLM-4.7"


async def test_chatter_in_groups_is_ignored(core: Dispatcher) -> None:
    assert (
        await core.on_command(Incoming("telegram", "-1", "5", "hello all", chat_kind="group"))
        is None
    )
    unknown = await ask(core, "/frobnicate now")
    assert "I don't know /frobnicate" in unknown.plain()


async def test_reports_for_everyone_upload_details_for_admins(core: Dispatcher) -> None:
    anyone = (await ask(core, "/reports")).plain()
    assert "2026-01 — 8 models, 23 papers, 7 topics, 2 insights, 1 radar" in anyone
    assert "uploaded by" not in anyone
    admin = Dispatcher(Services(store=core.services.store, admins=frozenset({("telegram", "42")})))
    assert "uploaded by" in (await ask(admin, "/reports")).plain()
    assert "bot admins only" in (await ask(core, "/status")).plain()


@pytest.mark.parametrize(
    "query", ["2507.20534", "arXiv:2507.20534v2", "https://huggingface.co/papers/2507.20534"]
)
async def test_paper_given_a_models_arxiv_id_answers_with_the_model(
    core: Dispatcher, query: str
) -> None:
    reply = await ask(core, f"/paper {query}")
    assert heading(reply) == "Kimi-K2"
    assert "That link is a model's, not a paper's: /model Kimi-K2" in reply.plain()
