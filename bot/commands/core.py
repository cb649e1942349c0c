"""The command core: one place that turns ``/model GLM-4.7`` into a neutral reply.

Every channel (Telegram, Slack, the console) and ``digestbot ask`` call :meth:`CommandCore.handle`.
Commands are plain functions registered in :data:`REGISTRY`; they take a :class:`Request` and
return a :class:`~digests.message.Message`. Lookups run in a worker thread (the store is
synchronous); permission checks that ask the platform run on the loop first.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from channels.base import Incoming
from digests.message import Context, Heading, Message, Paragraph, Span, spans

if TYPE_CHECKING:
    from bot.commands.services import Services

log = logging.getLogger(__name__)

MAX_ARG = 200
_COMMAND = re.compile(
    r"^\s*/?(?P<name>[A-Za-z_]+)(?:@(?P<bot>[A-Za-z0-9_]+))?(?:\s+(?P<arg>.*))?\s*$", re.S
)


@dataclass(frozen=True)
class Request:
    """A parsed command with who sent it and where."""

    name: str
    arg: str
    platform: str
    chat_id: str
    user_id: str
    chat_kind: str
    is_bot_admin: bool
    services: Services


CommandFn = Callable[[Request], Message]


@dataclass(frozen=True)
class CommandSpec:
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


REGISTRY: dict[str, CommandSpec] = {}


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
    """Register a command function under ``name`` (and ``aliases``)."""

    def register(fn: CommandFn) -> CommandFn:
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
        for key in (name, *aliases):
            REGISTRY[key] = spec
        return fn

    return register


def menu() -> list[tuple[str, str]]:
    """(command, description) pairs for the Telegram menu and the Slack manifest."""
    _load_commands()
    seen: dict[str, str] = {}
    for spec in REGISTRY.values():
        if spec.menu and not spec.admin_only:
            seen.setdefault(spec.name, spec.description)
    return list(seen.items())


def command_names() -> list[str]:
    """Every command name and alias the core answers (for Slack's slash command routing)."""
    _load_commands()
    return sorted(REGISTRY)


def clean_arg(raw: str) -> str:
    """Drop control characters and collapse whitespace."""
    text = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in raw
    )
    return re.sub(r"\s+", " ", text).strip()


def parse(text: str) -> tuple[str, str] | None:
    """``/model@bot GLM-4.7`` -> (``model``, ``GLM-4.7``); None when it is not a known command."""
    match = _COMMAND.match(text or "")
    if not match:
        return None
    _load_commands()
    name = match.group("name").lower()
    if name not in REGISTRY and not text.lstrip().startswith("/"):
        return None
    return name, match.group("arg") or ""


def echo(arg: str, limit: int = 60) -> str:
    """An argument as echoed back: cleaned and shortened (renderers escape it)."""
    arg = clean_arg(arg)
    return arg if len(arg) <= limit else arg[: limit - 1] + "…"


class CommandCore:
    """Answers commands for every channel."""

    def __init__(self, services: Services) -> None:
        self.services = services
        _load_commands()

    async def handle(self, incoming: Incoming) -> Message | None:
        """The reply to ``incoming``, or None when the text is not addressed to us."""
        parsed = parse(incoming.text)
        if parsed is None:
            if incoming.chat_kind in ("private", "im", "console"):
                return Message.text("Send /help to see what I can do, e.g. /model GLM-4.7")
            return None
        name, raw_arg = parsed
        spec = REGISTRY.get(name)
        if spec is None:
            return Message.text(f"I don't know /{echo(name, 30)}. Send /help for the commands.")
        if len(raw_arg) > MAX_ARG * 4 or len(clean_arg(raw_arg)) > MAX_ARG:
            return Message.text(
                f"That is {len(raw_arg):,} characters; /{spec.name} takes at most {MAX_ARG}. "
                f"For example: {spec.example}"
            )
        arg = clean_arg(raw_arg)
        if spec.needs_arg and not arg:
            return Message.text(f"Usage: {spec.usage} — for example: {spec.example}")
        is_admin = self.services.is_admin(incoming.platform, incoming.user_id)
        if spec.admin_only and not is_admin:
            return Message.text(f"/{spec.name} is for bot admins only.")
        in_group = incoming.chat_kind in ("group", "supergroup")
        if (
            spec.manages_chat
            and not is_admin
            and in_group
            and not await _safely(incoming.is_chat_admin)
        ):
            return Message.text(
                "Only this chat's administrators and bot admins may change its subscriptions."
            )
        request = Request(
            spec.name,
            arg,
            incoming.platform,
            incoming.chat_id,
            incoming.user_id,
            incoming.chat_kind,
            is_admin,
            self.services,
        )
        return await asyncio.to_thread(spec.fn, request)


async def _safely(check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await check()
    except Exception:
        log.warning("chat admin check failed", exc_info=True)
        return False


COMMAND_MODULES = ("bot.commands.lookups", "bot.commands.subscriptions", "bot.commands.status")


def _load_commands() -> None:
    """Import the modules that register commands (imports are cached, so this is cheap)."""
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)


# Lookups first, then digests, then the rest: the order people need them in.
HELP_ORDER = (
    "model",
    "paper",
    "topic",
    "search",
    "themes",
    "latest",
    "subscribe",
    "unsubscribe",
    "subscriptions",
    "digest",
    "help",
    "reports",
    "status",
)


@command("help", usage="/help", example="/help", description="what I can do", aliases=("start",))
def help_command(request: Request) -> Message:
    blocks: list[Heading | Paragraph | Context] = [
        Heading("digestbot"),
        Paragraph(
            spans(
                "I bring the monthly AI intelligence report to this chat: weekly digests "
                "per theme, and any model, paper or topic on demand."
            )
        ),
    ]
    specs = {spec.name: spec for spec in REGISTRY.values()}
    order = {name: n for n, name in enumerate(HELP_ORDER)}
    for name in sorted(specs, key=lambda name: (order.get(name, len(order)), name)):
        spec = specs[name]
        if spec.admin_only and not request.is_bot_admin:
            continue
        example = (
            (Span("e.g. "), Span(spec.example, code=True)) if spec.example != spec.usage else ()
        )
        blocks.append(
            Paragraph((Span(spec.usage, code=True), Span(f" — {spec.description}. "), *example))
        )
    blocks.append(Context(spans("Admins upload a new report by sending the .md file to me.")))
    return Message(tuple(blocks))
