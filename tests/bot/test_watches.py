"""Watches through the chat commands and `digestbot ingest`, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.chats import follow_move, mark_gone
from bot.store.models import OutboxRow, WatchHitRow, WatchRow
from bot.store.search import groups_match, indexed_terms, query_groups
from bot.store.store import Store
from bot.watcher import ReportsWatcher
from channels.base import Incoming
from digests.message import Message, message_from_json
from tests.conftest import SAMPLES

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECEMBER = SAMPLES / "2025-12.md"
FEBRUARY = SAMPLES / "2026-02.md"


def _admin(answer: bool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return answer

    return check


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, db_url: str) -> str:
    monkeypatch.setenv("DIGESTBOT_DATABASE_URL", db_url)
    return db_url


@pytest.fixture
def core(store: Store, env: str) -> Dispatcher:
    assert main(["ingest", str(DECEMBER)]) == 0
    return Dispatcher(Services(store=store, clock=lambda: NOW))


async def ask(
    core: Dispatcher,
    text: str,
    *,
    chat_id: str = "7",
    chat_kind: str = "private",
    chat_admin: bool = True,
    user: str = "7",
) -> str:
    reply = await core.on_command(
        Incoming(
            platform="telegram",
            chat_id=chat_id,
            user_id=user,
            text=text,
            chat_kind=chat_kind,
            is_chat_admin=_admin(chat_admin),
        )
    )
    assert isinstance(reply, Message)
    return reply.plain()


def queued(store: Store) -> list[tuple[str, list[int], Message]]:
    """The watch messages in the outbox: (chat, item ids, message)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(OutboxRow.chat_id, OutboxRow.item_ids, OutboxRow.message)
            .where(OutboxRow.purpose == "watch")
            .order_by(OutboxRow.id)
        ).all()
    return [(r.chat_id, [int(i) for i in r.item_ids], message_from_json(r.message)) for r in rows]


def titles(store: Store, ids: list[int]) -> list[str]:
    return [s.item.title for s in store.get_items(ids)]


async def test_watch_list_and_unwatch(core: Dispatcher, store: Store) -> None:
    reply = await ask(core, "/watch DeepSeek")
    assert "Watching “DeepSeek”" in reply
    assert "/search DeepSeek" in reply
    assert "already" in await ask(core, "/watch  deepseek ")
    assert "Watching “on-policy distillation”" in await ask(core, "/watch on-policy distillation")
    assert "Watching “长上下文”" in await ask(core, "/watch 长上下文")
    listed = await ask(core, "/watches")
    assert (
        listed.index("DeepSeek") < listed.index("on-policy distillation") < listed.index("长上下文")
    )
    assert listed.count("nothing matched yet") == 3
    assert "Stopped watching “DeepSeek”" in await ask(core, "/unwatch DEEPSEEK")
    gone = await ask(core, "/unwatch GLM")
    assert "does not watch “GLM”" in gone
    assert "on-policy distillation, 长上下文" in gone
    assert "Stopped watching “on-policy distillation”, “长上下文”" in await ask(
        core, "/unwatch all"
    )
    assert "watches nothing" in await ask(core, "/watches")


async def test_bad_watches_are_refused_and_store_nothing(core: Dispatcher, store: Store) -> None:
    assert "no words to watch for" in await ask(core, "/watch ？！…")
    assert "at most 100 characters" in await ask(core, "/watch " + "x" * 101)
    assert "Usage: /watch WORDS" in await ask(core, "/watch")
    # In a group, only its administrators and bot admins change its watches; anyone may list them.
    refused = await ask(core, "/watch GLM", chat_id="-100", chat_kind="group", chat_admin=False)
    assert "Only this chat's administrators and bot admins" in refused
    assert "Watching" in await ask(core, "/watch GLM", chat_id="-100", chat_kind="group")
    refused = await ask(core, "/unwatch all", chat_id="-100", chat_kind="group", chat_admin=False)
    assert "Only this chat's administrators" in refused
    assert "GLM" in await ask(core, "/watches", chat_id="-100", chat_kind="group", chat_admin=False)
    with store.engine.connect() as conn:
        assert conn.execute(select(WatchRow.words)).scalars().all() == ["GLM"]


async def test_an_ingest_tells_each_matching_chat_once(core: Dispatcher, store: Store) -> None:
    await ask(core, "/watch GLM", chat_id="1")
    await ask(core, "/watch 长上下文", chat_id="1")
    await ask(core, "/watch 长上下文", chat_id="2")
    await ask(core, "/watch Llama 4 Behemoth", chat_id="3")
    assert main(["ingest", str(FEBRUARY)]) == 0
    messages = queued(store)
    assert [chat for chat, _, _ in messages] == ["1", "2"]
    (_, ids_1, first), (_, ids_2, second) = messages
    assert titles(store, ids_1) == ["GLM-4.7", "Nemotron 3 Nano"]
    assert titles(store, ids_2) == ["Nemotron 3 Nano"]
    text = first.plain()
    assert text.startswith("Watches “GLM”, “长上下文”")
    assert "Matched “GLM”" in text
    assert "Matched “长上下文”" in text
    assert "/model GLM-4.7" in text
    # Each entry has its Details, 👍 and 👎 buttons.
    commands = [b.command for b in first.buttons()]
    assert commands[:3] == [
        "/model GLM-4.7",
        f"/feedback {ids_1[0]} up",
        f"/feedback {ids_1[0]} down",
    ]
    assert second.plain().startswith("Watch “长上下文”")
    assert "/unwatch 长上下文" in second.plain()
    listed = await ask(core, "/watches", chat_id="1")
    assert "GLM — last: GLM-4.7 (model, 2026-02); 1 item so far" in listed
    # The same file again changes nothing and tells no one again.
    assert main(["ingest", str(FEBRUARY)]) == 0
    assert len(queued(store)) == 2


async def test_a_changed_item_is_never_announced_twice_for_a_watch(
    core: Dispatcher, store: Store, tmp_path: Path
) -> None:
    await ask(core, "/watch GLM", chat_id="1")
    assert main(["ingest", str(FEBRUARY)]) == 0
    assert len(queued(store)) == 1
    # A new version of the month changes GLM-4.7's text (and so its summary): the chat that was
    # told about it is not told again; a watch added meanwhile that now matches it is.
    await ask(core, "/watch 缓存", chat_id="2")
    await ask(core, "/watch GLM", chat_id="3")
    changed = tmp_path / "2026-02.md"
    text = FEBRUARY.read_text(encoding="utf-8")
    changed.write_text(text.replace("SWE-bench Verified 约 73.8%", "SWE-bench Verified 约 74%"))
    assert main(["ingest", str(changed)]) == 0
    messages = queued(store)
    assert [chat for chat, _, _ in messages] == ["1", "2", "3"]
    assert [titles(store, ids) for _, ids, _ in messages[1:]] == [["GLM-4.7"], ["GLM-4.7"]]
    with store.engine.connect() as conn:
        hits = conn.execute(select(func.count()).select_from(WatchHitRow)).scalar_one()
    assert hits == 3


@pytest.mark.parametrize(
    "words",
    ["DeepSeek", "on-policy distillation", "长上下文", "蒸馏", "sparse attention", "GLM", "reward"],
)
async def test_a_watch_finds_what_a_search_finds(
    core: Dispatcher, store: Store, words: str
) -> None:
    await ask(core, f"/watch {words}", chat_id="1")
    assert main(["ingest", str(FEBRUARY)]) == 0
    watched = {i for _, ids, _ in queued(store) for i in ids}
    found = Services(store=store).finder.search(words, limit=200)
    # /search also ranks items that have only some of the words; a watch tells of the hits that
    # have every word, as search's first pass finds them
    groups = query_groups(words)
    searched = {
        s.id
        for s in found
        if s.item.period == "2026-02" and groups_match(groups, indexed_terms(s.item))
    }
    assert watched == searched


async def test_the_message_is_in_the_chats_language(core: Dispatcher, store: Store) -> None:
    await ask(core, "/lang zh", chat_id="1")
    await ask(core, "/watch GLM", chat_id="1")
    assert main(["ingest", str(FEBRUARY)]) == 0
    ((_, _, message),) = queued(store)
    text = message.plain()
    assert text.startswith("关注 “GLM”")
    assert "2026-02 报告中有 1 条新增或更新的内容符合" in text


def test_a_gone_chat_is_not_told(store: Store, env: str) -> None:
    assert main(["ingest", str(DECEMBER)]) == 0
    with store.engine.begin() as conn:
        for chat in ("1", "2"):
            conn.execute(
                WatchRow.__table__.insert().values(
                    platform="telegram",
                    chat_id=chat,
                    chat_kind="private",
                    words="GLM",
                    words_key="glm",
                    language="en",
                    created_by="t",
                    created_at=NOW,
                )
            )
        mark_gone(conn, "telegram", "2", "blocked", NOW)
    assert main(["ingest", str(FEBRUARY)]) == 0
    assert [chat for chat, _, _ in queued(store)] == ["1"]


async def test_a_watch_from_a_gone_chat_brings_it_back(core: Dispatcher, store: Store) -> None:
    with store.engine.begin() as conn:
        mark_gone(conn, "telegram", "2", "blocked", NOW)
    await ask(core, "/watch GLM", chat_id="2")
    assert main(["ingest", str(FEBRUARY)]) == 0
    assert [chat for chat, _, _ in queued(store)] == ["2"]


async def test_the_reports_folder_tells_watches_too(
    core: Dispatcher, store: Store, tmp_path: Path
) -> None:
    await ask(core, "/watch 长上下文", chat_id="1")
    folder = tmp_path / "reports"
    folder.mkdir()
    path = folder / "2026-02.md"
    path.write_bytes(FEBRUARY.read_bytes())
    os.utime(path, (1000.0, 1000.0))
    watcher = ReportsWatcher(
        store, folder, 1 << 20, interval=0.05, settle=3.0, clock=lambda: 2000.0
    )
    assert await watcher.scan() == 1
    ((chat, ids, _),) = queued(store)
    assert chat == "1"
    assert titles(store, ids) == ["Nemotron 3 Nano"]


async def test_watches_follow_a_group_that_became_a_supergroup(
    core: Dispatcher, store: Store
) -> None:
    for words in ("GLM", "长上下文"):
        await ask(core, f"/watch {words}", chat_id="-5", chat_kind="group")
    await ask(core, "/watch GLM", chat_id="-1005", chat_kind="supergroup")
    with store.engine.begin() as conn:
        follow_move(conn, "telegram", "-5", "-1005", NOW)
    assert "watches nothing" in await ask(core, "/watches", chat_id="-5", chat_kind="group")
    listed = await ask(core, "/watches", chat_id="-1005", chat_kind="supergroup")
    assert listed.count("GLM") == 1
    assert "长上下文" in listed
    assert main(["ingest", str(FEBRUARY)]) == 0
    assert [chat for chat, _, _ in queued(store)] == ["-1005"]
