"""Commands as data: a :class:`CommandSpec` per command, collected into a :class:`CommandSet`.

A command is a plain function that takes a :class:`Request` and returns a neutral
:class:`~digests.message.Message`; the :func:`command` decorator attaches its spec to it, and
:meth:`CommandSet.collect` gathers the decorated functions of the modules it is given. Nothing is
registered at import time: the gateway, the console and ``digestbot ask`` each build their set (see
:func:`bot.commands.dispatch.default_commands`) and hand it to the dispatcher.

The text of a command is parsed once, by :meth:`CommandSet.parse`, into a :class:`Request`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

from bot.commands.normalize import forgiving, unquote
from bot.i18n import Translator, translator
from bot.platforms import specs, typed
from channels.base import Incoming, Upload
from digests.text import clean_arg, echo

if TYPE_CHECKING:
    from bot.commands.services import Services
    from digests.message import Message

__all__ = ["MAX_ARG", "CommandSet", "CommandSpec", "Request", "clean_arg", "command", "echo"]

MAX_ARG = 200
_COMMAND = re.compile(
    r"^\s*/?(?P<name>[A-Za-z_]+)(?:@(?P<bot>[A-Za-z0-9_]+))?(?:\s+(?P<arg>.*))?\s*$", re.S
)


def direct_kinds() -> frozenset[str]:
    """Chat kinds where any text is meant for the bot (direct chats, the console), so plain text
    gets a hint instead of silence."""
    return frozenset(spec.direct_kind for spec in specs())


@dataclass(frozen=True)
class Request:
    """One thing someone asked of the bot, parsed once: a command, or an uploaded file.

    ``spec`` is None for a command the set does not know (and for plain text in a direct chat,
    where ``name`` is empty); ``raw_arg`` is the argument as typed, ``arg`` the cleaned one
    (full-width forms folded, quotes around it dropped: :mod:`bot.commands.normalize`).

    ``words`` is the chat's language, set by the ``language`` middleware: write every reply
    through ``request._("...")`` and ``request.ngettext("{n} item", "{n} items", n)``.
    ``pressed`` when a button sent it; ``full`` asks a card for its folded parts whole.
    """

    name: str
    arg: str
    platform: str
    chat_id: str
    user_id: str
    chat_kind: str
    is_bot_admin: bool
    services: Services
    commands: CommandSet
    spec: CommandSpec | None = None
    raw_arg: str = ""
    incoming: Incoming | None = None
    upload: Upload | None = None
    pressed: bool = False
    full: bool = False
    words: Translator = field(default_factory=translator)

    def _(self, message: str) -> str:
        """``message`` in the chat's language."""
        return self.words.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The plural form for ``n`` in the chat's language (format ``{n}`` in yourself)."""
        return self.words.ngettext(singular, plural, n)

    def typed(self, command: str) -> str:
        """``command`` (``/search 蒸馏``) as this chat's platform runs it, for a hint written into
        text (spans marked :attr:`~digests.message.Span.command` are rewritten by themselves)."""
        return typed(self.platform, command, self.chat_kind, self.commands.menu_names())

    @property
    def delivery_id(self) -> str | None:
        """The platform's id of this delivery, when it may arrive twice (webhook retries)."""
        source = self.incoming or self.upload
        return source.delivery_id if source is not None else None


CommandFn = Callable[[Request], "Message"]


@dataclass(frozen=True)
class CommandSpec:
    """What the dispatcher needs to know about a command besides its function."""

    name: str
    usage: str
    example: str
    description: str
    fn: CommandFn
    admin_only: bool = False
    manages_chat: bool = False
    needs_arg: bool = False
    menu: bool = True
    aliases: tuple[str, ...] = field(default=())


_SPEC_ATTR = "__digestbot_command__"


def command(
    name: str,
    *,
    usage: str,
    example: str,
    description: str,
    admin_only: bool = False,
    manages_chat: bool = False,
    needs_arg: bool = False,
    menu: bool = True,
    aliases: tuple[str, ...] = (),
) -> Callable[[CommandFn], CommandFn]:
    """Mark a function as the command ``name``; :meth:`CommandSet.collect` picks it up."""

    def mark(fn: CommandFn) -> CommandFn:
        spec = CommandSpec(
            name,
            usage,
            example,
            description,
            fn,
            admin_only,
            manages_chat,
            needs_arg,
            menu,
            aliases,
        )
        setattr(fn, _SPEC_ATTR, spec)
        return fn

    return mark


class CommandSet:
    """The commands one bot answers, by name and alias."""

    def __init__(self, specs: Iterable[CommandSpec] = ()) -> None:
        self._by_name: dict[str, CommandSpec] = {}
        self._specs: list[CommandSpec] = []
        for spec in specs:
            self.add(spec)

    @classmethod
    def collect(cls, *modules: ModuleType) -> CommandSet:
        """Every function marked with :func:`command` in ``modules``, in definition order."""
        specs = []
        for module in modules:
            for value in vars(module).values():
                spec = getattr(value, _SPEC_ATTR, None)
                if isinstance(spec, CommandSpec) and spec.fn is value:
                    specs.append(spec)
        return cls(specs)

    def add(self, spec: CommandSpec) -> None:
        for key in (spec.name, *spec.aliases):
            if key in self._by_name:
                raise ValueError(f"two commands are called /{key}")
            self._by_name[key] = spec
        self._specs.append(spec)

    def get(self, name: str) -> CommandSpec | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        """Every name and alias (Slack's slash command routing, the manifest test)."""
        return sorted(self._by_name)

    def menu_names(self) -> frozenset[str]:
        """The names of :meth:`menu`'s commands (what platforms register as slash commands)."""
        return frozenset(name for name, _ in self.menu())

    def menu(self) -> list[tuple[str, str]]:
        """(command, description) pairs for the Telegram menu: public commands only."""
        return [(s.name, s.description) for s in self._specs if s.menu and not s.admin_only]

    def label(self, text: str) -> str:
        """The command's name for metrics; anything else is ``other`` (labels must stay few)."""
        parsed = self.split(text)
        spec = self.get(parsed[0]) if parsed else None
        return spec.name if spec is not None else "other"

    def split(self, text: str) -> tuple[str, str] | None:
        """``/model@bot GLM-4.7`` -> (``model``, ``GLM-4.7``); None when it is not a command.

        Text without a slash counts only when it starts with a known name (Slack mentions:
        ``@digestbot model GLM-4.7`` arrives as ``model GLM-4.7``).
        """
        text = forgiving(text or "")
        match = _COMMAND.match(text)
        if not match:
            return None
        name = match.group("name").lower()
        if name not in self._by_name and not text.lstrip().startswith("/"):
            return None
        return name, match.group("arg") or ""

    def parse(self, incoming: Incoming, services: Services) -> Request | None:
        """The request ``incoming`` makes, or None when the text is not addressed to us."""
        parsed = self.split(incoming.text)
        if parsed is None and incoming.chat_kind not in direct_kinds():
            return None
        name, raw_arg = parsed or ("", "")
        spec = self.get(name)
        return Request(
            name=spec.name if spec is not None else name,
            arg=clean_arg(unquote(clean_arg(raw_arg))),
            platform=incoming.platform,
            chat_id=incoming.chat_id,
            user_id=incoming.user_id,
            chat_kind=incoming.chat_kind,
            is_bot_admin=incoming.workspace_admin
            or services.is_admin(incoming.platform, incoming.user_id),
            services=services,
            commands=self,
            spec=spec,
            raw_arg=raw_arg,
            incoming=incoming,
        )
