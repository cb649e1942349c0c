"""Every count reads right, in English and Chinese: "1 item", "0 files", "on 1 item from 1 chat";
/themes counts items, not their copies in each month."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.models import ItemRow
from bot.store.store import Store
from channels.base import Incoming
from tests.stored import ingest_samples, insert_vote

MISSING = Path(__file__).with_name("no-such-report.md")


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[Store]:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    s = Store.open(db_url)
    ingest_samples(s)
    yield s
    s.close()


async def ask(store: Store, text: str, language: str = "en") -> str:
    core = Dispatcher(Services(store=store, language=language))
    reply = await core.on_command(Incoming("console", "me", "me", text, chat_kind="console"))
    assert reply is not None
    return reply.plain()


async def test_feedback_counts_are_singular_for_one(store: Store) -> None:
    with store.engine.begin() as conn:
        item = conn.execute(select(ItemRow.id).limit(1)).scalar_one()
        insert_vote(conn, item, datetime(2026, 2, 2, tzinfo=UTC))
    assert "Feedback: 1 👍, 0 👎 on 1 item from 1 chat" in await ask(store, "/status")
    assert "涉及 1 条、1 个聊天" in await ask(store, "/status", "zh")


async def test_themes_count_items_not_their_month_copies(store: Store) -> None:
    with store.engine.connect() as conn:
        copies = conn.execute(
            select(func.count()).where(ItemRow.theme == "clay", ItemRow.removed.is_(False))
        ).scalar_one()
        distinct = conn.execute(
            select(func.count(func.distinct(ItemRow.key))).where(
                ItemRow.theme == "clay", ItemRow.removed.is_(False)
            )
        ).scalar_one()
    assert distinct < copies  # Kimi-K2-Thinking is in both months
    assert f"(The Clay): {distinct} models" in await ask(store, "/themes")
    chinese = await ask(store, "/themes", "zh")
    assert f"：{distinct} 个模型" in chinese
    assert "): " not in chinese  # the English colon never sits between Chinese words


def test_cli_lines_count_right(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(MISSING)]) == 1
    assert "0 files (0 stored, 0 unchanged), no items, 0 warnings, 1 rejected" in (
        capsys.readouterr().out
    )
    assert main(["reports"]) == 0
    listed = capsys.readouterr().out
    assert "23 items" in listed
    assert "0 warnings" in listed


async def test_subscription_and_reparse_lines_count_right(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    reply = await ask(store, "/subscribe clay mon 09:00 items=1")
    assert "1 item" in reply
    assert "1 items" not in reply
    assert main(["subscriptions"]) == 0
    listed = capsys.readouterr().out
    assert " clay — 1 item " in listed, listed
    assert main(["reparse"]) == 0
    assert "search index rebuilt: 46 items" in capsys.readouterr().out
    assert (
        main(["ingest", "--dry-run", str(Path(__file__).parents[1] / "digests" / "samples")]) == 0
    )
    assert ": 23 items (dry run)" in capsys.readouterr().out
