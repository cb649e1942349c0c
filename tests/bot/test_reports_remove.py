"""Samples step aside for real reports, and months can be removed (CLI and chat), on SQLite and
PostgreSQL: the first real ingest deletes the bundled samples; `digestbot reports remove` and
`/reports remove` (bot admins, with a confirmation button) take a month out of every answer,
while what chats were sent stays sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.cli import main
from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.gateway import seed_samples
from bot.store.models import DeliveryRow, ItemRow
from bot.store.store import Store
from channels.base import Action, Incoming
from digests.message import Message

SAMPLE = Path(__file__).resolve().parents[2] / "digests" / "samples" / "2026-02.md"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> str:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    return db_url


@pytest.fixture
def opened(env: str) -> Iterator[Store]:
    s = Store.open(env)
    yield s
    s.close()


async def ask(core: Dispatcher, text: str, user: str = "U1") -> Message:
    reply = await core.on_command(Incoming("slack", "C1", user, text, chat_kind="channel"))
    assert reply is not None
    return reply


def admin_core(store: Store) -> Dispatcher:
    return Dispatcher(Services(store=store, admins=frozenset({("slack", "U1")})))


async def test_the_first_real_report_removes_the_samples(
    opened: Store, seed_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert seed_samples(opened) is not None
    assert [r.sample for r in opened.reports()] == [True, True]
    core = admin_core(opened)
    assert "Kimi-K2-Thinking" in (await ask(core, "/model Kimi-K2-Thinking")).plain()

    assert main(["ingest", str(seed_path)]) == 0
    out = capsys.readouterr().out
    assert "the sample reports 2026-02, 2025-12 are removed" in out

    assert [(r.period, r.sample) for r in opened.reports()] == [("2026-01", False)]
    assert "2026-01" in (await ask(core, "/latest")).plain().splitlines()[0]
    assert "2026-02" not in (await ask(core, "/reports")).plain()
    kimi = (await ask(core, "/model Kimi-K2-Thinking")).plain()
    assert "INT4 量化感知训练" not in kimi  # the sample's card is gone
    assert "DeepSeek-V3.2-Exp" not in (await ask(core, "/search sparse attention")).plain()
    # a later console start does not bring them back
    assert seed_samples(opened) is None
    assert main(["reports"]) == 0
    listed = capsys.readouterr().out
    assert "2026-01" in listed
    assert "sample" not in listed


async def test_cli_removes_months_and_samples(
    opened: Store, seed_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_samples(opened)
    assert main(["reports", "remove", "--samples"]) == 0
    assert "removed the sample reports 2026-02, 2025-12" in capsys.readouterr().out
    assert opened.reports() == []
    assert opened.item_count() == 0

    assert main(["ingest", str(seed_path), str(SAMPLE)]) == 0
    capsys.readouterr()
    assert main(["reports", "remove", "2026/02"]) == 0
    assert capsys.readouterr().out.strip() == "removed 2026-02: 23 items"
    assert [r.period for r in opened.reports()] == ["2026-01"]
    assert opened.item_count() == 41


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2026-13"], "“2026-13” is not a month; write it as 2026-01 (nothing removed)"),
        (["2026-01", "2025-05"], "no report for 2025-05; digestbot reports lists the months"),
        ([], "say which months to remove"),
    ],
)
def test_cli_bad_months_change_nothing(
    opened: Store,
    seed_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert main(["ingest", str(seed_path)]) == 0
    capsys.readouterr()
    assert main(["reports", "remove", *args]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert [r.period for r in opened.reports()] == ["2026-01"]
    assert opened.item_count() == 41


def _deliver(store: Store, title: str) -> int:
    with store.engine.begin() as conn:
        item_id = conn.execute(select(ItemRow.id).where(ItemRow.title == title)).scalar_one()
        conn.execute(
            insert(DeliveryRow).values(
                platform="telegram",
                chat_id="7",
                item_id=item_id,
                outbox_id=None,
                delivered_at=datetime(2026, 2, 2, tzinfo=UTC),
            )
        )
    return item_id


def test_a_month_removed_and_ingested_again_sends_nothing_twice(
    opened: Store, seed_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(seed_path)]) == 0
    assert main(["digest", "clay", "--chat", "telegram:7"]) == 0
    first = capsys.readouterr().out
    assert "Kimi-K2" in first
    delivered = _deliver(opened, "Kimi-K2")

    assert main(["reports", "remove", "2026-01"]) == 0
    assert main(["digest", "clay", "--chat", "telegram:7"]) == 1  # no theme any more
    assert main(["ingest", str(seed_path)]) == 0
    capsys.readouterr()
    with opened.engine.connect() as conn:
        again = conn.execute(select(ItemRow.id).where(ItemRow.title == "Kimi-K2")).scalar_one()
    assert again == delivered
    assert main(["digest", "clay", "--chat", "telegram:7"]) == 0
    assert "Kimi-K2\n" not in capsys.readouterr().out.replace("Kimi-K2-", "")


async def test_chat_admins_remove_a_month_after_confirming(opened: Store, seed_path: Path) -> None:
    assert main(["ingest", str(seed_path), str(SAMPLE)]) == 0
    core = admin_core(opened)

    refused = await ask(core, "/reports remove 2026-02", user="U2")
    assert "Only bot admins remove reports." in refused.plain()

    for bad, line in [
        ("/reports remove 2026-13", "“2026-13” is not a month."),
        ("/reports remove 2025-05", "There is no report for 2025-05."),
        ("/reports remove", "Say which month to remove"),
    ]:
        assert line in (await ask(core, bad)).plain()
    assert len(opened.reports()) == 2

    asked = await ask(core, "/reports remove 2026-02")
    assert "Remove the 2026-02 report and its 23 items?" in asked.plain()
    assert [b.label for b in asked.buttons()] == ["Remove 2026-02"]
    assert len(opened.reports()) == 2  # nothing until it is confirmed

    pressed = await core.on_action(
        Action("slack", "C1", "U1", command=asked.buttons()[0].command, chat_kind="channel")
    )
    assert pressed is not None
    assert "Removed the 2026-02 report and its 23 items." in pressed.plain()
    assert [r.period for r in opened.reports()] == ["2026-01"]
    assert "2026-02" not in (await ask(core, "/reports")).plain()

    # someone else pressing the same button is refused
    other = await core.on_action(
        Action("slack", "C1", "U2", command="/reports remove 2026-01 confirm", chat_kind="channel")
    )
    assert other is not None
    assert "Only bot admins" in other.plain()
    assert [r.period for r in opened.reports()] == ["2026-01"]
