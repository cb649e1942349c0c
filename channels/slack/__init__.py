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


#: The bot scopes an install asks for (the manifest in deploy/ declares the same).
SCOPES = (
    "app_mentions:read",
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "files:read",
    "groups:history",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "links:read",
    "links:write",
    "mpim:read",
    "users:read",
)


def workspace(address: str) -> str | None:
    """The workspace of a chat or user id in OAuth mode (``T123`` of ``T123:C456``), else None."""
    head, colon, _ = address.partition(":")
    return head if colon and head else None


class SlackSettings(BaseModel):
    """``DIGESTBOT_SLACK_*``: see the README's settings table."""

    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_channel_interval: float = Field(default=1.0, ge=0)
    slack_threads: bool = False
    #: OAuth distribution ("Add to Slack"): many workspaces, each with the token it installed.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_scopes: str = ",".join(SCOPES)
    slack_authorize_url: str = "https://slack.com/oauth/v2/authorize"

    @property
    def slack_oauth(self) -> bool:
        """Whether the app is distributed through OAuth (many workspaces)."""
        return self.slack_client_id is not None

    @model_validator(mode="after")
    def _slack_consistent(self) -> SlackSettings:
        if (self.slack_client_id is None) != (self.slack_client_secret is None):
            raise ValueError(
                "DIGESTBOT_SLACK_CLIENT_ID and DIGESTBOT_SLACK_CLIENT_SECRET go together "
                "(both from the app's Basic Information page), for installs through OAuth"
            )
        if self.slack_oauth:
            if self.slack_bot_token or self.slack_app_token:
                raise ValueError(
                    "DIGESTBOT_SLACK_CLIENT_ID (many workspaces, each its own token) cannot go "
                    "with DIGESTBOT_SLACK_BOT_TOKEN or DIGESTBOT_SLACK_APP_TOKEN (one workspace): "
                    "set one or the other"
                )
            if not self.slack_signing_secret:
                raise ValueError(
                    "DIGESTBOT_SLACK_CLIENT_ID needs DIGESTBOT_SLACK_SIGNING_SECRET (installs and "
                    "events arrive over HTTP)"
                )
            if not [s for s in self.slack_scopes.split(",") if s.strip()]:
                raise ValueError("DIGESTBOT_SLACK_SCOPES is empty; leave it unset for the default")
            return self
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
    oauth = None
    if own.slack_oauth:
        from channels.slack.oauth import OAuthConfig

        if context.installations is None or context.oauth_states is None:
            raise ValueError("Slack's OAuth distribution needs the gateway's store")
        public = getattr(settings, "public_url", None)
        oauth = OAuthConfig(
            client_id=own.slack_client_id or "",
            client_secret=secret_value(own.slack_client_secret),
            scopes=tuple(s.strip() for s in own.slack_scopes.split(",") if s.strip()),
            authorize_url=own.slack_authorize_url,
            redirect_uri=f"{public.rstrip('/')}/slack/oauth_redirect" if public else None,
            installations=context.installations,
            states=context.oauth_states,
        )
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
        oauth=oauth,
    )


def _render(message: Message, *, images: bool = True) -> str:
    from channels.slack.render import render_slack

    return json.dumps(render_slack(message, images=images), ensure_ascii=False, indent=2)


SPEC = PlatformSpec(
    name="slack",
    settings=SlackSettings,
    configured=lambda settings: (
        _own(settings).slack_bot_token is not None or _own(settings).slack_oauth
    ),
    build=_build,
    render=_render,
    rate_limits=lambda settings: RateLimits(chat_interval=_own(settings).slack_channel_interval),
    # In OAuth mode a user is ``T123:U456``; a bare ``U456`` is that user in any workspace.
    admin_id=r"(?:[TE][A-Z0-9]+:)?[UW][A-Z0-9]+",
    admin_example="slack:U0123ABC",
    secrets=lambda settings: [
        secret_value(_own(settings).slack_bot_token),
        secret_value(_own(settings).slack_app_token),
        secret_value(_own(settings).slack_signing_secret),
        secret_value(_own(settings).slack_client_secret),
    ],
    direct_kind="im",
    typed=typed,
    workspace=workspace,
)
