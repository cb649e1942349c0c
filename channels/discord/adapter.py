"""The Discord adapter, on discord.py 2.

Slash commands (``/model text:GLM-4.7``) are synced at :meth:`DiscordChannel.start`: to one guild
when ``guild_id`` is set (they appear at once), else globally. Each interaction is deferred at
once (Discord wants an answer within 3 s) and answered with follow-ups (valid for 15 minutes).
``@bot model GLM-4.7`` in a channel and plain commands in a DM arrive as messages: without the
privileged message-content intent, Discord still gives a bot the content of DMs and of messages
that mention it. Admins upload a report with ``/upload`` (an attachment option) or by sending
the ``.md`` file in a DM. Replies and digests are embeds (:mod:`channels.discord.render`), with
their buttons as message components; a press is an interaction too (:mod:`channels.discord.presses`).

discord.py waits out rate limits itself, per route bucket and globally, up to
``max_ratelimit_timeout``; a longer wait surfaces as :class:`~channels.base.RetryLater`, so the
outbox can schedule it instead of holding a worker. A digest goes to a channel id; an admin notice
goes to a user id, which :meth:`send` turns into a DM channel when Discord does not know it as a
channel.

``api_url`` and ``gateway_url`` (tests, proxies) set discord.py's ``Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``, which are class attributes: they hold for every client in
the process.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord
import yarl
from aiohttp import web
from discord import app_commands

from channels.base import ChatGone, Handler, Incoming, Pace, ReplyPace, SendError, Upload
from channels.buttons import ButtonData
from channels.discord.errors import TABLE, answer_trace, convert_error
from channels.discord.presses import is_button_press, on_press
from channels.discord.render import MAX_CUSTOM_ID, render_discord
from channels.discord.settings import DISCORD_API_URL, DISCORD_GATEWAY_URL, DiscordSettings
from channels.refusals import LOG_EVERY_SECONDS
from channels.sender import Inflight, Post, Sender
from digests.message import Message

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".md", ".markdown")
UNKNOWN_CHANNEL = 10003
NO_MENTIONS = discord.AllowedMentions.none()
_NAME = re.compile(r"^[-_a-z0-9]{1,32}$")


def command_text(content: str, bot_id: int) -> str:
    """A mention or DM as a command: ``<@123> model GLM-4.7`` -> ``/model GLM-4.7``."""
    text = re.sub(rf"<@!?{bot_id}>", " ", content).strip()
    if not text:
        return "/help"
    return text if text.startswith("/") else "/" + text


def embeds_of(payload: dict[str, Any]) -> list[discord.Embed]:
    return [discord.Embed.from_dict(e) for e in payload["embeds"]]


class Components(discord.ui.View):
    """A message's components as raw action rows: sent as they are and never kept in memory
    (presses come to ``on_interaction`` by ``custom_id``, whichever process sent them)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__(timeout=None)
        self.rows = rows

    def to_components(self) -> list[dict[str, Any]]:
        return self.rows

    def is_dispatchable(self) -> bool:
        return False


class DiscordChannel:
    """A :class:`~channels.base.Channel` for one Discord bot."""

    name = "discord"

    def __init__(
        self,
        token: str,
        *,
        guild_id: int | None = None,
        api_url: str = DISCORD_API_URL,
        gateway_url: str = DISCORD_GATEWAY_URL,
        commands: Sequence[tuple[str, str]] = (),
        max_ratelimit_timeout: float = 30.0,
        ready_timeout: float = 60.0,
        guild_ready_timeout: float = 2.0,
        drain_timeout: float = 10.0,
        images: bool = True,
        pace: ReplyPace | None = None,
        keep_command: Callable[[str], Awaitable[str]] | None = None,
        answer_within: float = 2.0,
    ) -> None:
        """Build the client and the command tree; no I/O until :meth:`start`.

        Args:
            token: The bot token.
            guild_id: Sync slash commands to this guild only (quick testing).
            api_url: REST base, ``https://discord.com/api/v10``.
            gateway_url: Gateway websocket, ``wss://gateway.discord.gg/``.
            commands: ``(name, description)`` pairs, one slash command each.
            max_ratelimit_timeout: Longer rate-limit waits raise instead of sleeping.
            ready_timeout: How long :meth:`start` waits for the gateway's READY.
            guild_ready_timeout: discord.py's wait for guilds after READY.
            drain_timeout: How long :meth:`stop` waits for replies in flight.
            images: An item's first figure as the embed image (``DIGESTBOT_IMAGES``).
            pace: Waits for the turn of each part of a reply (its sender calls it).
            keep_command: Stores a button command longer than a ``custom_id`` holds and
                returns its token (such buttons are left out without it).
            answer_within: How long a button press waits for its command before the
                interaction is acknowledged and the answer follows (Discord allows 3 s).
        """
        self._sender = Sender("discord", TABLE, pace)
        self._buttons = ButtonData(keep_command, MAX_CUSTOM_ID)
        self.answer_within = answer_within
        self._inflight = Inflight("discord")
        discord.http.Route.BASE = api_url.rstrip("/")
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
        self._token = token
        self._guild = discord.Object(guild_id) if guild_id else None
        self.done = asyncio.Event()  # never set: the gateway stops this channel
        self._ready_timeout = ready_timeout
        self._drain_timeout = drain_timeout
        self._images = images
        self._runner: asyncio.Task[None] | None = None
        self._dms: dict[str, discord.abc.Messageable] = {}
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True
        self._client = discord.Client(
            intents=intents,
            max_ratelimit_timeout=max_ratelimit_timeout,
            allowed_mentions=NO_MENTIONS,
            guild_ready_timeout=guild_ready_timeout,
            http_trace=answer_trace(),
        )
        self._tree = app_commands.CommandTree(self._client)
        for name, description in commands:
            self._add_command(name.lstrip("/"), description)
        self._add_upload_command()
        self._client.event(self.on_message)
        self._client.event(self.on_interaction)
        self._guard_parsers()

    def _guard_parsers(self) -> None:
        """One malformed gateway event (a MESSAGE_CREATE without author, an INTERACTION_CREATE
        with ``data: null``) is dropped and logged once a minute per event, instead of ending
        discord.py's connection task and every slash command with it (issue 30).

        discord.py has no public hook for this: its ConnectionState keeps the parser of each
        event in ``parsers``, which the gateway websocket calls."""
        parsers: dict[str, Callable[[Any], None]] = self._client._connection.parsers
        last: dict[str, float] = {}
        quiet: dict[str, int] = {}

        def dropped(event: str, exc: Exception) -> None:
            now = time.monotonic()
            if event in last and now - last[event] < LOG_EVERY_SECONDS:
                quiet[event] = quiet.get(event, 0) + 1
                return
            last[event] = now
            more = quiet.pop(event, 0)
            log.warning(
                "discord: dropped a malformed %s event (%s)%s",
                event,
                type(exc).__name__,
                f" (and {more} more since the last such line)" if more else "",
            )

        def guarded(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
            def run(data: Any) -> None:
                try:
                    parse(data)
                except Exception as exc:
                    dropped(event, exc)

            return run

        for event, parse in list(parsers.items()):
            parsers[event] = guarded(event, parse)

    @classmethod
    def from_settings(
        cls,
        settings: DiscordSettings,
        *,
        commands: Sequence[tuple[str, str]] = (),
        images: bool = True,
        pace: ReplyPace | None = None,
        keep_command: Callable[[str], Awaitable[str]] | None = None,
    ) -> DiscordChannel:
        token = settings.discord_token
        return cls(
            token.get_secret_value() if token is not None else "",
            guild_id=settings.discord_guild_id,
            api_url=settings.discord_api_url,
            gateway_url=settings.discord_gateway_url,
            commands=commands,
            images=images,
            pace=pace,
            keep_command=keep_command,
        )

    # --- slash commands -------------------------------------------------------------------
    def _add_command(self, name: str, description: str) -> None:
        if not _NAME.match(name) or self._tree.get_command(name) is not None:
            log.warning("discord: %r cannot be a slash command name; skipped", name)
            return

        @app_commands.describe(text="what follows the command, e.g. GLM-4.7 for /model (see /help)")
        async def slash(interaction: discord.Interaction, text: str | None = None) -> None:
            await self._on_slash(interaction, f"/{name} {text or ''}".strip())

        self._tree.add_command(
            app_commands.Command(name=name, description=description[:100] or name, callback=slash)
        )

    def _add_upload_command(self) -> None:
        @app_commands.describe(report="the monthly report, a .md file")
        async def upload(interaction: discord.Interaction, report: discord.Attachment) -> None:
            await self._on_upload_command(interaction, report)

        self._tree.add_command(
            app_commands.Command(
                name="upload", description="Admins: ingest a monthly report (.md)", callback=upload
            )
        )

    async def _on_slash(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer(thinking=True)  # within Discord's 3 s

        async def work(handler: Handler) -> None:
            incoming = Incoming(
                platform="discord",
                chat_id=str(interaction.channel_id),
                user_id=str(interaction.user.id),
                text=text,
                chat_kind="private" if interaction.guild_id is None else "group",
                is_chat_admin=lambda: _may_manage(interaction.guild_id, interaction.permissions),
                delivery_id=f"discord:interaction:{interaction.id}",
            )
            reply = await handler.on_command(incoming)
            await self.follow_up(interaction, reply or Message.text("Done."))

        await self._inflight.run(work)

    async def _on_upload_command(
        self, interaction: discord.Interaction, report: discord.Attachment
    ) -> None:
        await interaction.response.defer(thinking=True)

        async def work(handler: Handler) -> None:
            upload = self._upload(
                interaction.channel_id, interaction.user.id, report, f"interaction:{interaction.id}"
            )
            reply = await handler.on_upload(upload)
            await self.follow_up(interaction, reply or Message.text("Done."))

        await self._inflight.run(work)

    async def follow_up(self, interaction: discord.Interaction, reply: Message) -> None:
        """Answer an acknowledged interaction with ``reply``, as new messages."""
        kind = "private" if interaction.guild_id is None else "group"

        async def post(n: int, payload: dict[str, Any]) -> str:
            view = await self.view_of(payload)
            extra: dict[str, Any] = {"view": view} if view is not None else {}
            sent = await interaction.followup.send(
                embeds=embeds_of(payload), allowed_mentions=NO_MENTIONS, wait=True, **extra
            )
            return str(sent.id)

        parts = render_discord(reply, images=self._images)
        await self._sender.reply(str(interaction.channel_id), kind, parts, post)

    # --- buttons --------------------------------------------------------------------------
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A button press (slash commands go to the command tree)."""
        if not is_button_press(interaction):
            return
        await self._inflight.run(lambda handler: on_press(self, interaction, handler))

    async def view_of(self, payload: dict[str, Any]) -> Components | None:
        """The payload's components, each command too long for a ``custom_id`` kept under a
        token (a button whose command cannot be kept is left out); None without buttons."""
        rows = []
        for row in payload.get("components", []):
            kept = []
            for button in row["components"]:
                if "custom_id" in button:
                    data = await self._buttons.data(button["custom_id"])
                    if data is None:
                        log.warning("discord: button %r left out: too long", button["label"])
                        continue
                    button = {**button, "custom_id": data}
                kept.append(button)
            if kept:
                rows.append({**row, "components": kept})
        return Components(rows) if rows else None

    async def may_manage(self, interaction: discord.Interaction) -> bool:
        """Whether the presser may change this chat's settings (as for slash commands)."""
        return await _may_manage(interaction.guild_id, interaction.permissions)

    async def notice(
        self, interaction: discord.Interaction, reply: Message, *, responded: bool
    ) -> None:
        """``reply`` for the presser alone: an ephemeral message (a follow-up once the
        interaction was acknowledged)."""
        parts = render_discord(reply, images=self._images)[:1]

        async def post(n: int, payload: dict[str, Any]) -> str:
            embeds = embeds_of(payload)
            if responded:
                await interaction.followup.send(
                    embeds=embeds, ephemeral=True, allowed_mentions=NO_MENTIONS
                )
            else:
                await interaction.response.send_message(
                    embeds=embeds, ephemeral=True, allowed_mentions=NO_MENTIONS
                )
            return ""

        await self._sender.send(parts, post)

    async def update(
        self, interaction: discord.Interaction, reply: Message, *, responded: bool
    ) -> None:
        """Replace the message that held the pressed button with ``reply``'s first part (the
        interaction's answer, or an edit of it once acknowledged); further parts follow."""
        held = interaction.message
        kind = "private" if interaction.guild_id is None else "group"

        async def post(n: int, payload: dict[str, Any]) -> str:
            view = await self.view_of(payload)
            if n > 0:
                extra: dict[str, Any] = {"view": view} if view is not None else {}
                sent = await interaction.followup.send(
                    embeds=embeds_of(payload), allowed_mentions=NO_MENTIONS, wait=True, **extra
                )
                return str(sent.id)
            if responded:
                await interaction.edit_original_response(embeds=embeds_of(payload), view=view)
            else:
                await interaction.response.edit_message(embeds=embeds_of(payload), view=view)
            return str(held.id) if held is not None else ""

        parts = render_discord(reply, images=self._images)
        pace = self._sender.reply_pace(str(interaction.channel_id), kind)
        await self._sender.send(parts, post, pace=pace)

    # --- messages: mentions, DMs, DM attachments -------------------------------------------
    async def on_message(self, message: discord.Message) -> None:
        user = self._client.user
        author = getattr(message, "author", None)  # a malformed event may have none
        if author is None or author.bot or user is None:
            return
        dm = isinstance(message.channel, discord.DMChannel)
        if not (dm or user in message.mentions):
            return

        async def work(handler: Handler) -> None:
            files = [a for a in message.attachments if a.filename.lower().endswith(UPLOAD_SUFFIXES)]
            if dm and files:
                for attachment in files:
                    reply = await handler.on_upload(
                        self._upload(
                            message.channel.id,
                            message.author.id,
                            attachment,
                            f"message:{message.id}:{attachment.id}",
                        )
                    )
                    if reply is not None:
                        await self._answer(message, reply)
                return
            incoming = Incoming(
                platform="discord",
                chat_id=str(message.channel.id),
                user_id=str(message.author.id),
                text=command_text(message.content, user.id),
                chat_kind="private" if dm else "group",
                is_chat_admin=lambda: _member_may_manage(message),
                delivery_id=f"discord:message:{message.id}",
            )
            answer = await handler.on_command(incoming)
            if answer is not None:
                await self._answer(message, answer)

        await self._inflight.run(work)

    async def _answer(self, message: discord.Message, reply: Message) -> None:
        chat_id = str(message.channel.id)
        kind = "private" if isinstance(message.channel, discord.DMChannel) else "group"
        parts = render_discord(reply, images=self._images)
        await self._sender.reply(chat_id, kind, parts, self._posting(message.channel, message))

    def _upload(
        self, chat_id: int | None, user_id: int, attachment: discord.Attachment, delivery: str
    ) -> Upload:
        async def fetch() -> bytes:
            return await attachment.read()

        return Upload(
            platform="discord",
            chat_id=str(chat_id),
            user_id=str(user_id),
            filename=attachment.filename,
            size=attachment.size,
            fetch=fetch,
            delivery_id=f"discord:{delivery}",
        )

    # --- life cycle -----------------------------------------------------------------------
    async def start(self, handler: Handler) -> None:
        """Log in (checks the token), sync the slash commands, connect to the gateway and
        wait for READY.

        Raises:
            discord.LoginFailure: the token was refused.
            RuntimeError: the gateway connection failed or did not get ready in time.
        """
        self._inflight.handler = handler
        try:
            await self._client.login(self._token)
            if self._guild is not None:
                self._tree.copy_global_to(guild=self._guild)
                synced = await self._tree.sync(guild=self._guild)
            else:
                synced = await self._tree.sync()
        except BaseException:
            await self._client.close()  # the HTTP session is open from the first request
            raise
        log.info("discord: synced %d slash commands", len(synced))
        self._runner = asyncio.create_task(self._client.connect(reconnect=True), name="discord")
        ready = asyncio.create_task(self._client.wait_until_ready())
        done, _ = await asyncio.wait(
            {self._runner, ready}, timeout=self._ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            runner = self._runner
            await self.stop()
            # discord.py may end connect() on a first failed handshake with an error of its own.
            failure = runner.exception() if runner in done and not runner.cancelled() else None
            raise RuntimeError(
                f"discord: the gateway did not get ready ({failure!r}); check "
                "DIGESTBOT_DISCORD_GATEWAY_URL and the network"
                if failure
                else "discord: the gateway did not send READY in time"
            ) from failure
        log.info("discord: started as %s", self._client.user)

    def web_routes(self) -> list[web.RouteDef]:
        """None: interactions and messages come over the gateway websocket."""
        return []

    def connected(self) -> bool:
        """Ready, holding an open gateway websocket, and still reading it: an event discord.py
        cannot parse ends its connection task while the socket stays open (issue 30)."""
        ws = self._client.ws
        runner = self._runner
        return (
            runner is not None
            and not runner.done()
            and self._client.is_ready()
            and not self._client.is_closed()
            and ws is not None
            and ws.open
        )

    async def stop(self) -> None:
        """Wait (up to ``drain_timeout``) for replies in flight, then close the client."""
        await self._inflight.drain(self._drain_timeout)
        await self._client.close()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None

    # --- outgoing -------------------------------------------------------------------------
    async def send(
        self, chat_id: str, message: Message, *, skip: int = 0, pace: Pace | None = None
    ) -> list[str]:
        """Post ``message`` (as many messages as its embeds need, but the first ``skip``) to a
        channel, or to a user's DM when ``chat_id`` is a user id; return each message's id.

        Raises:
            SendError: a subclass per failure kind, with ``sent_ids`` of the messages posted.
        """
        if not chat_id.isdigit():
            raise SendError(f"discord: {chat_id!r} is not a channel or user id")
        target = self._dms.get(chat_id) or self._client.get_partial_messageable(int(chat_id))
        parts = render_discord(message, images=self._images)
        try:
            return await self._sender.send(parts, self._posting(target), skip=skip, pace=pace)
        except ChatGone as gone:
            if gone.sent_ids or not isinstance(gone.__cause__, discord.NotFound):
                raise
            if getattr(gone.__cause__, "code", 0) != UNKNOWN_CHANNEL or chat_id in self._dms:
                raise
        # Not a channel: an admin's user id. Open (or find) the DM channel and send there.
        try:
            with TABLE.mapping():
                dm = await self._client.create_dm(discord.Object(int(chat_id)))
        except SendError as error:
            # Refused outright (400: no such user); 403 and 404 are gone by the table already.
            if getattr(error.__cause__, "status", 0) != 400:
                raise
            raise ChatGone(str(error)) from error.__cause__
        self._dms[chat_id] = dm
        return await self._sender.send(parts, self._posting(dm), skip=skip, pace=pace)

    def _posting(
        self, target: discord.abc.Messageable, reference: discord.Message | None = None
    ) -> Post[dict[str, Any]]:
        """How one part is posted to ``target``: the first as the answer to ``reference``."""

        async def post(n: int, payload: dict[str, Any]) -> str:
            view = await self.view_of(payload)
            extra: dict[str, Any] = {"view": view} if view is not None else {}
            if reference is not None and n == 0:  # only the first message answers the command
                sent = await target.send(
                    embeds=embeds_of(payload),
                    allowed_mentions=NO_MENTIONS,
                    reference=reference,
                    mention_author=False,
                    **extra,
                )
            else:
                sent = await target.send(
                    embeds=embeds_of(payload), allowed_mentions=NO_MENTIONS, **extra
                )
            return str(sent.id)

        return post


async def _may_manage(guild_id: int | None, permissions: discord.Permissions) -> bool:
    """DMs: yes. Guilds: those who may manage the channel or the server."""
    if guild_id is None:
        return True
    return permissions.manage_channels or permissions.manage_guild or permissions.administrator


async def _member_may_manage(message: discord.Message) -> bool:
    if isinstance(message.channel, discord.DMChannel):
        return True
    author = message.author
    if not isinstance(author, discord.Member):
        return False
    channel = message.channel
    permissions = (
        channel.permissions_for(author)
        if hasattr(channel, "permissions_for")
        else author.guild_permissions
    )
    return permissions.manage_channels or permissions.manage_guild or permissions.administrator


__all__ = ["DiscordChannel", "command_text", "convert_error"]
