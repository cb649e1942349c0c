"""Card buttons on Feishu/Lark: the real gateway (HTTP callbacks, and the long connection)
against the fake Open Platform.

Every press is a ``card.action.trigger`` callback, encrypted and signed as Feishu signs it and
posted to the gateway's own server (or sent over the long connection); it goes through the
gateway's dispatcher as a typed command does. Its answer is the callback's: a toast for the
presser, or the updated card.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.commands.buttons import STALE
from bot.gateway import Gateway, seed_samples
from bot.settings import load_settings
from bot.store.models import ActionTokenRow, SubscriptionRow
from bot.store.store import Store
from tests.bot.test_buttons_telegram import LONG_PART, long_report
from tests.fakes import wait_for
from tests.fakes.lark import (
    APP_ID,
    APP_SECRET,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FakeLark,
    Sent,
    card_action_event,
    card_buttons,
    card_text,
    file_event,
    message_event,
    signed_request,
    wait_connected,
)

ADMIN = "ou_admin"
PUBLIC = "https://digest.example.com"


@dataclass
class Bot:
    gateway: Gateway
    lark: FakeLark
    http: aiohttp.ClientSession
    base: str
    db_url: str

    def sent_to(self, chat: str) -> list[Sent]:
        return [s for s in self.lark.sent if s.chat_id == chat]

    async def ask(
        self, chat: str, text: str, *, user: str = "ou_user", group: bool = False
    ) -> Sent:
        before = len(self.sent_to(chat))
        event = message_event(
            text,
            chat_id=chat,
            sender=user,
            chat_type="group" if group else "p2p",
            mention_bot=group,
        )
        body, headers = signed_request(event)
        async with self.http.post(f"{self.base}/lark/events", data=body, headers=headers) as r:
            assert r.status == 200, await r.text()
        await wait_for(lambda: len(self.sent_to(chat)) > before, within=15)
        return self.sent_to(chat)[-1]

    async def press(
        self, sent: Sent, label: str = "", *, user: str = "ou_user", value: Any = None
    ) -> dict[str, Any]:
        """Press a button of ``sent``; returns the callback's answer (toast, card or nothing)."""
        body, headers = signed_request(card_action_event(sent, label, user=user, value=value))
        async with self.http.post(f"{self.base}/lark/events", data=body, headers=headers) as r:
            assert r.status == 200, await r.text()
            answer: dict[str, Any] = await r.json()
        return answer


def env_for(sqlite_url: str, lark: FakeLark, http: bool = True) -> dict[str, str]:
    env = {
        "DIGESTBOT_DATABASE_URL": sqlite_url,
        "DIGESTBOT_LARK_APP_ID": APP_ID,
        "DIGESTBOT_LARK_APP_SECRET": APP_SECRET,
        "DIGESTBOT_LARK_API_URL": lark.url,
        "DIGESTBOT_LARK_CHAT_INTERVAL": "0",
        "DIGESTBOT_ADMINS": f"lark:{ADMIN}",
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": "0",
        "DIGESTBOT_PUBLIC_URL": PUBLIC,
        "DIGESTBOT_WEB_SECRET": "lark-buttons-web-secret",
    }
    if http:
        env["DIGESTBOT_LARK_VERIFICATION_TOKEN"] = VERIFICATION_TOKEN
        env["DIGESTBOT_LARK_ENCRYPT_KEY"] = ENCRYPT_KEY
    store = Store.open(sqlite_url)
    seed_samples(store)
    store.close()
    return env


@pytest.fixture
async def bot(sqlite_url: str) -> AsyncIterator[Bot]:
    async with FakeLark() as lark:
        gateway = Gateway(load_settings(env=env_for(sqlite_url, lark)), stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        await wait_for(lambda: gateway.outbox is not None and gateway.http is not None, within=60)
        assert gateway.http is not None
        async with aiohttp.ClientSession() as http:
            yield Bot(gateway, lark, http, f"http://127.0.0.1:{gateway.http.port}", sqlite_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


def labels(card: dict[str, Any]) -> list[str]:
    return [b["text"]["content"] for b in card_buttons(card)]


def new_card(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer.get("card", {}).get("type") == "raw", answer
    card: dict[str, Any] = answer["card"]["data"]
    return card


async def test_search_pages_update_the_card_in_place(bot: Bot) -> None:
    first = await bot.ask("oc_dm1", "/search agent")
    assert first.card["config"]["update_multi"] is True  # a shared card: updated for everyone
    assert "Next ›" in first.labels()
    card = new_card(await bot.press(first, "Next ›"))
    assert "page 2" in card_text(card)
    assert "‹ Previous" in labels(card)
    back = new_card(
        await bot.press(Sent("oc_dm1", "chat_id", card, first.message_id), "‹ Previous")
    )
    assert "page 2" not in card_text(back)
    assert len(bot.sent_to("oc_dm1")) == 1  # nothing new was sent: the card was updated


async def test_long_command_travels_under_a_stored_token(bot: Bot) -> None:
    words = " ".join(["智能体"] * 40)  # 159 characters, 399 bytes
    first = await bot.ask("oc_dm2", f"/search {words}")
    value = first.button("Next ›")["value"]
    assert set(value) == {"token"}  # the command is longer than a value carries
    card = new_card(await bot.press(first, "Next ›"))
    assert "page 2" in card_text(card)
    store = Store.open(bot.db_url)
    try:
        with store.engine.connect() as conn:
            tokens = set(conn.execute(select(ActionTokenRow.token)).scalars())
    finally:
        store.close()
    assert value["token"] in tokens


async def test_stale_or_forged_button_gets_a_toast(bot: Bot) -> None:
    first = await bot.ask("oc_dm3", "/themes")
    for value in ({"token": "notATokenWeKnow"}, {"command": "/nosuchcommand"}):
        answer = await bot.press(first, value=value)
        assert answer == {"toast": {"type": "info", "content": STALE.format(help="/help")}}
    # in a group the hint is how a group runs it: a mention
    group = await bot.ask("oc_grp0", "themes", group=True)
    answer = await bot.press(group, value={"token": "notATokenWeKnow"})
    assert answer["toast"]["content"] == STALE.format(help="@digestbot help")
    await asyncio.sleep(0.2)
    assert len(bot.sent_to("oc_dm3")) == 1


async def test_subscribe_button_obeys_the_group_rules(bot: Bot) -> None:
    themes = await bot.ask("oc_team", "themes", user="ou_member", group=True)
    assert "Subscribe: clay" in themes.labels()
    answer = await bot.press(themes, "Subscribe: clay", user="ou_member")
    assert "Only this chat's administrators" in answer["toast"]["content"]
    store = Store.open(bot.db_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(SubscriptionRow.id)).first() is None
        bot.lark.owners["oc_team"] = "ou_owner"
        before = len(bot.sent_to("oc_team"))
        assert await bot.press(themes, "Subscribe: clay", user="ou_owner") == {}
        await wait_for(lambda: len(bot.sent_to("oc_team")) > before, within=15)
        answer_card = bot.sent_to("oc_team")[-1]
        assert "Subscribed this chat to" in answer_card.text
        assert answer_card.reply_to == themes.message_id  # in a group it answers the card
        with store.engine.connect() as conn:
            subs = conn.execute(select(SubscriptionRow.chat_id, SubscriptionRow.theme)).all()
        assert [tuple(s) for s in subs] == [("oc_team", "clay")]
    finally:
        store.close()


async def test_a_chat_known_only_from_feishu_is_looked_up(bot: Bot) -> None:
    """A card the outbox sent to a chat the bot has not heard from: its kind is Feishu's."""
    themes = await bot.ask("oc_dm4", "/themes")
    forgotten = Sent("oc_other_dm", "chat_id", themes.card, themes.message_id)
    bot.lark.note_message(themes.message_id, "oc_other_dm")
    bot.lark.p2p.add("oc_other_dm")
    before = len(bot.sent_to("oc_other_dm"))
    assert await bot.press(forgotten, "Subscribe: clay", user="ou_someone") == {}
    await wait_for(lambda: len(bot.sent_to("oc_other_dm")) > before, within=15)
    assert "Subscribed this chat to" in bot.sent_to("oc_other_dm")[-1].text


async def test_feedback_and_details_on_digest_entries(bot: Bot) -> None:
    digest = await bot.ask("oc_dm5", "/digest clay")
    assert digest.labels()[:3] == ["Details: GLM-4.7", "👍", "👎"]
    answer = await bot.press(digest, "👍")
    assert answer["toast"]["content"].startswith("Thanks: 👍")
    answer = await bot.press(digest, "👍")
    assert "already" in answer["toast"]["content"]
    assert await bot.press(digest, "Details: GLM-4.7") == {}
    await wait_for(lambda: len(bot.sent_to("oc_dm5")) == 2, within=15)
    assert bot.sent_to("oc_dm5")[-1].card["header"]["title"]["content"].startswith("GLM-4.7")
    status = await bot.ask("oc_admin", "/status", user=ADMIN)
    assert "Feedback: 1 👍, 0 👎 on 1 item from 1 chat" in status.text


async def test_more_unfolds_a_card_in_place(bot: Bot) -> None:
    event = file_event(bot.lark, "2026-03.md", long_report(), chat_id="oc_admin", sender=ADMIN)
    body, headers = signed_request(event)
    async with bot.http.post(f"{bot.base}/lark/events", data=body, headers=headers) as r:
        assert r.status == 200
    await wait_for(lambda: bot.sent_to("oc_admin"), within=15)
    card = await bot.ask("oc_dm6", "/model Longwinded-1")
    assert "More" in card.labels()
    assert LONG_PART not in card.text
    unfolded = new_card(await bot.press(card, "More"))
    assert LONG_PART in card_text(unfolded)
    assert "More" not in labels(unfolded)


async def test_open_on_the_web_is_a_link_button(bot: Bot) -> None:
    card = await bot.ask("oc_dm7", "/model GLM-4.7")
    web = card.button("Open on the web")
    assert web["url"].startswith(f"{PUBLIC}/web/items/")
    assert "value" not in web  # a link opens the page; it sends no callback
    assert f"]({PUBLIC}/web/items/" in card.text  # and the text link stays beside it


async def test_a_press_over_the_long_connection_is_answered_in_its_ack(sqlite_url: str) -> None:
    async with FakeLark() as lark:
        env = env_for(sqlite_url, lark, http=False)
        gateway = Gateway(load_settings(env=env), stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        try:
            await wait_connected(lark, within=60)
            await lark.socket_event(message_event("search agent", chat_id="oc_ws", chat_type="p2p"))
            await wait_for(lambda: lark.sent, within=15)
            results = lark.sent[0]
            press = card_action_event(results, "Next ›")
            await lark.socket_event(press)
            await wait_for(lambda: lark.ack_of(press) is not None, within=15)
            answer = lark.ack_of(press)
            assert answer is not None
            assert "page 2" in card_text(new_card(answer))
            stale = card_action_event(results, "", value={"token": "notATokenWeKnow"})
            await lark.socket_event(stale)
            await wait_for(lambda: lark.ack_of(stale) is not None, within=15)
            assert lark.ack_of(stale) == {
                "toast": {"type": "info", "content": STALE.format(help="/help")}
            }
            assert len(lark.sent) == 1
        finally:
            gateway.stopping.set()
            assert await asyncio.wait_for(task, 30) == 0
