"""The errors digestbot raises on purpose, as one tree (each class lives with its room)::

    DigestbotError                       digests/errors.py
    ├── ReportError                      a report that cannot be accepted at all (line when known)
    │   └── ReportTooLarge               over DIGESTBOT_MAX_REPORT_BYTES, refused before parsing
    ├── SendError                        channels/base.py: a message could not be delivered
    │   ├── RetryLater(retry_after)      the platform asked us to slow down (429)
    │   ├── ChatMoved(new_chat_id)       the chat has a new id (a group became a supergroup)
    │   ├── ChatGone                     blocked, kicked, archived, deleted: stop sending there
    │   ├── MaybeDelivered               the request left and no readable answer came (a read
    │   │                                timeout, a 200 that is not JSON, a 5xx after sending):
    │   │                                a resend may duplicate
    │   └── TransientSendError           refused connections, failures the platform answered:
    │                                    nothing delivered; back off
    ├── TurnLost                         bot/delivery/worker.py: an outbox row's first turn came
    │                                    too late (its lease lapsed, stopping): released, unsent
    ├── ScheduleError (ValueError)       bot/commands/subscribe_args.py: a day, time, timezone,
    │                                    theme or size in /subscribe that cannot be understood
    ├── SettingsError                    bot/settings.py: a bad or contradictory setting
    ├── StartError                       bot/gateway.py: a channel could not start (its platform
    │                                    unreachable, a token refused)
    └── CliError                         bot/cli.py: a command-line argument or a database that
                                         the command cannot use

Library errors are converted once, where they arise (the adapters, the settings loader), with
``raise … from exc``. Every message is one line that says what was wrong and what to do.
"""

from __future__ import annotations


class DigestbotError(Exception):
    """Base of every error digestbot raises on purpose."""


class ReportError(DigestbotError):
    """A report that cannot be accepted: not text, broken front matter, no items."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        where = source
        if line is not None:
            where = f"{source}:{line}" if source else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class ReportTooLarge(ReportError):
    """A report over the configured size limit."""
