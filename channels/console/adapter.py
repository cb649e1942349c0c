"""The console channel: commands on stdin, replies on stdout. Ends at end of input."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from channels.base import N_, Action, Handler, Incoming, Pace
from channels.console.render import render_console
from channels.sender import ErrorTable, Sender
from digests.message import Button, Message

CHOOSE_HINT = N_("Type a number to choose.")

if TYPE_CHECKING:
    from aiohttp import web


GREETING = N_("digestbot on the console: try /help, /model GLM-4.7 or /search 蒸馏; Ctrl-D ends.")
PROMPT = "> "


def console_language() -> str | None:
    """The terminal's language from the locale variables (``zh_CN.UTF-8`` -> ``zh_CN``)."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            code = value.split(".")[0]
            return None if code in ("C", "POSIX") else code
    return None


class ConsoleChannel:
    """Reads one command per line; ``done`` is set at end of input.

    ``translate`` puts the console's own lines in the terminal's language (see
    :attr:`channels.base.BuildContext.translate`).
    """

    name = "console"

    def __init__(
        self,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        user_id: str = "console",
        translate: Callable[[str | None, str], str] | None = None,
    ) -> None:
        self._translate = translate or (lambda language, text: text)
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._user = user_id
        self._task: asyncio.Task[None] | None = None
        self._choices: list[Button] = []  # the buttons of the last message, numbered from 1
        # The console has no limits and no SDK: its sender only writes (one part a message).
        self._sender = Sender("console", ErrorTable("console", ()))
        self.done = asyncio.Event()

    def web_routes(self) -> list[web.RouteDef]:
        return []

    def connected(self) -> bool:
        return True

    async def start(self, handler: Handler) -> None:
        self._task = asyncio.create_task(self._loop(handler), name="console")

    async def _loop(self, handler: Handler) -> None:
        # A person at a terminal gets one line of greeting and a prompt; piped input gets neither.
        terminal = self._stdin.isatty()
        if terminal:
            self._stdout.write(self._translate(console_language(), GREETING) + "\n")
        try:
            while True:
                if terminal:
                    self._stdout.write(PROMPT)
                    self._stdout.flush()
                line = await asyncio.to_thread(self._stdin.readline)
                if not line:
                    break
                if not line.strip():
                    continue
                choice = line.strip()
                if choice.isdigit() and 1 <= int(choice) <= len(self._choices):
                    reply = await handler.on_action(
                        Action(
                            platform="console",
                            chat_id=self._user,
                            user_id=self._user,
                            command=self._choices[int(choice) - 1].command,
                            chat_kind="console",
                        )
                    )
                else:
                    reply = await handler.on_command(
                        Incoming(
                            platform="console",
                            chat_id=self._user,
                            user_id=self._user,
                            text=line.rstrip("\n"),
                            chat_kind="console",
                            language=console_language(),
                        )
                    )
                if reply is not None:
                    await self._sender.reply(self._user, "console", [reply], self._write)
        finally:
            self.done.set()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def send(
        self, chat_id: str, message: Message, *, skip: int = 0, pace: Pace | None = None
    ) -> list[str]:
        # One part always (the console prints a message whole), so ``pace`` is never needed;
        # a skipped part was printed.
        return await self._sender.send([message], self._write, skip=skip, pace=pace)

    async def _write(self, n: int, message: Message) -> str:
        color = self._stdout.isatty()
        text = render_console(message, color=color)
        if not message.notice:  # a notice keeps the choices of the message it answers
            self._choices = message.buttons()
            if self._choices:
                text += "\n" + self._translate(console_language(), CHOOSE_HINT)
        self._stdout.write(text + "\n\n")
        self._stdout.flush()
        return f"console-{id(message)}"
