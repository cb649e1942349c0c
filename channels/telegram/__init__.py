"""Telegram, on python-telegram-bot 22: the platform's declaration.

The SDK is imported only when the channel is built (``adapter``); the settings and limits below
are plain data, so ``digestbot ask`` and the settings check never load it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field, SecretStr, model_validator

from channels.base import BuildContext, Channel, PlatformSpec, RateLimits, secret_value
from digests.message import Message

GROUP_KINDS = ("group", "supergroup")
#: Telegram's paid-broadcast ceiling, messages a second (Bot API 7.11, ``allow_paid_broadcast``).
PAID_MAX_RATE = 1000.0
#: Stars Telegram charges per message sent with ``allow_paid_broadcast`` past the free rate.
STARS_PER_PAID_MESSAGE = 0.1


class TelegramSettings(BaseModel):
    """``DIGESTBOT_TELEGRAM_*``: see the README's settings table."""

    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_global_rate: float = Field(default=30.0, gt=0)
    telegram_chat_interval: float = Field(default=1.0, ge=0)
    telegram_group_per_minute: int = Field(default=20, gt=0)
    #: Digests (outbox rows) go with ``allow_paid_broadcast``: past the free rate Telegram charges
    #: Stars per message; replies stay free. The global rate becomes ``telegram_paid_rate``.
    telegram_paid_broadcast: bool = False
    #: Messages a second in all while paid broadcasts are on (Telegram allows up to 1,000).
    telegram_paid_rate: float = Field(default=PAID_MAX_RATE, gt=0, le=PAID_MAX_RATE)

    @model_validator(mode="after")
    def _telegram_consistent(self) -> TelegramSettings:
        if self.telegram_webhook_url and not self.telegram_token:
            raise ValueError("DIGESTBOT_TELEGRAM_WEBHOOK_URL needs DIGESTBOT_TELEGRAM_TOKEN")
        if self.telegram_webhook_url and not self.telegram_webhook_url.startswith("https://"):
            raise ValueError("DIGESTBOT_TELEGRAM_WEBHOOK_URL must be an https:// URL")
        return self


def _own(settings: Any) -> TelegramSettings:
    assert isinstance(settings, TelegramSettings)
    return settings


def webhook_secret(settings: Any) -> str | None:
    """The webhook secret: the configured one, else one derived from the token, so every gateway
    behind a load balancer agrees on it without another setting."""
    own = _own(settings)
    if not own.telegram_webhook_url:
        return None
    if own.telegram_webhook_secret is not None:
        return own.telegram_webhook_secret.get_secret_value()
    token = secret_value(own.telegram_token)
    return hashlib.sha256(b"digestbot-webhook:" + token.encode()).hexdigest()[:48]


def is_group(chat_id: str, kind: str = "") -> bool:
    """A group or supergroup: by its kind, or else by its negative id (not a channel)."""
    if kind:
        return kind in GROUP_KINDS
    return chat_id.startswith("-")


def _build(settings: Any, context: BuildContext) -> Channel:
    from channels.telegram.adapter import TelegramChannel

    own = _own(settings)
    return TelegramChannel(
        secret_value(own.telegram_token),
        base_url=own.telegram_api_url,
        base_file_url=own.telegram_file_url,
        commands=context.menu,
        localized_commands=context.menus,
        webhook_url=own.telegram_webhook_url,
        webhook_secret=webhook_secret(own),
        images=context.images,
        keep_command=context.keep_command,
        pace=context.pace,
        paid_broadcast=own.telegram_paid_broadcast,
    )


def _render(message: Message, *, images: bool = True) -> str:
    """The HTML parts, after a ``[link preview above the text: URL]`` line when the reply's
    figure is shown as its preview; each part then its inline keyboard, a row a line, each
    button with the command it sends."""
    from channels.telegram.render import render_telegram_parts, telegram_send_kwargs

    preview = telegram_send_kwargs(message, images=images).get("preview_url")
    head = [f"[link preview above the text: {preview}]"] if preview else []
    out = []
    for part in render_telegram_parts(message):
        keys = [" ".join(f"[{b.label} → {b.command}]" for b in row) for row in part.rows]
        out.append("\n".join([part.text, *keys]))
    return "\n\n".join(head + out)


def _limits(settings: Any) -> RateLimits:
    own = _own(settings)
    paid = own.telegram_paid_broadcast
    return RateLimits(
        # Paid broadcasts: the outbox may go up to the paid rate, replies keep the free one.
        global_rate=own.telegram_paid_rate if paid else own.telegram_global_rate,
        reply_rate=own.telegram_global_rate if paid else None,
        chat_interval=own.telegram_chat_interval,
        group_per_minute=own.telegram_group_per_minute,
        is_group=is_group,
        # Telegram's 429s do not say which limit was hit, and we keep the per-chat ones already.
        pause_platform_on_429=True,
        # A forum topic (chat/topic) is one chat to Telegram's limits.
        chat_key=lambda chat_id: chat_id.partition("/")[0],
    )


SPEC = PlatformSpec(
    name="telegram",
    settings=TelegramSettings,
    configured=lambda settings: _own(settings).telegram_token is not None,
    build=_build,
    render=_render,
    rate_limits=_limits,
    admin_id=r"-?\d+",
    admin_example="telegram:123456",
    secrets=lambda settings: [
        secret_value(_own(settings).telegram_token),
        secret_value(_own(settings).telegram_webhook_secret),
    ],
    direct_kind="private",
    paid_price=lambda settings: (
        STARS_PER_PAID_MESSAGE if _own(settings).telegram_paid_broadcast else None
    ),
)
