"""Commands: what people ask of the bot, and the one dispatcher every entry point goes through.

``core`` holds the data (:class:`CommandSpec`, :class:`CommandSet`, :class:`Request`); ``dispatch``
the :class:`Dispatcher` and its middleware; ``lookups``, ``subscriptions``, ``status``, ``help``
and ``uploads`` the commands themselves; ``services`` what they need from the gateway.
A new command is a function marked with :func:`command` in one of those modules (or a new module
added to :func:`default_commands`).
"""

from bot.commands.core import CommandSet, CommandSpec, Request, command
from bot.commands.dispatch import Dispatcher, Middleware, default_commands
from bot.commands.services import Services

__all__ = [
    "CommandSet",
    "CommandSpec",
    "Dispatcher",
    "Middleware",
    "Request",
    "Services",
    "command",
    "default_commands",
]
