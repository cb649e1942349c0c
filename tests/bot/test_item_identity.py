"""One item per thing, on SQLite and PostgreSQL: the same arXiv paper under two titles in two
months ("GAD: Black-Box On-Policy Distillation of Large Language Models" in 2026-02, "GAD Black-Box
On-Policy Distillation" in 2026-01, both arXiv 2511.10643) is one item, found by either title,
sent to a chat once; `digestbot reparse` merges such copies stored before, keeping their ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from bot.cli import main
from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.models import DeliveryRow, FeedbackRow, ItemRow
from bot.store.store import Store
from channels.base import Incoming
from digests import parse_report
from digests.message import Message
from digests.text import normalize_name
from tests.stored import insert_vote

SAMPLE = Path(__file__).resolve().parents[2] / "digests" / "samples" / "2026-02.md"
FEB = "GAD: Black-Box On-Policy Distillation of Large Language Models"
JAN = "GAD Black-Box On-Policy Distillation"


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch, db_url: str, seed_path: Path) -> Iterator[Store]:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    assert main(["ingest", str(seed_path), str(SAMPLE)]) == 0
    s = Store.open(db_url)
    yield s
    s.close()


async def ask(store: Store, text: str) -> Message:
    core = Dispatcher(Services(store=store))
    reply = await core.on_command(Incoming("slack", "C1", "U1", text, chat_kind="channel"))
    assert reply is not None
    return reply


def _id(store: Store, title: str) -> int:
    with store.engine.connect() as conn:
        found: int = conn.execute(select(ItemRow.id).where(ItemRow.title == title)).scalar_one()
    return found


def _deliver(store: Store, item_id: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            insert(DeliveryRow).values(
                platform="telegram",
                chat_id="7",
                item_id=item_id,
                outbox_id=None,
                delivered_at=datetime(2026, 2, 2, tzinfo=UTC),
            )
        )


async def test_one_paper_under_two_titles_is_one_card(opened: Store) -> None:
    card = (await ask(opened, "/paper GAD")).plain()
    assert card.splitlines()[0] == FEB
    assert "Which one?" not in card
    assert "2026-01" in card  # its other month
    by_old_title = (await ask(opened, f"/paper {JAN}")).plain()
    assert by_old_title.splitlines()[0] == FEB
    assert "Which one?" not in by_old_title
    assert (await ask(opened, "/paper 2511.10643")).plain().splitlines()[0] == FEB
    search = await ask(opened, "/search GAD Black-Box On-Policy Distillation")
    assert sum(FEB in b.label or JAN in b.label for b in search.buttons()) <= 1


def test_a_chat_that_had_one_title_is_not_sent_the_other(
    opened: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["digest", "chisel", "--chat", "telegram:8"]) == 0
    assert "GAD" in capsys.readouterr().out  # a chat that had neither gets it
    _deliver(opened, _id(opened, JAN))
    for _ in range(3):  # every later digest, however many
        assert main(["digest", "chisel", "--chat", "telegram:7"]) == 0
        assert "GAD" not in capsys.readouterr().out


def test_reparse_merges_copies_stored_under_their_names(
    opened: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    # as a database from before stored them: each under its kind and name
    jan, feb = _id(opened, JAN), _id(opened, FEB)
    with opened.engine.begin() as conn:
        for item_id, title in ((jan, JAN), (feb, FEB)):
            conn.execute(
                update(ItemRow)
                .where(ItemRow.id == item_id)
                .values(key=f"paper:{normalize_name(title)}")
            )
        insert_vote(conn, jan, datetime(2026, 2, 2, tzinfo=UTC))
    _deliver(opened, jan)
    assert main(["digest", "chisel", "--chat", "telegram:7"]) == 0
    assert FEB in capsys.readouterr().out  # two items: the other one is sent
    capsys.readouterr()

    assert main(["reparse"]) == 0
    capsys.readouterr()
    assert (_id(opened, JAN), _id(opened, FEB)) == (jan, feb)  # ids, and so history, kept
    with opened.engine.connect() as conn:
        keys = set(conn.execute(select(ItemRow.key).where(ItemRow.id.in_([jan, feb]))).scalars())
        votes = conn.execute(select(FeedbackRow.item_id)).scalars().all()
    assert keys == {"paper:arxiv:2511.10643"}
    assert votes == [jan]
    assert "Which one?" not in (await_plain(opened, "/paper GAD"))
    assert main(["digest", "chisel", "--chat", "telegram:7"]) == 0
    out = capsys.readouterr().out
    assert "you liked GAD Black-Box On-Policy Distillation" in out  # the vote still counts
    assert FEB not in out
    assert "Details: GAD" not in out


def await_plain(store: Store, text: str) -> str:
    import asyncio

    return asyncio.run(ask(store, text)).plain()


def test_the_same_arxiv_paper_twice_in_one_report_is_placed_once() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    first = f"[{FEB}](https://arxiv.org/abs/2511.10643)"
    assert first in text
    twice = text.replace(
        first,
        "[GAD again](https://arxiv.org/pdf/2511.10643v2) <br> **场景/问题**：<br> 二 <br><br> "
        + first,
    )
    parsed = parse_report(twice.encode(), "2026-02.md")
    papers = [i.title for i in parsed.items if "GAD" in i.title]
    assert papers == ["GAD again"]
    assert any("the same link" in str(w) for w in parsed.warnings)
    assert len(parsed.items) == len(parse_report(SAMPLE.read_bytes(), "2026-02.md").items)
