"""The real gateway with Feishu/Lark (HTTP event callbacks) and Discord, against the local fakes.

lark-oapi and discord.py are pointed at the fakes through the settings a user sets
(DIGESTBOT_LARK_API_URL, DIGESTBOT_DISCORD_API_URL, DIGESTBOT_DISCORD_GATEWAY_URL); Lark events
are encrypted and signed as Feishu does and posted to the gateway's own HTTP server.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.delivery.worker import enqueue
from bot.gateway import Gateway, seed_samples
from bot.settings import load_settings
from bot.store.models import SubscriptionRow as Subscription
from bot.store.store import Store
from digests.message import Message
from tests.fakes import wait_for
from tests.fakes.discord import TOKEN as DISCORD_TOKEN
from tests.fakes.discord import FakeDiscord
from tests.fakes.lark import (
    APP_ID,
    APP_SECRET,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    FakeLark,
    challenge_request,
    file_event,
    message_event,
    signed_request,
)

LARK_ADMIN = "ou_admin"
DISCORD_ADMIN = 1001


@dataclass
class Running:
    gateway: Gateway
    lark: FakeLark
    discord: FakeDiscord
    http: aiohttp.ClientSession
    base: str

    async def lark_event(self, event: dict) -> int:
        body, headers = signed_request(event)
        async with self.http.post(f"{self.base}/lark/events", data=body, headers=headers) as r:
            return r.status

    def lark_texts(self, chat: str) -> list[str]:
        return [s.text for s in self.lark.sent if s.chat_id == chat]

    def enqueue(self, platform: str, chat: str, text: str) -> None:
        store = self.gateway.store
        assert store is not None
        assert self.gateway.outbox is not None
        with store.engine.begin() as conn:
            enqueue(conn, platform=platform, chat_id=chat, message=Message.text(text))
        self.gateway.outbox.wake()

    def subscribe(self, platform: str, chat: str) -> None:
        store = self.gateway.store
        assert store is not None
        with store.engine.begin() as conn:
            conn.execute(
                Subscription.__table__.insert().values(
                    platform=platform,
                    chat_id=chat,
                    theme="clay",
                    day="mon",
                    at_time="09:00",
                    timezone="UTC",
                    size=5,
                    active=True,
                    created_by="x",
                    created_at=datetime.now(UTC),
                )
            )

    def subscription_active(self, platform: str, chat: str) -> bool:
        store = self.gateway.store
        assert store is not None
        with store.engine.connect() as conn:
            return bool(
                conn.execute(
                    select(Subscription.active).where(
                        Subscription.platform == platform, Subscription.chat_id == chat
                    )
                ).scalar_one()
            )


@pytest.fixture
def seed_bytes(seed_path: Path) -> bytes:
    return seed_path.read_bytes()


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[Running]:
    async with FakeLark() as lark, FakeDiscord() as discord:
        env = {
            "DIGESTBOT_DATABASE_URL": sqlite_url,
            "DIGESTBOT_LARK_APP_ID": APP_ID,
            "DIGESTBOT_LARK_APP_SECRET": APP_SECRET,
            "DIGESTBOT_LARK_VERIFICATION_TOKEN": VERIFICATION_TOKEN,
            "DIGESTBOT_LARK_ENCRYPT_KEY": ENCRYPT_KEY,
            "DIGESTBOT_LARK_API_URL": lark.url,
            "DIGESTBOT_LARK_CHAT_INTERVAL": "0",
            "DIGESTBOT_DISCORD_TOKEN": DISCORD_TOKEN,
            "DIGESTBOT_DISCORD_API_URL": discord.api_url,
            "DIGESTBOT_DISCORD_GATEWAY_URL": discord.gateway_url,
            "DIGESTBOT_ADMINS": f"lark:{LARK_ADMIN},discord:{DISCORD_ADMIN}",
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_HTTP_PORT": "0",
        }
        settings = load_settings(env=env)
        store = Store.open(sqlite_url)
        seed_samples(store)
        store.close()
        gateway = Gateway(settings, stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        await wait_for(lambda: gateway.outbox is not None and gateway.http is not None, within=60)
        assert gateway.http is not None
        async with aiohttp.ClientSession() as http:
            yield Running(gateway, lark, discord, http, f"http://127.0.0.1:{gateway.http.port}")
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


async def test_lark_commands_in_group_and_direct_chat(running: Running) -> None:
    assert await running.lark_event(message_event("model glm4.7", mention_bot=True)) == 200
    assert (
        await running.lark_event(message_event("/themes", chat_id="oc_dm", chat_type="p2p")) == 200
    )
    await wait_for(
        lambda: running.lark_texts("oc_group") and running.lark_texts("oc_dm"), within=15
    )
    card = next(s for s in running.lark.sent if s.chat_id == "oc_group")
    assert card.card["header"]["title"]["content"].startswith("GLM-4.7")
    assert card.reply_to is not None
    assert "clay" in running.lark_texts("oc_dm")[0]


async def test_saving_the_lark_callback_url_is_answered(running: Running) -> None:
    # Feishu's encrypted, unsigned url_verification challenge, to the gateway's own server.
    url = f"{running.base}/lark/events"
    body, headers = challenge_request("c-console")
    async with running.http.post(url, data=body, headers=headers) as resp:
        assert resp.status == 200
        assert await resp.json() == {"challenge": "c-console"}
    body, headers = challenge_request("c-forged", token="forged")
    async with running.http.post(url, data=body, headers=headers) as resp:
        assert resp.status == 401
        assert "c-forged" not in await resp.text()


async def test_a_retried_lark_event_is_answered_once(running: Running) -> None:
    event = message_event("/themes", chat_id="oc_once", chat_type="p2p", event_id="ev-twice")
    assert await running.lark_event(event) == 200
    assert await running.lark_event(event) == 200
    await wait_for(lambda: running.lark_texts("oc_once"), within=15)
    await asyncio.sleep(0.5)
    assert len(running.lark_texts("oc_once")) == 1


async def test_discord_slash_command_is_deferred_and_answered(running: Running) -> None:
    await running.discord.slash("model", [{"name": "text", "type": 3, "value": "kimi k2 thinking"}])
    await wait_for(lambda: running.discord.sent, within=15)
    assert running.discord.callbacks[0][1]["type"] == 5
    assert "Kimi-K2-Thinking" in running.discord.sent[0].text
    assert {"model", "paper", "search", "themes", "upload"} <= {
        c["name"] for c in running.discord.synced["global"]
    }


async def test_only_chat_managers_change_group_subscriptions(running: Running) -> None:
    discord, lark = running.discord, running.lark
    await discord.slash("subscribe", [{"name": "text", "type": 3, "value": "clay"}], user_id=7)
    await wait_for(lambda: discord.sent, within=15)
    assert "Only this chat's administrators" in discord.sent[0].text
    manage_channels = 1 << 4
    await discord.slash(
        "subscribe", [{"name": "text", "type": 3, "value": "clay"}], permissions=manage_channels
    )
    await wait_for(lambda: len(discord.sent) == 2, within=15)
    assert "Subscribed this chat to" in discord.sent[1].text
    assert running.subscription_active("discord", "700")

    lark.owners["oc_team"] = "ou_owner"
    stranger = message_event("subscribe clay", chat_id="oc_team", sender="ou_x", mention_bot=True)
    assert await running.lark_event(stranger) == 200
    await wait_for(lambda: running.lark_texts("oc_team"), within=15)
    assert "Only this chat" in running.lark_texts("oc_team")[0]
    owner = message_event("subscribe clay", chat_id="oc_team", sender="ou_owner", mention_bot=True)
    assert await running.lark_event(owner) == 200
    await wait_for(lambda: len(running.lark_texts("oc_team")) == 2, within=15)
    assert "Subscribed this chat to" in running.lark_texts("oc_team")[1]
    assert running.subscription_active("lark", "oc_team")


async def test_admin_uploads_on_both_and_a_refusal(running: Running, seed_bytes: bytes) -> None:
    content = seed_bytes
    event = file_event(running.lark, "2026-01.md", content, chat_id="oc_admin", sender=LARK_ADMIN)
    assert await running.lark_event(event) == 200
    await wait_for(lambda: running.lark_texts("oc_admin"), within=15)
    assert "2026-01" in running.lark_texts("oc_admin")[0]
    refused = file_event(running.lark, "x.md", b"# x", chat_id="oc_other", sender="ou_stranger")
    assert await running.lark_event(refused) == 200
    await wait_for(lambda: running.lark_texts("oc_other"), within=15)
    assert "Only bot admins" in running.lark_texts("oc_other")[0]

    attachment = running.discord.add_attachment("2026-01.md", content)
    await running.discord.slash(
        "upload",
        [{"name": "report", "type": 11, "value": attachment["id"]}],
        user_id=DISCORD_ADMIN,
        guild=False,
        resolved={"attachments": {attachment["id"]: attachment}},
    )
    await wait_for(lambda: running.discord.sent, within=15)
    assert "2026-01 unchanged" in running.discord.sent[0].text  # Lark's upload came first


async def test_digests_through_the_outbox_429_and_removed_bots(running: Running) -> None:
    lark, discord = running.lark, running.discord
    # A digest on each platform.
    running.enqueue("lark", "oc_team", "weekly digest for Lark")
    running.enqueue("discord", "800", "weekly digest for Discord")
    await wait_for(lambda: running.lark_texts("oc_team") and discord.sent, within=15)
    assert running.lark_texts("oc_team") == ["weekly digest for Lark"]
    assert discord.sent[0].channel_id == "800"

    # A 429 from Feishu: the outbox waits the announced reset, then delivers once.
    lark.fail_next("send", 99991400, "request trigger frequency limit", status=429, reset=1)
    running.enqueue("lark", "oc_team", "after the limit")
    await wait_for(lambda: len(running.lark_texts("oc_team")) == 2, within=15)
    assert running.lark_texts("oc_team")[1] == "after the limit"

    # Removed bots: the subscriptions stop and the admins hear of it on their own platform.
    running.subscribe("lark", "oc_left")
    running.subscribe("discord", "801")
    lark.remove_bot("oc_left")
    discord.forbid("801")
    discord.users.add(str(DISCORD_ADMIN))
    running.enqueue("lark", "oc_left", "digest")
    running.enqueue("discord", "801", "digest")
    # Every admin hears of every gone chat.
    await wait_for(lambda: len([s for s in lark.sent if s.chat_id == LARK_ADMIN]) == 2, within=20)
    notices = [s for s in lark.sent if s.chat_id == LARK_ADMIN]
    assert all(n.receive_id_type == "open_id" for n in notices)
    assert any("oc&#95;left" in n.text and "230002" in n.text for n in notices)  # escaped _
    assert any("801" in n.text and "Missing Access" in n.text for n in notices)
    dm = await _dm_channel(discord)
    await wait_for(lambda: len([p for p in discord.sent if p.channel_id == dm]) == 2, within=20)
    assert not running.subscription_active("lark", "oc_left")
    assert not running.subscription_active("discord", "801")
    health = await running.gateway.health()
    assert health["channel_lark"]
    assert health["channel_discord"]

    # /status (a bot admin, in a direct chat) and /metrics count both platforms.
    status = message_event("/status", chat_id="oc_admin_dm", chat_type="p2p", sender=LARK_ADMIN)
    assert await running.lark_event(status) == 200
    await wait_for(lambda: running.lark_texts("oc_admin_dm"), within=15)
    assert "Deactivated: 2 chats, 2 subscriptions" in running.lark_texts("oc_admin_dm")[0]
    async with running.http.get(f"{running.base}/metrics") as resp:
        metrics = await resp.text()
    for platform in ("lark", "discord"):
        assert f'digestbot_messages_sent_total{{platform="{platform}",purpose="digest"}}' in metrics
        assert (
            f'digestbot_send_failures_total{{platform="{platform}",reason="gone"}} 1.0' in metrics
        )
    assert 'digestbot_send_failures_total{platform="lark",reason="retry"} 1.0' in metrics


async def _dm_channel(discord: FakeDiscord) -> str:
    await wait_for(lambda: str(DISCORD_ADMIN) in discord.dm_channels, within=20)
    return discord.dm_channels[str(DISCORD_ADMIN)]


async def test_lark_long_connection_through_the_gateway(sqlite_url: str) -> None:
    from tests.fakes.lark import wait_connected

    async with FakeLark() as lark:
        env = {
            "DIGESTBOT_DATABASE_URL": sqlite_url,
            "DIGESTBOT_LARK_APP_ID": APP_ID,
            "DIGESTBOT_LARK_APP_SECRET": APP_SECRET,
            "DIGESTBOT_LARK_API_URL": lark.url,
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_HTTP_PORT": "0",
        }
        store = Store.open(sqlite_url)
        seed_samples(store)
        store.close()
        gateway = Gateway(load_settings(env=env), stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        try:
            await wait_connected(lark, within=60)
            await lark.socket_event(message_event("model glm4.7", chat_id="oc_dm", chat_type="p2p"))
            await wait_for(lambda: lark.sent, within=15)
            assert lark.sent[0].card["header"]["title"]["content"].startswith("GLM-4.7")
            await wait_for(lambda: lark.acks, within=5)
            health = await gateway.health()
            assert health["channel_lark"]
        finally:
            gateway.stopping.set()
            assert await asyncio.wait_for(task, 30) == 0
        assert not lark.socket_connected
