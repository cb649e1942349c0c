"""Slack, on slack-bolt (async) and slack_sdk: the platform's declaration.

The SDKs are imported only when the channel is built (``adapter``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, SecretStr, model_validator

from channels.base import BuildContext, Channel, PlatformSpec, RateLimits, secret_value
from digests.message import Message

#: The app's one namespaced slash command: ``/digestbot model GLM-4.7`` (as GitHub's and Jira's).
NAMESPACE = "digestbot"
#: Slack's own slash commands, which no app can take.
SLACK_BUILTINS = frozenset(
    {
        "topic", "search", "status", "remind", "invite", "msg", "dm", "who", "leave", "feed",
        "shrug", "away", "active", "dnd", "mute", "apps", "collapse", "expand",
    }
)  # fmt: skip
#: Short slash commands besides ``/digestbot``: ours that are none of Slack's built-ins (and are
#: the ones people type most). The manifest in deploy/ declares exactly these.
ALIASES = (
    "model",
    "paper",
    "themes",
    "latest",
    "highlights",
    "subscribe",
    "unsubscribe",
    "subscriptions",
    "digest",
    "lang",
)


def typed(name: str, arg: str, chat_kind: str, menu: bool) -> str:
    """A command as Slack runs it: a short alias where there is one (``/model GLM-4.7``), else
    through the app's own command (``/digestbot search 蒸馏``), never Slack's ``/search``."""
    head = f"/{name}" if name in ALIASES else f"/{NAMESPACE} {name}"
    return f"{head} {arg}" if arg else head


class SlackSettings(BaseModel):
    """``DIGESTBOT_SLACK_*``: see the README's settings table."""

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_channel_interval: float = Field(default=1.0, ge=0)
    slack_threads: bool = False

    @model_validator(mode="after")
    def _slack_consistent(self) -> SlackSettings:
        if self.slack_bot_token and not (self.slack_app_token or self.slack_signing_secret):
            raise ValueError(
                "DIGESTBOT_SLACK_BOT_TOKEN needs DIGESTBOT_SLACK_APP_TOKEN (Socket Mode) "
                "or DIGESTBOT_SLACK_SIGNING_SECRET (HTTP mode)"
            )
        if (self.slack_app_token or self.slack_signing_secret) and not self.slack_bot_token:
            raise ValueError("Slack settings are present but DIGESTBOT_SLACK_BOT_TOKEN is missing")
        return self


def _own(settings: Any) -> SlackSettings:
    assert isinstance(settings, SlackSettings)
    return settings


def _build(settings: Any, context: BuildContext) -> Channel:
    from channels.slack.adapter import SlackChannel

    own = _own(settings)
    return SlackChannel(
        secret_value(own.slack_bot_token),
        signing_secret=secret_value(own.slack_signing_secret),
        app_token=secret_value(own.slack_app_token) or None,
        api_url=own.slack_api_url,
        commands=(NAMESPACE, *(a for a in ALIASES if a in context.command_names)),
        namespace=NAMESPACE,
        threads=own.slack_threads,
        images=context.images,
        pace=context.pace,
    )


def _render(message: Message, *, images: bool = True) -> str:
    from channels.slack.render import render_slack

    return json.dumps(render_slack(message, images=images), ensure_ascii=False, indent=2)


SPEC = PlatformSpec(
    name="slack",
    settings=SlackSettings,
    configured=lambda settings: _own(settings).slack_bot_token is not None,
    build=_build,
    render=_render,
    rate_limits=lambda settings: RateLimits(chat_interval=_own(settings).slack_channel_interval),
    admin_id=r"[UW][A-Z0-9]+",
    admin_example="slack:U0123ABC",
    secrets=lambda settings: [
        secret_value(_own(settings).slack_bot_token),
        secret_value(_own(settings).slack_app_token),
        secret_value(_own(settings).slack_signing_secret),
    ],
    direct_kind="im",
    typed=typed,
)
