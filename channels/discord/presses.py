"""Buttons on Discord: a press (an ``INTERACTION_CREATE`` of a button component) runs its command.

The button's ``custom_id`` is the command, or a token of one the gateway stored
(:mod:`channels.buttons`), so a press works on any message the bot ever sent, across restarts:
no view is kept in memory; the adapter's ``on_interaction`` takes every button press.

Discord wants an answer within 3 s. The command gets ``answer_within`` seconds; then:

- a ``notice`` reply (a refusal, a stale button, a thank-you) is an ephemeral message, for the
  presser alone (callback type 4, flag 64);
- a reply that ``edit``\\ s replaces the message that held the button (type 7, update message),
  as Telegram edits it; a longer reply's further parts follow as new messages;
- any other reply is acknowledged (type 6, deferred update) and follows as a new message.

A slower command is acknowledged (type 6) at the deadline, and its reply follows: an edit through
``PATCH …/messages/@original``, a notice as an ephemeral follow-up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, Protocol

import discord

from channels.base import Action, Handler
from channels.buttons import action_fields
from digests.message import Message


class Presses(Protocol):
    """What answering a press needs of the channel (:class:`~channels.discord.adapter.DiscordChannel`)."""

    answer_within: float

    def may_manage(self, interaction: discord.Interaction) -> Awaitable[bool]: ...

    def notice(
        self, interaction: discord.Interaction, reply: Message, *, responded: bool
    ) -> Awaitable[None]: ...

    def update(
        self, interaction: discord.Interaction, reply: Message, *, responded: bool
    ) -> Awaitable[None]: ...

    def follow_up(self, interaction: discord.Interaction, reply: Message) -> Awaitable[None]: ...


def is_button_press(interaction: discord.Interaction) -> bool:
    """Whether ``interaction`` is a press of a button that sends a command (not a link)."""
    data: dict[str, Any] = dict(interaction.data or {})
    return (
        interaction.type is discord.InteractionType.component
        and data.get("component_type") == discord.ComponentType.button.value
        and bool(data.get("custom_id"))
    )


async def on_press(channel: Presses, interaction: discord.Interaction, handler: Handler) -> None:
    """Run the pressed button's command and answer the interaction (module docstring)."""
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id = str(data.get("custom_id") or "")

    async def admin() -> bool:
        return await channel.may_manage(interaction)

    action = Action(
        platform="discord",
        chat_id=str(interaction.channel_id),
        user_id=str(interaction.user.id),
        chat_kind="private" if interaction.guild_id is None else "group",
        is_chat_admin=admin,
        delivery_id=f"discord:interaction:{interaction.id}",
        **action_fields(custom_id),
    )
    task = asyncio.ensure_future(handler.on_action(action))
    done, _ = await asyncio.wait({task}, timeout=channel.answer_within)
    responded = not done
    if responded:
        await interaction.response.defer()  # type 6, within Discord's 3 s; the reply follows
    reply = await task
    if reply is None:
        if not responded:
            await interaction.response.defer()
        return
    if reply.notice:
        await channel.notice(interaction, reply, responded=responded)
    elif reply.edit and interaction.message is not None:
        await channel.update(interaction, reply, responded=responded)
    else:
        if not responded:
            await interaction.response.defer()
        await channel.follow_up(interaction, reply)


__all__ = ["is_button_press", "on_press"]
