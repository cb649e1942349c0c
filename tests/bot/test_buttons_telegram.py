"""Buttons, inline mode and forum topics on Telegram: the real gateway against the fake Bot API.

Every press goes through the gateway's dispatcher, as a typed command does; the fake records the
answerCallbackQuery, editMessageText and answerInlineQuery calls the bot makes.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from bot.commands.buttons import STALE
from bot.gateway import Gateway, seed_samples
from bot.i18n import translator
from bot.settings import load_settings
from bot.store.models import ActionTokenRow, ChatRow, SubscriptionRow
from bot.store.outbox import enqueue
from bot.store.store import Store
from digests.message import Message
from tests.fakes import wait_for
from tests.fakes.telegram import FakeTelegram, Sent, buttons_of

ADMIN = 1001

pytestmark = pytest.mark.filterwarnings(
    "ignore:.*attribute `retry_after`:telegram.warnings.PTBDeprecationWarning"
)


@dataclass
class Bot:
    gateway: Gateway
    tg: FakeTelegram
    db_url: str

    def sent_to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.tg.sent if s.chat_id == chat_id]

    async def ask(
        self, chat_id: int, text: str, *, user: int | None = None, kind: str = "private"
    ) -> Sent:
        before = len(self.sent_to(chat_id))
        self.tg.user_message(chat_id, user or chat_id, text, chat_type=kind)
        await wait_for(lambda: len(self.sent_to(chat_id)) > before, within=15)
        return self.sent_to(chat_id)[-1]

    async def press(self, sent: Sent, user: int, label: str = "", data: str | None = None) -> dict:
        before = len(self.tg.answers)
        self.tg.press(sent, user, data=data, label=label)
        await wait_for(lambda: len(self.tg.answers) > before, within=15)
        return self.tg.answers[-1]


@pytest.fixture
async def bot(sqlite_url: str) -> AsyncIterator[Bot]:
    async with FakeTelegram(max_poll_wait=0.2) as tg:
        env = {
            "DIGESTBOT_DATABASE_URL": sqlite_url,
            "DIGESTBOT_TELEGRAM_TOKEN": tg.token,
            "DIGESTBOT_TELEGRAM_API_URL": tg.base_url,
            "DIGESTBOT_TELEGRAM_FILE_URL": tg.base_file_url,
            "DIGESTBOT_ADMINS": f"telegram:{ADMIN}",
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_HTTP_PORT": "0",
        }
        store = Store.open(sqlite_url)
        seed_samples(store)
        store.close()
        gateway = Gateway(load_settings(env=env), stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        await wait_for(lambda: tg.commands, within=30)
        yield Bot(gateway, tg, sqlite_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


def labels(sent: Sent) -> list[str]:
    return [b["text"] for b in buttons_of(sent)]


async def test_search_pages_edit_the_same_message(bot: Bot) -> None:
    first = await bot.ask(555, "/search agent")
    assert "Next ›" in labels(first)
    answer = await bot.press(first, 555, "Next ›")
    assert "text" not in answer  # a plain answer: the spinner stops, no toast
    await wait_for(lambda: bot.tg.edits, within=15)
    edited = bot.tg.edits[-1]
    assert edited.message_id == first.message_id
    assert "page 2" in edited.plain
    assert "‹ Previous" in labels(edited)
    assert len(bot.sent_to(555)) == 1  # nothing new was sent: the results were edited


async def test_long_command_travels_under_a_stored_token(bot: Bot) -> None:
    words = "agent memory model tool benchmark reasoning context protocol training"
    first = await bot.ask(556, f"/search {words}")
    data = {b["text"]: b["callback_data"] for b in buttons_of(first)}
    assert len(f"/results 2 {words}".encode()) > 64
    assert data["Next ›"].startswith("~")
    assert all(len(d.encode()) <= 64 for d in data.values())
    await bot.press(first, 556, "Next ›")
    await wait_for(lambda: bot.tg.edits, within=15)
    assert "page 2" in bot.tg.edits[-1].plain
    store = Store.open(bot.db_url)
    try:
        with store.engine.connect() as conn:
            tokens = set(conn.execute(select(ActionTokenRow.token)).scalars())
    finally:
        store.close()
    assert data["Next ›"][1:] in tokens  # (the leader deletes expired ones: test_housekeeping)


async def test_stale_or_forged_button_gets_a_short_notice(bot: Bot) -> None:
    first = await bot.ask(557, "/themes")
    answer = await bot.press(first, 557, data="~notATokenWeKnow")
    assert answer["text"] == STALE.format(help="/help")
    answer = await bot.press(first, 557, data="/nosuchcommand")
    assert answer["text"] == STALE.format(help="/help")
    await asyncio.sleep(0.2)
    assert len(bot.sent_to(557)) == 1


async def test_subscribe_button_obeys_the_group_rules(bot: Bot) -> None:
    themes = await bot.ask(-700, "/themes", user=7, kind="group")
    assert "Subscribe: clay" in labels(themes)
    answer = await bot.press(themes, 7, "Subscribe: clay")
    assert "Only this chat's administrators" in answer["text"]
    store = Store.open(bot.db_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(SubscriptionRow.id)).first() is None
        bot.tg.set_member(-700, 8, "administrator")
        before = len(bot.sent_to(-700))
        await bot.press(themes, 8, "Subscribe: clay")
        await wait_for(lambda: len(bot.sent_to(-700)) > before, within=15)
        assert "Subscribed this chat to" in bot.sent_to(-700)[-1].plain
        with store.engine.connect() as conn:
            chats = conn.execute(select(SubscriptionRow.chat_id, SubscriptionRow.theme)).all()
        assert [tuple(c) for c in chats] == [("-700", "clay")]
    finally:
        store.close()


async def test_feedback_on_digest_entries_is_counted_in_status(bot: Bot) -> None:
    digest = await bot.ask(558, "/digest clay")
    assert labels(digest)[:3] == ["Details: GLM-4.7", "👍", "👎"]
    answer = await bot.press(digest, 558, "👍")
    assert answer["text"].startswith("Thanks: 👍")
    answer = await bot.press(digest, 558, "👍")
    assert "already" in answer["text"]
    answer = await bot.press(digest, 558, "Details: GLM-4.7")
    await wait_for(lambda: len(bot.sent_to(558)) == 2, within=15)
    assert bot.sent_to(558)[-1].plain.startswith("GLM-4.7")
    status = await bot.ask(ADMIN, "/status")
    assert "Feedback: 1 👍, 0 👎 on 1 item from 1 chat" in status.plain


LONG_PART = "这一段写得很长，用来检验折叠：第一句之后的内容只在展开后出现。" * 8


def long_report() -> bytes:
    """A month with one model whose card is long enough to be folded."""
    cells = [f"**[Part {n}] 小标题**：<br> {LONG_PART}" for n in range(1, 5)]
    return (
        "---\nperiod: 2026-03\n---\n\n### 1. 基座模型追踪 (The Clay)\n\n"
        "| 模型名称 | 核心技术创新 (Mechanism) | 关键能力/指标 (Capability) |\n| --- | --- | --- |\n"
        f"| [Longwinded-1](https://example.com/lw) | {'<br><br>'.join(cells[:2])} | "
        f"{'<br><br>'.join(cells[2:])} |\n"
    ).encode()


async def test_more_unfolds_a_card_in_place(bot: Bot) -> None:
    bot.tg.document_message(ADMIN, ADMIN, "2026-03.md", long_report())
    await wait_for(lambda: bot.sent_to(ADMIN), within=15)
    card = await bot.ask(559, "/model Longwinded-1")
    assert "More" in labels(card)
    assert LONG_PART not in card.plain
    await bot.press(card, 559, "More")
    await wait_for(lambda: bot.tg.edits, within=15)
    edited = bot.tg.edits[-1]
    assert edited.message_id == card.message_id
    assert LONG_PART in edited.plain
    assert "More" not in labels(edited)


async def test_inline_mode_lists_cards(bot: Bot) -> None:
    bot.tg.inline_query(560, "glm")
    await wait_for(lambda: bot.tg.inline_answers, within=15)
    answer = bot.tg.inline_answers[0]
    results = answer["results"]
    assert 1 <= len(results) <= 10
    assert int(answer["cache_time"]) == 60
    titles = [r["title"] for r in results]
    assert "GLM-4.7" in titles
    glm = results[titles.index("GLM-4.7")]
    assert glm["input_message_content"]["parse_mode"] == "HTML"
    assert glm["input_message_content"]["message_text"].startswith("<b>GLM-4.7</b>")
    assert glm["description"]


async def test_inline_mode_answers_in_the_senders_language(bot: Bot) -> None:
    bot.tg.inline_query(561, "glm", language="zh-hans")
    bot.tg.inline_query(562, "glm", language="en")
    await wait_for(lambda: len(bot.tg.inline_answers) == 2, within=15)
    by_language = {}
    for answer in bot.tg.inline_answers:
        glm = next(r for r in answer["results"] if r["title"] == "GLM-4.7")
        by_language[glm["description"].split(" · ")[0]] = glm
    model_zh = translator("zh").gettext("model")
    assert model_zh != "model"
    assert set(by_language) == {model_zh, "model"}
    # the same query text, answered from two caches: each card is in its sender's language
    assert (
        by_language[model_zh]["input_message_content"]["message_text"]
        != by_language["model"]["input_message_content"]["message_text"]
    )


async def test_forum_topic_subscription_and_a_deleted_topic(bot: Bot) -> None:
    tg = bot.tg
    tg.topic_message(-100500, ADMIN, "/subscribe clay", thread_id=42)
    tg.user_message(-100500, ADMIN, "/subscribe chisel", chat_type="supergroup")
    await wait_for(lambda: len(bot.sent_to(-100500)) == 2, within=15)
    in_topic = [s for s in bot.sent_to(-100500) if s.options.get("message_thread_id") == 42]
    assert len(in_topic) == 1
    assert "Subscribed this chat to" in in_topic[0].plain
    store = Store.open(bot.db_url)
    try:
        with store.engine.connect() as conn:
            subs = dict(conn.execute(select(SubscriptionRow.theme, SubscriptionRow.chat_id)).all())
        assert subs == {"clay": "-100500/42", "chisel": "-100500"}
        # A digest for the topic goes into the topic; once the topic is deleted, the topic's
        # subscription is deactivated as a gone chat's is, and the group's other one stays.
        outbox = bot.gateway.outbox
        assert outbox is not None
        with store.engine.begin() as conn:
            enqueue(conn, platform="telegram", chat_id="-100500/42", message=Message.text("d1"))
        outbox.wake()
        await wait_for(lambda: any(s.plain == "d1" for s in tg.sent), within=15)
        assert [s.options.get("message_thread_id") for s in tg.sent if s.plain == "d1"] == [42]
        tg.delete_topic(-100500, 42)
        with store.engine.begin() as conn:
            enqueue(conn, platform="telegram", chat_id="-100500/42", message=Message.text("d2"))
        outbox.wake()
        await outbox.drain()
        with store.engine.connect() as conn:
            active = dict(conn.execute(select(SubscriptionRow.theme, SubscriptionRow.active)).all())
            gone = (
                conn.execute(select(ChatRow.chat_id).where(ChatRow.active.is_(False)))
                .scalars()
                .all()
            )
        assert active == {"clay": False, "chisel": True}
        assert list(gone) == ["-100500/42"]
    finally:
        store.close()
