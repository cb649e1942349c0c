"""Every month within reach: months in any spelling, identifiers in any form, close suggestions,
per-month highlights, /reports. Through the command core, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, select, text

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.db import _config
from bot.store.models import ItemRow
from bot.store.store import Store
from channels.base import Incoming
from digests import parse_report
from digests.compose import Candidate, compose_digest
from digests.items import Item
from digests.message import Heading, Message, commands_in
from tests.stored import ingest_samples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"


@pytest.fixture
def core(store: Store) -> Iterator[Dispatcher]:
    assert ingest_samples(store) is not None  # 2025-12 and 2026-02
    hand = (FIXTURES / "2026-03-another-hand.md").read_text(encoding="utf-8")
    store.ingest(parse_report(hand, "2026-03.md"), hand)
    return Dispatcher(Services(store=store))


async def ask(core: Dispatcher, line: str) -> Message:
    reply = await core.on_command(Incoming("console", "me", "me", line, chat_kind="console"))
    assert reply is not None
    return reply


def heading(message: Message) -> str:
    first = message.blocks[0]
    return first.text if isinstance(first, Heading) else ""


# --- months ------------------------------------------------------------------------------------


@pytest.mark.parametrize("month", ["2025-12", "2025/12", "202512", "Dec 2025", "2025年12月"])
async def test_model_in_any_month_spelling(core: Dispatcher, month: str) -> None:
    reply = await ask(core, f"/model kimi k2 thinking {month}")
    text = reply.plain()
    assert heading(reply) == "Kimi-K2-Thinking"
    assert "model · 2025-12" in text
    assert "回访" not in text  # "revisited" is February's text
    assert commands_in(reply)[-1] == "/model Kimi-K2-Thinking 2026-02"


async def test_also_in_offers_each_other_month_as_a_command(core: Dispatcher) -> None:
    reply = await ask(core, "/model Kimi-K2-Thinking")
    assert "model · 2026-02" in reply.plain()
    assert "Also in: 2025-12 — /model Kimi-K2-Thinking 2025-12" in reply.plain()
    # the offered command opens that month's copy
    older = await ask(core, commands_in(reply)[-1])
    assert "model · 2025-12" in older.plain()
    assert "Also in: 2026-02 — /model Kimi-K2-Thinking 2026-02" in older.plain()


async def test_a_name_not_in_the_month_asked_for(core: Dispatcher) -> None:
    text = (await ask(core, "/model GLM-4.7 2025-12")).plain()
    assert "The 2025-12 report has no model GLM-4.7." in text
    assert "/model GLM-4.7 2026-02" in text


async def test_a_month_without_a_report(core: Dispatcher) -> None:
    text = (await ask(core, "/model GLM-4.7 2024-05")).plain()
    assert "There is no report for 2024-05." in text
    assert "/latest 2026-03" in text
    assert "/latest 2025-12" in text


async def test_paper_and_topic_by_month(core: Dispatcher) -> None:
    # Self-Rewarding Language Models is in December's samples and in March's report
    reply = await ask(core, "/paper Self-Rewarding Language Models Dec 2025")
    assert "paper · 2025-12" in reply.plain()
    assert "Also in: 2026-03" in reply.plain()
    newest = await ask(core, "/paper Self-Rewarding Language Models")
    assert "paper · 2026-03" in newest.plain()
    topic = await ask(core, "/topic Agent Memory 2026/02")
    assert heading(topic) == "Agent 记忆"  # found through the glossary: memory, 记忆
    assert "A-Mem: Agentic Memory for LLM Agents" in topic.plain()


async def test_latest_of_a_month(core: Dispatcher) -> None:
    newest = (await ask(core, "/latest")).plain()
    assert "(2026-03)" in newest
    assert "Other months: /latest 2026-02, /latest 2025-12" in newest
    december = await ask(core, "/latest 2025年12月")
    assert "(2025-12)" in december.plain()
    assert "/model GLM-4.6 2025-12" in commands_in(december)
    assert "is not a month" in (await ask(core, "/latest soon")).plain()


async def test_search_hit_for_an_older_copy_opens_that_copy(core: Dispatcher) -> None:
    # BrowseComp is only in December's copy of Kimi-K2-Thinking; February has a newer one
    reply = await ask(core, "/search BrowseComp")
    assert "/model Kimi-K2-Thinking 2025-12" in commands_in(reply)
    opened = await ask(core, "/model Kimi-K2-Thinking 2025-12")
    assert "BrowseComp" in opened.plain()
    # a hit in the newest copy opens the newest one, with no month
    assert "/model Kimi-K2-Thinking" in commands_in(await ask(core, "/search 回访 INT4"))


# --- identifiers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "2507.17746",
        "arXiv:2507.17746",
        "2507.17746v2",
        "https://arxiv.org/abs/2507.17746",
        "https://arxiv.org/pdf/2507.17746v3",
        "https://arxiv.org/html/2507.17746v1",
        "https://huggingface.co/papers/2507.17746",
    ],
)
async def test_arxiv_id_in_any_form(core: Dispatcher, query: str) -> None:
    reply = await ask(core, f"/paper {query}")
    assert heading(reply).startswith("Rubrics as Rewards")


async def test_any_link_finds_its_item_whatever_its_kind(core: Dispatcher) -> None:
    reply = await ask(core, "/paper https://z.ai/blog/glm-4.7")
    text = reply.plain()
    assert heading(reply) == "GLM-4.7"
    assert "That link is a model's, not a paper's: /model GLM-4.7" in text
    assert "model · 2026-02" in text
    topic_link = await ask(core, "/model github.com/vllm-project/vllm")
    assert heading(topic_link) == "vLLM V1"
    assert "a paper's, not a model's" in topic_link.plain()
    nothing = (await ask(core, "/paper 2601.99999")).plain()
    assert "No item links to “2601.99999”" in nothing


# --- suggestions -------------------------------------------------------------------------------


async def test_unrelated_names_are_never_suggested(core: Dispatcher) -> None:
    text = (await ask(core, "/model llama")).plain()
    assert "No model “llama” in the reports." in text
    assert "Closest" not in text
    assert "family" not in text
    assert "/search llama" in text


async def test_a_family_without_that_version_says_so(core: Dispatcher) -> None:
    reply = await ask(core, "/model olmo 4")
    assert heading(reply) == ""  # no card: Olmo 3 is not Olmo 4
    assert "No model “olmo 4” in the reports." in reply.plain()
    assert "Models of that family: /model Olmo 3" in reply.plain()
    # none of the GLMs is 4.8: no "Several models match"
    two = (await ask(core, "/model glm 4.8")).plain()
    assert "No model “glm 4.8” in the reports." in two
    assert "Several models match" not in two
    assert "/model GLM-4.6" in two
    assert "/model GLM-4.7" in two
    # a family alone lists the family; a family of one opens its card
    nemotron = await ask(core, "/model nemotron")
    assert heading(nemotron) == "Nemotron 3 Nano"
    glm = (await ask(core, "/model glm")).plain()
    assert "Several models match “glm”. Which one?" in glm


# --- highlights --------------------------------------------------------------------------------


async def test_each_month_keeps_its_highlights(core: Dispatcher) -> None:
    newest = await ask(core, "/highlights")
    assert heading(newest) == "Highlights · 2026-03"
    assert "Serving is where March's gains came from" in newest.plain()
    assert "/highlights 2026-02" in commands_in(newest)
    february = (await ask(core, "/highlights Feb 2026")).plain()
    assert "开放的尽头是可复现" in february
    december = (await ask(core, "/highlights 2025-12")).plain()
    assert "十二月的主线是" in december
    assert "Summary of December 2025 industry radar" in december


async def test_crucial_insight_of_every_month_is_found(core: Dispatcher) -> None:
    reply = await ask(core, "/search Crucial Insight")
    periods = {c for c in commands_in(reply) if c.startswith("/highlights ")}
    assert {"/highlights 2026-03", "/highlights 2026-02", "/highlights 2025-12"} <= periods


def test_highlights_digest_sends_each_months_own(store: Store) -> None:
    ingest_samples(store)
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(ItemRow.id, ItemRow.data).where(
                ItemRow.theme == "highlights", ItemRow.removed.is_(False)
            )
        ).all()
    candidates = [Candidate(r.id, Item.from_dict(r.data)) for r in rows]
    digest = compose_digest(candidates, set(), 10, when=datetime(2026, 3, 2, 9, tzinfo=UTC))
    assert digest is not None
    sent = [(c.item.period, c.item.title) for c in candidates if c.id in digest.item_ids]
    assert sorted(sent) == [
        ("2025-12", "Best Implementation"),
        ("2025-12", "Crucial Insight"),
        ("2025-12", "Industry Radar"),
        ("2026-02", "Best Implementation"),
        ("2026-02", "Crucial Insight"),
        ("2026-02", "Industry Radar"),
    ]


# --- /reports ----------------------------------------------------------------------------------


async def test_reports_lists_months_with_counts(core: Dispatcher) -> None:
    reply = await ask(core, "/reports")
    lines = reply.plain().splitlines()
    assert lines[0] == "Reports"
    assert lines[1].startswith("• 2026-03 — 1 model, 4 papers, 1 topic, 2 insights, 1 radar")
    assert [c for c in commands_in(reply)] == [
        "/latest 2026-03",
        "/latest 2026-02",
        "/latest 2025-12",
    ]


# --- stored before: the migration gives highlights their monthly key ---------------------------


def test_migration_gives_old_highlight_rows_their_monthly_key(sqlite_url: str) -> None:
    from bot.store.db import make_engine

    engine = make_engine(sqlite_url)
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")  # the schema just before the monthly keys
    with engine.begin() as conn:
        report = conn.execute(
            text(
                "INSERT INTO reports (period, source, title, markdown, sha256, meta, uploaded_by, "
                "uploaded_at, is_current, item_count, warning_count) VALUES ('2026-01', 's', 't', "
                "'m', 'x', '{}', 'cli', :now, 1, 1, 0) RETURNING id"
            ),
            {"now": datetime.now(UTC)},
        ).scalar_one()
        for kind, key in (("insight", "insight:crucialinsight"), ("model", "model:glm47")):
            conn.execute(
                insert(ItemRow),
                {
                    "report_id": report,
                    "period": "2026-01",
                    "key": key,
                    "kind": kind,
                    "theme": "highlights",
                    "theme_title": "Highlights",
                    "title": "x",
                    "name_norm": key.split(":")[1],
                    "url": None,
                    "summary": "",
                    "data": {},
                    "content_hash": "",
                    "position": 0,
                    "removed": False,
                    "updated_at": datetime.now(UTC),
                },
            )
    store = Store.open(sqlite_url)  # upgrades to head
    with store.engine.connect() as conn:
        keys = sorted(conn.execute(select(ItemRow.key)).scalars())
    assert keys == ["insight:2026-01:crucialinsight", "model:glm47"]
    store.close()
    engine.dispose()
