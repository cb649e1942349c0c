"""DiscordChannel end to end: the real discord.py against the local fake REST API and gateway."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import discord
import pytest

from channels.base import Action, ChatGone, RetryLater, SendError
from channels.discord.adapter import DiscordChannel, command_text
from digests.message import Actions, Button, Message, Paragraph, Span
from tests.fakes import EchoHandler, wait_for
from tests.fakes.discord import BOT_ID, GUILD_ID, TOKEN, FakeDiscord

COMMANDS = [("echo", "Echo the text back"), ("admin", "Am I a chat admin?")]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


def make_channel(fake: FakeDiscord, **kwargs: object) -> DiscordChannel:
    return DiscordChannel(
        TOKEN,
        api_url=fake.api_url,
        gateway_url=fake.gateway_url,
        commands=COMMANDS,
        guild_ready_timeout=0.05,
        drain_timeout=2.0,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def channel(fake: FakeDiscord, handler: EchoHandler) -> AsyncIterator[DiscordChannel]:
    bot = make_channel(fake)
    await bot.start(handler)
    yield bot
    await bot.stop()


async def test_start_syncs_slash_commands_globally(
    fake: FakeDiscord, channel: DiscordChannel
) -> None:
    names = {c["name"] for c in fake.synced["global"]}
    assert names == {"echo", "admin", "upload"}
    echo = next(c for c in fake.synced["global"] if c["name"] == "echo")
    assert echo["options"][0]["name"] == "text"
    assert channel.connected()
    assert fake.identified[0]["token"] == TOKEN


async def test_guild_scoped_sync(fake: FakeDiscord, handler: EchoHandler) -> None:
    bot = make_channel(fake, guild_id=GUILD_ID)
    await bot.start(handler)
    try:
        assert {c["name"] for c in fake.synced[str(GUILD_ID)]} == {"echo", "admin", "upload"}
    finally:
        await bot.stop()


async def test_slash_command_is_deferred_then_answered_with_embeds(
    fake: FakeDiscord, channel: DiscordChannel, handler: EchoHandler
) -> None:
    started = time.monotonic()
    interaction = await fake.slash(
        "echo", [{"name": "text", "type": 3, "value": "hi **@everyone** <@1>"}]
    )
    await wait_for(lambda: fake.callbacks)
    assert time.monotonic() - started < 3
    assert (
        fake.callbacks[0] == (interaction, {"type": 5, "data": {}})
        or fake.callbacks[0][1]["type"] == 5
    )
    await wait_for(lambda: fake.sent)
    posted = fake.sent[0]
    assert posted.via == "followup"
    assert posted.channel_id == f"interaction:{interaction}"
    # a word joiner (U+2060) after each @: it reads the same and mentions nobody
    assert posted.embeds[0]["description"] == "hi \\*\\*\\@\u2060everyone\\*\\* \\<\\@\u20601\\>"
    assert posted.allowed_mentions == {"parse": []}
    incoming = handler.commands[0]
    assert (incoming.platform, incoming.chat_id, incoming.user_id) == ("discord", "700", "500")
    assert incoming.text == "/echo hi **@everyone** <@1>"
    assert incoming.chat_kind == "group"  # the core checks chat admins in groups


async def test_chat_admin_comes_from_the_members_permissions(
    fake: FakeDiscord, channel: DiscordChannel
) -> None:
    await fake.slash("admin", user_id=501, permissions=1 << 4)  # MANAGE_CHANNELS
    await wait_for(lambda: fake.sent)
    await fake.slash("admin", user_id=502, permissions=1 << 11)  # SEND_MESSAGES only
    await wait_for(lambda: len(fake.sent) >= 2)
    assert [p.text for p in fake.sent] == ["admin=True", "admin=False"]


async def test_mention_and_dm_commands(
    fake: FakeDiscord, channel: DiscordChannel, handler: EchoHandler
) -> None:
    await fake.user_message("echo from a mention", mention_bot=True, channel_id=701)
    await fake.user_message("echo chatter without mention", channel_id=701)
    await fake.user_message("echo in a dm", channel_id=702, guild=False)
    await wait_for(lambda: len(fake.sent) >= 2)
    await asyncio.sleep(0.1)
    assert sorted(c.text for c in handler.commands) == ["/echo from a mention", "/echo in a dm"]
    mention = next(p for p in fake.sent if p.channel_id == "701")
    assert mention.reference is not None
    assert mention.text == "from a mention"


async def test_upload_by_slash_command_and_by_dm(
    fake: FakeDiscord, channel: DiscordChannel, handler: EchoHandler
) -> None:
    content = "# 2026-02\n\n蒸馏".encode()
    attachment = fake.add_attachment("2026-02.md", content)
    await fake.slash(
        "upload",
        [{"name": "report", "type": 11, "value": attachment["id"]}],
        resolved={"attachments": {attachment["id"]: attachment}},
    )
    await wait_for(lambda: fake.sent)
    upload, size, data = handler.uploads[0]
    assert (upload.platform, upload.filename, size, data) == (
        "discord",
        "2026-02.md",
        len(content),
        content,
    )
    assert f"got {len(content)} bytes" in fake.sent[0].text
    await fake.user_message(
        "", channel_id=703, guild=False, attachments=[fake.add_attachment("b.md", b"x")]
    )
    await wait_for(lambda: len(handler.uploads) == 2)
    assert handler.uploads[1][0].chat_id == "703"


def test_command_text() -> None:
    assert command_text(f"<@{BOT_ID}> model GLM-4.7", BOT_ID) == "/model GLM-4.7"
    assert command_text(f"<@!{BOT_ID}>", BOT_ID) == "/help"
    assert command_text("/paper x", BOT_ID) == "/paper x"


# --- send() -----------------------------------------------------------------------------------


async def test_send_posts_embeds_to_a_channel(fake: FakeDiscord, channel: DiscordChannel) -> None:
    ids = await channel.send("800", Message.text("digest"))
    assert ids == [fake.sent[0].message_id]
    assert fake.sent[0].channel_id == "800"


async def test_send_to_a_user_id_opens_a_dm(fake: FakeDiscord, channel: DiscordChannel) -> None:
    fake.users.add("555")
    ids = await channel.send("555", Message.text("notice"))
    dm = fake.dm_channels["555"]
    assert fake.sent[-1].channel_id == dm
    assert ids == [fake.sent[-1].message_id]


async def test_short_429_is_waited_out_by_the_library(
    fake: FakeDiscord, channel: DiscordChannel
) -> None:
    fake.rate_limit(0.2)
    ids = await channel.send("800", Message.text("after a short wait"))
    assert len(ids) == 1
    assert fake.sent[0].text == "after a short wait"


async def test_long_429_is_retry_later(fake: FakeDiscord, channel: DiscordChannel) -> None:
    fake.rate_limit(120.0)
    with pytest.raises(RetryLater) as info:
        await channel.send("800", Message.text("x"))
    assert info.value.retry_after == 120.0
    assert fake.sent == []


async def test_removed_bot_is_chat_gone(fake: FakeDiscord, channel: DiscordChannel) -> None:
    fake.forbid("801")
    with pytest.raises(ChatGone, match="Missing Access"):
        await channel.send("801", Message.text("x"))


async def test_deleted_channel_that_is_no_user_either_is_chat_gone(
    fake: FakeDiscord, channel: DiscordChannel
) -> None:
    fake.unknown.add("998")
    with pytest.raises(ChatGone):
        await channel.send("998", Message.text("x"))
    assert fake.sent == []


async def test_wrong_token_fails_start(fake: FakeDiscord, handler: EchoHandler) -> None:
    bot = DiscordChannel("wrong", api_url=fake.api_url, gateway_url=fake.gateway_url)
    with pytest.raises(discord.LoginFailure):
        await bot.start(handler)


async def test_send_to_something_that_is_no_id_is_a_send_error(channel: DiscordChannel) -> None:
    with pytest.raises(SendError, match="not a channel or user id"):
        await channel.send("general", Message.text("x"))


async def test_a_gateway_that_never_says_ready_fails_start(
    fake: FakeDiscord, handler: EchoHandler
) -> None:
    bot = DiscordChannel(
        TOKEN,
        api_url=fake.api_url,
        gateway_url=fake.url.replace("http://", "ws://") + "/no-gateway-here",
        ready_timeout=1.0,
    )
    with pytest.raises(RuntimeError, match="gateway"):
        await bot.start(handler)
    assert not bot.connected()


async def test_malformed_gateway_events_do_not_stop_slash_commands(
    fake: FakeDiscord,
    channel: DiscordChannel,
    handler: EchoHandler,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A MESSAGE_CREATE without author and an INTERACTION_CREATE with ``data: null`` (issue 30):
    the next slash command is still answered, and the channel still says it is connected."""
    await fake.dispatch(
        "MESSAGE_CREATE",
        {"id": "9001", "channel_id": "700", "content": "/echo ghost", "type": 0},
    )
    await fake.dispatch(
        "INTERACTION_CREATE",
        {
            "id": "9002",
            "application_id": "1",
            "type": 2,
            "token": "itok-9002",
            "version": 1,
            "channel_id": "700",
            "data": None,
            "user": {"id": "500", "username": "u", "discriminator": "0", "avatar": None},
        },
    )
    await fake.slash("echo", [{"name": "text", "type": 3, "value": "still here"}])
    await wait_for(lambda: fake.sent, within=10)
    assert "still here" in str(fake.sent[-1])
    assert channel.connected()
    assert all(r.exc_info is None for r in caplog.records)  # one line each, no traceback
    assert any("malformed INTERACTION_CREATE" in r.getMessage() for r in caplog.records)


class SlowHandler(EchoHandler):
    """A press whose command takes longer than Discord's 3 s allow before an answer."""

    async def on_action(self, action: Action) -> Message | None:
        await asyncio.sleep(1.0)
        return Message.text("slow answer")


async def test_a_slow_press_is_deferred_in_time_then_followed_up(fake: FakeDiscord) -> None:
    """Issue 25: a press whose command runs past ``answer_within`` (2 s by default, under
    Discord's 3) is acknowledged first (type 6), and its answer follows as a new message."""
    bot = make_channel(fake, answer_within=0.2)
    await bot.start(SlowHandler())
    try:
        button = Actions((Button("Slow", "/echo slow"),))
        await bot.send("700", Message((Paragraph((Span("press me"),)), button)))
        await wait_for(lambda: fake.sent)
        posted = fake.sent[-1]
        interaction = await fake.press(posted, "Slow")
        await wait_for(lambda: fake.callback_of(interaction) is not None)
        callback = fake.callback_of(interaction)
        assert callback is not None
        assert callback["type"] == 6
        assert not any("slow answer" in str(p) for p in fake.sent)  # acknowledged first
        await wait_for(lambda: any("slow answer" in str(p) for p in fake.sent), within=10)
    finally:
        await bot.stop()
