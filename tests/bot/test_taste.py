"""Digests with taste and /top, through the chat commands and the scheduled run, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.store.digests import make_digest_due
from bot.store.models import OutboxRow, SubscriptionRow
from bot.store.store import Store
from channels.base import Incoming
from digests.message import Message, message_from_json
from tests.bot.test_subscriptions import ingest_samples

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WEEK_1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WEEK_2 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
DECEMBER_CLAY = ["GLM-4.6", "Qwen3-Next-80B-A3B", "gpt-oss-120b", "DeepSeek-V3.2-Exp"]


def _admin() -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return True

    return check


def make_core(store: Store, *, share_votes: bool = True) -> Dispatcher:
    return Dispatcher(Services(store=store, clock=lambda: NOW, share_votes=share_votes))


@pytest.fixture
def core(store: Store) -> Dispatcher:
    ingest_samples(store)
    return make_core(store)


async def ask(core: Dispatcher, chat: str, text: str, user: str = "5") -> Message:
    reply = await core.on_command(
        Incoming(
            platform="telegram",
            chat_id=chat,
            user_id=user,
            text=text,
            chat_kind="group",
            is_chat_admin=_admin(),
        )
    )
    assert isinstance(reply, Message)
    return reply


def run(store: Store, chat: str, when: datetime) -> Message:
    """The subscription's scheduled run at ``when``, as queued in the outbox."""
    with store.engine.begin() as conn:
        sub = conn.execute(
            select(SubscriptionRow.id).where(SubscriptionRow.chat_id == chat)
        ).scalar_one()
        outbox_id = make_digest_due(conn, sub, when, when)
        assert outbox_id is not None
        data = conn.execute(select(OutboxRow.message).where(OutboxRow.id == outbox_id)).scalar()
    return message_from_json(data)


def order(message: Message, names: list[str]) -> list[str]:
    text = message.plain()
    return sorted((n for n in names if n in text), key=text.index)


def vote_command(message: Message, title: str, vote: str) -> str:
    """The 👍 / 👎 button's command under ``title``'s entry."""
    buttons = message.buttons()
    details = next(n for n, b in enumerate(buttons) if b.label.endswith(title))
    return buttons[details + (1 if vote == "up" else 2)].command


async def test_two_chats_that_voted_differently_get_different_orders(
    core: Dispatcher, store: Store
) -> None:
    for chat in ("-1", "-2", "-3"):
        await ask(core, chat, "/subscribe clay items=5")
    first = {chat: run(store, chat, WEEK_1) for chat in ("-1", "-2", "-3")}
    assert "GLM-4.7" in first["-1"].plain()
    assert first["-1"].plain() == first["-2"].plain() == first["-3"].plain()
    # Chat -1 likes GLM-4.7; in chat -2 two members dislike it and one likes Olmo 3.
    await ask(core, "-1", vote_command(first["-1"], "GLM-4.7", "up"))
    await ask(core, "-2", vote_command(first["-2"], "GLM-4.7", "down"), user="5")
    await ask(core, "-2", vote_command(first["-2"], "GLM-4.7", "down"), user="6")
    await ask(core, "-2", vote_command(first["-2"], "Olmo 3", "up"), user="6")
    second = {chat: run(store, chat, WEEK_2) for chat in ("-1", "-2", "-3")}
    # The same four items, never one dropped, in three orders.
    assert order(second["-3"], DECEMBER_CLAY) == DECEMBER_CLAY
    assert order(second["-1"], DECEMBER_CLAY)[0] == "GLM-4.6"
    assert order(second["-2"], DECEMBER_CLAY) == [*DECEMBER_CLAY[1:], "GLM-4.6"]
    assert "because you liked GLM-4.7" in second["-1"].plain()
    assert "later than the rest: like GLM-4.7, which you disliked" in second["-2"].plain()
    assert "because you" not in second["-3"].plain()
    assert "later than" not in second["-3"].plain()


async def test_a_liked_family_moves_ahead_in_the_preview(core: Dispatcher, store: Store) -> None:
    # Only the digest order changes: GLM-4.6 is December's and comes after February's items.
    await ask(core, "-1", "/subscribe clay items=9")
    before = await ask(core, "-1", "/digest clay")
    plain = before.plain()
    assert plain.index("Kimi-K2-Thinking") < plain.index("GLM-4.6")
    await ask(core, "-1", vote_command(before, "GLM-4.7", "up"))
    after = (await ask(core, "-1", "/digest clay")).plain()
    assert after.index("GLM-4.6") < after.index("Mistral Large 3")
    # GLM-4.7 itself (liked) comes first, then the item of its family.
    assert after.index("GLM-4.7") < after.index("GLM-4.6")
    assert "because you liked GLM-4.7" in after
    # Another chat's preview is untouched.
    other = (await ask(core, "-2", "/digest clay")).plain()
    assert "GLM-4.6" not in other


async def test_top_counts_votes_across_chats_or_keeps_them_apart(
    core: Dispatcher, store: Store
) -> None:
    empty = (await ask(core, "-1", "/top")).plain()
    assert "Nothing has a 👍 yet" in empty
    digest = await ask(core, "-1", "/digest clay")
    for chat, user in (("-1", "5"), ("-1", "6"), ("-2", "5")):
        await ask(core, chat, vote_command(digest, "Mistral Large 3", "up"), user=user)
    await ask(core, "-2", vote_command(digest, "Olmo 3", "up"))
    await ask(core, "-3", vote_command(digest, "Olmo 3", "down"))
    top = (await ask(core, "-9", "/top")).plain()
    assert top.startswith("Most liked across all chats")
    assert top.index("👍 3 — Mistral Large 3") < top.index("👍 1 · 👎 1 — Olmo 3")
    assert "/model Mistral Large 3" in top
    assert "(model, 2026-02)" in top
    assert "Counts only" in top
    assert "telegram" not in top
    assert "-1" not in top
    assert "Mistral Large 3" in (await ask(core, "-9", "/top clay 2026-02")).plain()
    assert "Nothing has a 👍 yet" in (await ask(core, "-9", "/top chisel")).plain()
    assert "Nothing has a 👍 yet" in (await ask(core, "-9", "/top 2025-12")).plain()
    assert "There is no theme “pottery”" in (await ask(core, "-9", "/top pottery")).plain()
    assert "There is no report for 2030-01" in (await ask(core, "-9", "/top 2030-01")).plain()
    # DIGESTBOT_SHARE_VOTES=false: each chat sees its own votes only.
    private = make_core(store, share_votes=False)
    mine = (await ask(private, "-2", "/top")).plain()
    assert mine.startswith("Most liked in this chat")
    assert "👍 1 — Mistral Large 3" in mine
    assert "Nothing has a 👍 yet" in (await ask(private, "-9", "/top")).plain()


def test_share_votes_setting() -> None:
    from bot.settings import load_settings

    assert load_settings(env={}).share_votes is True
    assert load_settings(env={"DIGESTBOT_SHARE_VOTES": "false"}).share_votes is False
