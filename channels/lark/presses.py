"""Card buttons on Feishu/Lark: a press (``card.action.trigger``) runs the button's command.

The SDK calls :meth:`CardPresses.on_trigger` synchronously, over HTTP (signed, encrypted and
checked as events are: :mod:`channels.lark.callbacks`) or the long connection
(:mod:`channels.lark.socket`), and sends what it returns as the callback's answer. Feishu wants
that answer within 3 s, so the press runs as a task of its own and whoever delivered the callback
waits for it up to ``answer_within`` seconds (:func:`collecting`, :meth:`CardPresses.answer`):

- a ``notice`` reply (a refusal, a stale button, a thank-you) is a toast for the presser alone;
- a reply that ``edit``\\ s replaces the card (the callback's ``card``; a longer reply's further
  cards follow as new messages);
- any other reply is a new message in the chat (in a group, answering the card).

A press that takes longer is answered empty at the deadline and delivers its reply itself: an
edit then updates the card through the API (``PATCH im/v1/messages/:id``), and a notice is said
in the chat, too late for a toast (as on Telegram).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from lark_oapi.event.callback.model.p2_card_action_trigger import (
    P2CardActionTrigger,
    P2CardActionTriggerResponse,
)

from channels.base import Action, Handler
from channels.lark.render import Card
from digests.message import Message

log = logging.getLogger(__name__)

#: A toast holds a line or two.
TOAST_CHARS = 200


class Presses(Protocol):
    """What answering a press needs of the channel (:class:`~channels.lark.adapter.LarkChannel`)."""

    answer_within: float

    def spawn_press(self, work: Any) -> None: ...

    def chat_kind(self, chat_id: str) -> Awaitable[str]: ...

    def is_chat_admin(self, chat_id: str, open_id: str, p2p: bool) -> Awaitable[bool]: ...

    def cards(self, reply: Message) -> Awaitable[list[Card]]: ...

    def patch(self, message_id: str, card: Card) -> Awaitable[None]: ...

    def reply_cards(
        self, chat_id: str, kind: str, cards: list[Card], reply_to: str | None
    ) -> Awaitable[None]: ...


@dataclass
class Press:
    """One press in flight: its answer, set once, while the callback still waits (``late``
    when nobody waits any more)."""

    answered: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    late: bool = False

    def answer(self, body: dict[str, Any]) -> None:
        if not self.answered.done():
            self.answered.set_result(body)


#: The presses of the callback being delivered (None: nobody will wait for them).
_waiting: ContextVar[list[Press] | None] = ContextVar("lark_presses", default=None)


@contextmanager
def collecting() -> Iterator[list[Press]]:
    """The span of one callback's delivery: presses the SDK starts inside it are waited for."""
    presses: list[Press] = []
    token = _waiting.set(presses)
    try:
        yield presses
    finally:
        _waiting.reset(token)


def toast(reply: Message) -> dict[str, Any]:
    text = " ".join(reply.plain().split())
    if len(text) > TOAST_CHARS:
        text = text[: TOAST_CHARS - 1] + "…"
    return {"toast": {"type": "info", "content": text}}


class CardPresses:
    """Answers card callbacks for one channel (see the module docstring)."""

    def __init__(self, channel: Presses) -> None:
        self.channel = channel

    def on_trigger(self, data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        """Start the press (the SDK calls this on the loop) and answer empty: the callback's
        real answer is :meth:`answer`'s, when its deliverer waits."""
        event = data.event
        action = event.action if event is not None else None
        value = action.value if action is not None and isinstance(action.value, dict) else {}
        command, token = value.get("command"), value.get("token")
        context = event.context if event is not None else None
        operator = event.operator if event is not None else None
        if not (isinstance(command, str) or isinstance(token, str)) or context is None:
            return P2CardActionTriggerResponse({})  # a link button, or no button of ours
        press = Press()
        waiting = _waiting.get()
        if waiting is None:
            press.late = True
        else:
            waiting.append(press)
        header = data.header
        event_id = getattr(header, "event_id", None)
        chat_id = str(context.open_chat_id or "")
        message_id = str(context.open_message_id or "")
        user = str((operator.open_id if operator is not None else "") or "")
        fields = {"command": command} if isinstance(command, str) else {"token": str(token)}

        async def work(handler: Handler) -> None:
            kind = await self.channel.chat_kind(chat_id)
            p2p = kind == "private"

            async def admin() -> bool:
                return await self.channel.is_chat_admin(chat_id, user, p2p)

            pressed = Action(
                platform="lark",
                chat_id=chat_id,
                user_id=user,
                chat_kind=kind,
                is_chat_admin=admin,
                delivery_id=f"lark:{event_id}" if event_id else None,
                **fields,
            )
            try:
                reply = await handler.on_action(pressed)
                await self._deliver(press, reply, chat_id, kind, message_id)
            finally:
                press.answer({})  # nothing for the callback, whatever happened

        self.channel.spawn_press(work)
        return P2CardActionTriggerResponse({})

    async def _deliver(
        self, press: Press, reply: Message | None, chat_id: str, kind: str, message_id: str
    ) -> None:
        if reply is None:
            return
        reply_to = None if kind == "private" else message_id or None
        if reply.notice:
            if not press.late:
                press.answer(toast(reply))
                return
            # too late for a toast: say it in the chat
            await self.channel.reply_cards(chat_id, kind, await self.channel.cards(reply), reply_to)
            return
        cards = await self.channel.cards(reply)
        if not cards:
            return
        if reply.edit and message_id:
            first, rest = cards[0], cards[1:]
            if press.late:
                await self.channel.patch(message_id, first)
            else:
                press.answer({"card": {"type": "raw", "data": first}})
            if rest:
                await self.channel.reply_cards(chat_id, kind, rest, None)
            return
        await self.channel.reply_cards(chat_id, kind, cards, reply_to)

    async def answer(self, presses: list[Press]) -> dict[str, Any] | None:
        """The callback's answer for the presses started while it was delivered (None when
        there were none): the first's toast or card, if it came within ``answer_within``."""
        if not presses:
            return None
        press = presses[0]
        try:
            return await asyncio.wait_for(
                asyncio.shield(press.answered), self.channel.answer_within
            )
        except TimeoutError:
            press.late = True
            log.info(
                "lark: a button press took over %ss; its reply follows",
                self.channel.answer_within,
            )
            return {}


__all__ = ["CardPresses", "Press", "collecting", "toast"]
