"""The channel protocol: what every chat platform adapter offers the gateway, and how a platform
declares itself (:class:`PlatformSpec`).

An adapter translates. It turns platform updates into :class:`Incoming` commands and
:class:`Upload` files for the gateway's :class:`Handler`, and turns a neutral
:class:`~digests.message.Message` into platform messages in :meth:`Channel.send`.

Everything an adapter sends leaves through its platform's :class:`~channels.sender.Sender`,
which paces it, retries a reply after a 429 and converts the SDK's errors once, by the
platform's table, into the :class:`SendError` subclasses below (the whole error tree is drawn in
:mod:`digests.errors`); :class:`~channels.sender.Inflight` is the boundary updates come in
through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Hashable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from pydantic import BaseModel, SecretStr

from digests.errors import DigestbotError
from digests.message import Message

if TYPE_CHECKING:
    from aiohttp import web


class SendError(DigestbotError):
    """A message could not be delivered.

    ``sent_ids`` holds the ids of the parts that were delivered before the failure, when a
    multi-part message failed part-way (empty otherwise).
    """

    sent_ids: tuple[str, ...] = ()


#: The longest wait a platform's rate limit may impose on us (a 429's ``retry_after``, a
#: ``Retry-After`` header): longer ones, and waits that are not numbers at all, are clamped to it.
MAX_RETRY_AFTER = 3600.0


def sane_wait(seconds: float) -> float:
    """``seconds`` as a wait we can keep: within ``[0, MAX_RETRY_AFTER]`` (NaN: the maximum)."""
    if not seconds >= 0.0:  # NaN and negatives
        return 0.0 if seconds < 0.0 else MAX_RETRY_AFTER
    return min(seconds, MAX_RETRY_AFTER)


class RetryLater(SendError):
    """The platform said to wait ``retry_after`` seconds (clamped: :func:`sane_wait`);
    ``asked`` is what it said."""

    def __init__(self, retry_after: float, message: str = "") -> None:
        self.asked = retry_after
        self.retry_after = sane_wait(float(retry_after))
        super().__init__(message or f"rate limited, retry after {self.retry_after:g}s")


class ChatMoved(SendError):
    def __init__(self, new_chat_id: str) -> None:
        self.new_chat_id = new_chat_id
        super().__init__(f"chat moved to {new_chat_id}")


class ChatGone(SendError):
    """The chat no longer takes our messages (blocked, kicked, archived, not found)."""


class TransientSendError(SendError):
    """A failure that may pass and delivered nothing: server errors, refused connections."""


class MaybeDelivered(SendError):
    """The platform may have delivered the message: the request left, no readable answer came.

    Neither platform offers an idempotency key, so the outbox tries such a message at most a set
    number of times more, and counts its items as delivered.
    """


#: Waits for the turn of the next part of a multi-part message (the gateway's rate limiter).
Pace = Callable[[], Awaitable[None]]


class EveryPart:
    """A :data:`Pace` to wait for before every part of a message, the first included (a plain
    one is waited for between parts). The outbox hands one to :meth:`Channel.send`, a reply's
    is made by its sender: so the sender takes every turn, a message's first too."""

    __slots__ = ("wait",)

    def __init__(self, wait: Pace) -> None:
        self.wait = wait

    async def __call__(self) -> None:
        await self.wait()


#: Waits for the turn of one more part of a reply: ``(platform, chat_id, chat_kind)``.
ReplyPace = Callable[[str, str, str], Awaitable[None]]
#: A command reply is at most this many platform messages (long cards are paged behind "More").
MAX_PARTS = 3


class ReplyScope:
    """The span of answering one update: the handler's call and the sending of its reply.

    The gateway keeps a chat's reply turn (its rate limiter's FIFO lock) here from the reply's
    first part to its last, so the parts of two replies to one chat never interleave. It holds
    one thing at a time: a reply that moves on to another chat is done with the first.

    ``arrival`` is when the update came, on :func:`time.monotonic`'s clock: replies to different
    chats wait for the platform's tokens oldest arrival first, every part of a reply with its
    reply's arrival.
    """

    __slots__ = ("_key", "_release", "arrival", "open")

    def __init__(self, arrival: float | None = None) -> None:
        self.arrival = time.monotonic() if arrival is None else arrival
        self._key: Hashable | None = None
        self._release: Callable[[], None] | None = None
        self.open = True

    def holds(self, key: Hashable) -> bool:
        """Whether this scope holds ``key`` already (a later part of the same reply)."""
        return self._release is not None and self._key == key

    def hold(self, key: Hashable, release: Callable[[], None]) -> bool:
        """Keep ``key`` until the scope ends (``release`` lets it go); False when it has ended."""
        if not self.open:
            return False
        self.let_go()
        self._key, self._release = key, release
        return True

    def let_go(self) -> None:
        """Release what the scope holds (nothing happens when it holds nothing)."""
        release, self._key, self._release = self._release, None, None
        if release is not None:
            release()

    def close(self) -> None:
        self.open = False
        self.let_go()


_reply_scope: ContextVar[ReplyScope | None] = ContextVar("reply_scope", default=None)


@contextmanager
def replying(arrival: float | None = None) -> Iterator[ReplyScope]:
    """Mark the span of answering one update; :class:`~channels.sender.Inflight` wraps each
    update an adapter hands the handler in it, as the update comes. What the scope holds is released when it ends, also on
    error or cancellation. Tasks started inside share it (they copy the context).

    Args:
        arrival: When the update came, on :func:`time.monotonic`'s clock (default: now).
    """
    scope = ReplyScope(arrival)
    token = _reply_scope.set(scope)
    try:
        yield scope
    finally:
        _reply_scope.reset(token)
        scope.close()


def reply_scope() -> ReplyScope | None:
    """The scope of the update being answered, or None outside :func:`replying`."""
    return _reply_scope.get()


async def _never_admin() -> bool:
    return False


@dataclass(frozen=True)
class Incoming:
    """A command someone sent: ``text`` is what they typed, e.g. ``/model GLM-4.7``.

    ``chat_kind`` is ``private``, ``group``, ``supergroup``, ``channel`` (Telegram),
    ``channel``/``im`` (Slack), ``private``/``group`` (Lark, Discord), ``console``.
    ``is_chat_admin`` asks the platform whether the sender may manage this chat (Telegram chat
    administrators; Slack channel members; the Lark group's owner; Discord channel managers).
    ``delivery_id`` is the platform's id of the delivery when the platform may deliver it twice
    (a retried webhook update or event); the gateway answers each id once.
    ``language`` is the sender's language as the platform reports it (Telegram ``language_code``,
    Slack ``locale``, the console's ``LANG``), None when unknown.
    """

    platform: str
    chat_id: str
    user_id: str
    text: str
    chat_kind: str = "private"
    chat_title: str = ""
    is_chat_admin: Callable[[], Awaitable[bool]] = _never_admin
    delivery_id: str | None = None
    language: str | None = None
    #: The platform says the sender is a bot admin of their workspace (Slack: who installed the
    #: app there), as those in ``DIGESTBOT_ADMINS`` are everywhere.
    workspace_admin: bool = False


@dataclass(frozen=True)
class Upload:
    """A file someone sent to the bot. ``fetch`` downloads it; call it only after checks pass."""

    platform: str
    chat_id: str
    user_id: str
    filename: str
    size: int | None
    fetch: Callable[[], Awaitable[bytes]]
    delivery_id: str | None = None
    workspace_admin: bool = False


@dataclass(frozen=True)
class Action:
    """A button someone pressed: it carries its ``command``, or the ``token`` under which the
    gateway stored a command too long for the platform's button payload (Telegram's 64 bytes).

    The other fields mean what they mean in :class:`Incoming`; ``chat_id`` is where the answer
    goes (for a press in Slack's Home tab, the presser's direct chat with the app).
    """

    platform: str
    chat_id: str
    user_id: str
    command: str | None = None
    token: str | None = None
    chat_kind: str = "private"
    is_chat_admin: Callable[[], Awaitable[bool]] = _never_admin
    delivery_id: str | None = None


def N_(message: str) -> str:  # gettext's name for "mark now, translate later"
    """Mark a channel's own text for extraction (``python -m bot.i18n update``); the gateway
    translates it through :attr:`BuildContext.translate`."""
    return message


def _as_is(language: str | None, text: str) -> str:
    return text


@dataclass(frozen=True)
class InlineQuery:
    """Text typed after the bot's name in any chat (Telegram inline mode: ``@bot glm``)."""

    platform: str
    user_id: str
    text: str
    #: The sender's language as the platform reports it (Telegram ``language_code``), or None.
    language: str | None = None


@dataclass(frozen=True)
class InlineResult:
    """One choice offered for an inline query: choosing it sends ``message``."""

    id: str
    title: str
    description: str
    message: Message


class Handler(Protocol):
    """The gateway side: answers commands, uploads, button presses and the rest with neutral
    messages."""

    async def on_command(self, incoming: Incoming) -> Message | None: ...

    async def on_upload(self, upload: Upload) -> Message | None: ...

    async def on_action(self, action: Action) -> Message | None:
        """The answer to a pressed button (a ``notice`` one for stale buttons and refusals)."""
        ...

    async def on_inline(self, query: InlineQuery) -> list[InlineResult]:
        """Up to ten items matching ``query``, each as the card choosing it sends."""
        ...

    async def on_home(
        self,
        platform: str,
        user_id: str,
        language: str | None = None,
        chats: Collection[str] | None = None,
    ) -> Message:
        """The app's home page for ``user_id`` (Slack's Home tab); ``language`` is the user's
        as the platform reports it (Slack ``locale``), or None. ``chats``: the conversations
        the person is in; only their subscriptions are shown (None: the platform has no
        conversations to hide)."""
        ...

    async def on_links(
        self, platform: str, chat_id: str, urls: Sequence[str], chat_kind: str = "channel"
    ) -> dict[str, Message]:
        """The short card of each item of the reports that one of ``urls`` leads to (an arXiv
        abs or pdf link, a model's page), by url, in the chat's language: what a platform that
        unfurls links shows under them (Slack's ``chat.unfurl``). Links to nothing are left out."""
        ...


class Channel(Protocol):
    """One chat platform: start, stop, send, and two optional capabilities.

    ``web_routes`` is what the channel serves on the gateway's HTTP server (webhooks; empty when
    it needs none); ``connected`` is its part of ``/healthz``; ``done`` is set when the channel
    ended by itself (the console at end of input), which stops the gateway. An adapter whose
    replies may be several messages answers each update inside :func:`replying`, so the gateway
    keeps a reply's parts together.
    """

    name: str
    done: asyncio.Event

    async def start(self, handler: Handler) -> None:
        """Connect and begin passing commands and uploads to ``handler``."""

    async def stop(self) -> None:
        """Finish in-flight replies and disconnect."""

    async def send(
        self, chat_id: str, message: Message, *, skip: int = 0, pace: Pace | None = None
    ) -> list[str]:
        """Send ``message`` (split as the platform needs) and return each part's message id.

        ``skip`` leaves out the first parts, already delivered by an earlier, interrupted send.
        ``pace`` is awaited before each part after the first (the caller took the first's turn).
        """
        ...

    def web_routes(self) -> list[web.RouteDef]:
        """Routes for the gateway's HTTP server (empty when the channel needs none)."""
        ...

    def connected(self) -> bool:
        """Whether the channel can take messages now (for ``/healthz``)."""
        ...


@dataclass(frozen=True)
class RateLimits:
    """A platform's sending limits, enforced by the gateway before anything is sent.

    Args:
        global_rate: Messages a second over all chats (None: no global limit).
        chat_interval: Seconds between two messages to one chat (None: no per-chat limit).
        group_per_minute: Messages a minute to one group chat (None: no such limit).
        is_group: Whether ``(chat_id, chat_kind)`` is a group that ``group_per_minute`` covers.
        pause_platform_on_429: A 429 pauses the whole platform, not only the chat (the platform's
            429s do not say which limit was hit).
        chat_key: The chat whose limits an address counts against (a Telegram forum topic,
            ``chat/topic``, counts against its chat).
        reply_rate: Command replies' own global rate when it is below ``global_rate`` (Telegram's
            paid broadcasts raise the outbox's rate; replies stay on the free one). None: replies
            share ``global_rate``.
    """

    global_rate: float | None = None
    chat_interval: float | None = None
    group_per_minute: int | None = None
    is_group: Callable[[str, str], bool] = field(default=lambda chat_id, kind: False)
    pause_platform_on_429: bool = False
    chat_key: Callable[[str], str] = field(default=lambda chat_id: chat_id)
    reply_rate: float | None = None


@dataclass(frozen=True)
class Installation:
    """One workspace's install of the app (a platform's OAuth distribution, Slack's "Add to
    Slack"), as the gateway's store keeps it.

    ``workspace`` is the team id (an organisation-wide install: the enterprise id); chat ids of
    that workspace are ``WORKSPACE:ID``. ``installer`` is the user who installed it (a bot admin
    there); ``data`` is what else the platform's SDK keeps (names, scopes, the app's id).
    """

    workspace: str
    bot_token: str
    installer: str = ""
    enterprise_id: str | None = None
    team_id: str | None = None
    bot_user_id: str = ""
    bot_id: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


class Installations(Protocol):
    """Where installs are kept (the gateway's database). Uninstalling keeps the workspace's
    subscriptions and queued messages, paused; installing again resumes them."""

    async def save(self, platform: str, installation: Installation) -> None: ...

    async def find(self, platform: str, workspace: str) -> Installation | None:
        """The workspace's active install, or None (never installed, or uninstalled)."""
        ...

    async def uninstall(self, platform: str, workspace: str, reason: str) -> None: ...


class OAuthStates(Protocol):
    """The ``state`` values of installs under way: each is consumed once, before it expires."""

    async def issue(self, platform: str, seconds: float) -> str: ...

    async def consume(self, platform: str, state: str) -> bool: ...


@dataclass(frozen=True)
class BuildContext:
    """What the gateway hands a platform's ``build`` besides the settings."""

    menu: Sequence[tuple[str, str]] = ()
    #: The menu again per language code (``zh``), for platforms that show a menu in the user's.
    menus: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    command_names: Sequence[str] = ()
    stdin: TextIO | None = None
    stdout: TextIO | None = None
    #: Figures in chat (``DIGESTBOT_IMAGES``).
    images: bool = True
    #: Stores a button's command too long for the platform's payload; returns its short token.
    keep_command: Callable[[str], Awaitable[str]] | None = None
    #: A channel's own text (marked with ``N_`` where it is written) in the language of a
    #: platform's code (``zh_CN``); the text as it is when the code is None or unknown.
    translate: Callable[[str | None, str], str] = _as_is
    #: Waits for the turn of each part of a reply, the first included (the channel's
    #: :class:`~channels.sender.Sender` calls it); None paces nothing.
    pace: ReplyPace | None = None
    #: Installs of platforms distributed through OAuth (Slack's "Add to Slack"), and the states
    #: of installs under way; None where nothing keeps them.
    installations: Installations | None = None
    oauth_states: OAuthStates | None = None


class Renderer(Protocol):
    """One reply as text, as ``digestbot ask --format NAME`` prints it."""

    def __call__(self, message: Message, *, images: bool = True) -> str: ...


def slash_typed(name: str, arg: str, chat_kind: str, menu: bool) -> str:
    """``/name arg``: how a command is typed where the bot's commands are slash commands
    (Telegram, the console); a platform whose people type them otherwise declares its own.

    Args:
        name: The command (``search``).
        arg: What follows it (may be empty).
        chat_kind: The chat's kind (a group may need the bot addressed by name).
        menu: Whether the command is one of the public ones that platforms register.
    """
    return f"/{name} {arg}" if arg else f"/{name}"


@dataclass(frozen=True)
class PlatformSpec:
    """Everything the gateway knows about one platform, declared once in its package.

    ``settings`` is a pydantic model of the platform's own settings, with field names prefixed by
    the platform (``telegram_token`` is ``DIGESTBOT_TELEGRAM_TOKEN``); the gateway's settings class
    is composed of every platform's. The callables take those composed settings.

    Args:
        name: ``telegram``, ``slack``, … (the ``platform`` of messages, admin ids, outbox rows).
        settings: The platform's settings model.
        configured: Whether its settings are present (then ``digestbot run`` starts it); None
            when its settings do not say, which lets a local channel run when nothing else does.
        build: Makes the channel; no I/O until ``start``.
        render: One reply as text, as ``digestbot ask --format NAME`` prints it.
        rate_limits: The platform's limits, from the settings.
        admin_id: A regular expression of a user id in ``DIGESTBOT_ADMINS``.
        admin_example: An example admin entry, for error messages.
        secrets: The settings' secrets, redacted from logs.
        direct_kind: The chat kind of a direct chat with a user (admin notices).
        local: A channel for the person at this machine (the console): its user is a bot admin,
            and it runs when no other platform is configured.
        typed: How a person types a command there, for the hints replies give
            (:func:`slash_typed`'s arguments): ``/digestbot search x`` on Slack, whose own
            ``/search`` the bot cannot take.
        workspace: The workspace a chat or user id belongs to when one gateway serves several
            (Slack's OAuth distribution: ``T123`` of ``T123:C456``); None for one workspace.
        paid_price: When the settings put the outbox's messages on a paid path (Telegram's paid
            broadcasts), the most one message costs (Stars); None when they do not.
    """

    name: str
    settings: type[BaseModel]
    configured: Callable[[Any], bool | None]
    build: Callable[[Any, BuildContext], Channel]
    render: Renderer
    rate_limits: Callable[[Any], RateLimits] = field(default=lambda settings: RateLimits())
    admin_id: str = r"\S+"
    admin_example: str = ""
    secrets: Callable[[Any], Sequence[str]] = field(default=lambda settings: ())
    direct_kind: str = "private"
    local: bool = False
    typed: Callable[[str, str, str, bool], str] = slash_typed
    workspace: Callable[[str], str | None] = field(default=lambda address: None)
    paid_price: Callable[[Any], float | None] = field(default=lambda settings: None)


def secret_value(value: SecretStr | None) -> str:
    """A secret setting's value, or empty."""
    return value.get_secret_value() if value is not None else ""
