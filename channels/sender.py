"""The one way a platform's messages leave, and the boundary its updates come in through.

Every message a channel sends, a command reply or an outbox row, goes through its platform's
:class:`Sender` (as python-telegram-bot's ``ExtBot._do_post`` owns its rate limiter). The adapter
only renders the message into parts and says how one part is posted; the sender owns the rest:

==================  =============================================================================
pacing              each part waits for ``pace``: between parts, or before every part, the first
                    included, when it is an :class:`~channels.base.EveryPart` (the outbox's bulk
                    turns, a reply's from the gateway's ``BuildContext.pace``): the sender takes
                    every turn of every message, no caller takes one itself
the chat's turn     a reply's parts are paced inside the :func:`~channels.base.replying` scope that
                    :class:`Inflight` opens for every update, so the rate limiter keeps the chat's
                    turn from the first part to the last, oldest arrival first across chats
429                 a reply that got a 429 before any part went out waits and takes its turn again,
                    up to :data:`REPLY_ATTEMPTS` tries and :data:`REPLY_MAX_WAIT` seconds in all
                    (the outbox reschedules instead: :mod:`bot.delivery.retry`)
errors              the platform's :class:`ErrorTable` turns an SDK error into the error tree,
                    with the ids of the parts already delivered
ok answers          a part the platform answered ``ok`` is delivered, whatever the rest of its
                    answer looks like; any other failure after an answer came is "maybe
                    delivered" (:class:`~channels.base.MaybeDelivered`), and so is a server error
                    (5xx) answered to a request that left: the platform may have taken it first
==================  =============================================================================

The SDKs' own retries are off wherever the outbox retries (slack_sdk's connection-error handler,
discord.py's retries of 5xx answers): one try of ours is one request, so a message that may have
been delivered reaches a chat at most ``1 + send_maybe_attempts`` times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from channels.base import (
    EveryPart,
    Handler,
    MaybeDelivered,
    Pace,
    ReplyPace,
    RetryLater,
    SendError,
    TransientSendError,
    replying,
)

log = logging.getLogger(__name__)

P = TypeVar("P")
#: Posts part ``n`` (counted from the message's first part, skipped ones included); returns its id.
Post = Callable[[int, P], Awaitable[str]]
#: The longest a command reply waits out rate limits (429s) in all, before it is given up.
REPLY_MAX_WAIT = 30.0
#: The most tries of one reply (the first included).
REPLY_ATTEMPTS = 5


# --- errors by table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of an :class:`ErrorTable`: what ``kinds`` of failure it covers, ``when`` (None:
    always), and what it ``becomes``."""

    kinds: type[Any] | tuple[type[Any], ...]
    becomes: Callable[[Any], SendError]
    when: Callable[[Any], bool] | None = None


@dataclass(frozen=True)
class ErrorTable:
    """A platform's failures mapped to the error tree, first matching row wins (as httpx's
    ``map_exceptions``). A failure is an SDK exception, or a failed answer where the SDK answers
    instead of raising (Feishu's responses)."""

    platform: str
    rows: tuple[Row, ...]

    def convert(self, failure: object) -> SendError | None:
        """Our error for ``failure``, or None when no row covers it (a bug of ours, say)."""
        for row in self.rows:
            if isinstance(failure, row.kinds) and (row.when is None or row.when(failure)):
                error = row.becomes(failure)
                if isinstance(error, RetryLater) and error.retry_after != error.asked:
                    # Said once, here: every wait downstream is the clamped one.
                    log.warning(
                        "%s asked to wait %r s; waiting %g s (the most we wait for a platform)",
                        self.platform,
                        error.asked,
                        error.retry_after,
                    )
                return error
        return None

    def refused(self, answer: object, sent: Sequence[str] = ()) -> SendError:
        """The error for a failed answer (every answer type has a last, catch-all row)."""
        error = self.convert(answer)
        if error is None:
            error = SendError(f"{self.platform}: refused ({answer!r})")
        error.sent_ids = tuple(sent)
        return error

    @contextmanager
    def mapping(self, sent: Sequence[str] = ()) -> Iterator[None]:
        """Raise the block's SDK errors as ours (``from`` the original), with ``sent`` ids."""
        try:
            yield
        except SendError as exc:  # raised by the block (a failed answer): its parts are ours
            exc.sent_ids = tuple(sent)
            raise
        except Exception as exc:
            error = self.convert(exc)
            if error is None:
                raise
            error.sent_ids = tuple(sent)
            raise error from exc


# --- ok answers -------------------------------------------------------------------------------


class Answer:
    """What came back for the part being posted: an answer at all, an ``ok`` one, its HTTP
    status (0: not known)."""

    __slots__ = ("came", "ok", "status")

    def __init__(self) -> None:
        self.came = False
        self.ok = False
        self.status = 0


_answer: ContextVar[Answer | None] = ContextVar("answer", default=None)


def answer_came(ok: bool, status: int = 0) -> bool:
    """Called by a platform's transport when an answer came (``ok``: the platform says it took
    the request; ``status``: its HTTP status when known). Returns whether a part is being sent
    (nothing happens outside a send)."""
    answer = _answer.get()
    if answer is None:
        return False
    answer.came = True
    answer.ok = answer.ok or ok
    answer.status = status or answer.status
    return True


# --- the sender -------------------------------------------------------------------------------


class Sender:
    """One platform's sending path (see the module docstring).

    Args:
        platform: ``telegram``, ``slack``, …
        errors: The platform's error table.
        pace: Waits for the turn of one message of a reply, ``(platform, chat_id, chat_kind)``
            (the gateway's rate limiter); None paces nothing.
    """

    def __init__(self, platform: str, errors: ErrorTable, pace: ReplyPace | None = None) -> None:
        self.platform = platform
        self.errors = errors
        self._pace = pace

    def reply_pace(self, chat_id: str, chat_kind: str) -> Pace | None:
        """The turn of one message of a reply to ``chat_id`` (None when nothing is paced)."""
        pace, platform = self._pace, self.platform
        if pace is None:
            return None

        async def wait() -> None:
            await pace(platform, chat_id, chat_kind)

        return wait

    async def send(
        self, parts: Sequence[P], post: Post[P], *, skip: int = 0, pace: Pace | None = None
    ) -> list[str]:
        """Post ``parts`` but the first ``skip``, each after the first waiting for ``pace``.

        Raises:
            SendError: a subclass per failure kind, with ``sent_ids`` of the parts delivered.
        """
        ids: list[str] = []
        every = isinstance(pace, EveryPart)
        for n in range(skip, len(parts)):
            if pace is not None and (ids or every):
                await pace()  # each part waits for its own turn
            ids.append(await self._post_one(post, n, parts[n], ids))
        return ids

    async def reply(
        self, chat_id: str, chat_kind: str, parts: Sequence[P], post: Post[P], *, skip: int = 0
    ) -> list[str]:
        """Send a command's reply: every part takes its turn (the first too), and a 429 before
        anything went out is waited out and tried again, so a reply is never doubled."""
        turn = self.reply_pace(chat_id, chat_kind)
        pace = EveryPart(turn) if turn is not None else None
        waited = 0.0
        for attempt in range(REPLY_ATTEMPTS):
            try:
                return await self.send(parts, post, skip=skip, pace=pace)
            except RetryLater as exc:
                waited += exc.retry_after
                if exc.sent_ids or waited > REPLY_MAX_WAIT or attempt == REPLY_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(exc.retry_after)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post_one(self, post: Post[P], n: int, part: P, sent: Sequence[str]) -> str:
        answer = Answer()
        token = _answer.set(answer)
        try:
            with self.errors.mapping(sent):
                return await post(n, part)
        except Exception as exc:
            if answer.ok:
                # The platform took it; only its answer was odd (a field missing, say).
                log.warning(
                    "%s: part %d was taken but its answer could not be read (%s: %s): "
                    "counted as delivered",
                    self.platform,
                    n,
                    type(exc).__name__,
                    exc,
                )
                return ""
            if answer.came and not isinstance(exc, SendError):
                error = MaybeDelivered(
                    f"{self.platform}: unreadable answer ({type(exc).__name__}: {exc})"
                )
            elif isinstance(exc, TransientSendError) and answer.status >= 500:
                # The request left and the server failed: it may have posted the message first.
                error = MaybeDelivered(
                    f"{self.platform}: HTTP {answer.status} after sending: {exc}"
                )
            else:
                raise
            error.sent_ids = tuple(sent)
            raise error from exc
        finally:
            _answer.reset(token)


# --- the boundary -----------------------------------------------------------------------------


class Inflight:
    """The handlers a channel runs for its updates: each answers inside a
    :func:`~channels.base.replying` scope (so the gateway keeps a reply's parts together), its
    failures end here as one log line, and :meth:`drain` waits for them when the channel stops.
    """

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.handler: Handler | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, work: Callable[[Handler], Awaitable[None]]) -> None:
        """Run ``work`` in this task, counted as in flight (nothing when not started)."""
        handler = self.handler
        task = asyncio.current_task()
        if handler is None or task is None:
            return
        self._tasks.add(task)
        try:
            with replying():
                await work(handler)
        except SendError as exc:
            log.warning("%s: could not reply: %s", self.platform, exc)
        except Exception:
            # The boundary of a background task: log it, keep serving other updates.
            log.exception("%s: failed handling an update", self.platform)
        finally:
            self._tasks.discard(task)

    def spawn(self, work: Callable[[Handler], Awaitable[None]]) -> None:
        """Run ``work`` in a task of its own (for SDKs that call us synchronously)."""
        task = asyncio.get_running_loop().create_task(self.run(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, within: float) -> None:
        """Wait (up to ``within`` seconds) for the handlers in flight; then take no more."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)
        self.handler = None
