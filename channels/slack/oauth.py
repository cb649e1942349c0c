"""Slack's OAuth distribution: "Add to Slack" for any workspace, from one gateway.

slack-bolt's :class:`~slack_bolt.oauth.async_oauth_flow.AsyncOAuthFlow` serves the install page
(``/slack/install``: a state is issued and set as a cookie) and the redirect Slack sends the
installer back to (``/slack/oauth_redirect?code=…&state=…``: the state is consumed, the code
exchanged at ``oauth.v2.access``, the installation saved). Both stores it uses are ours, over the
gateway's database (:class:`channels.base.Installations`, :class:`channels.base.OAuthStates`):
:class:`StoreInstallations` and :class:`StoreStates` are only their Slack-facing faces.

Bolt's authorize finds each event's bot token through :class:`StoreInstallations`; the channel
finds the token of every send the same way, by the chat id's workspace (``T123:C456``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SlackInstallation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from channels.base import Installation, Installations, OAuthStates, TransientSendError

log = logging.getLogger(__name__)

PLATFORM = "slack"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
#: How long an install begun at the install page may take.
STATE_SECONDS = 600
#: What of an installation is kept besides its token and ids (for the SDK's objects).
_KEPT = (
    "app_id",
    "enterprise_name",
    "enterprise_url",
    "team_name",
    "bot_scopes",
    "is_enterprise_install",
    "token_type",
    "installed_at",
)


@dataclass(frozen=True)
class OAuthConfig:
    """The app's credentials (Basic Information) and where installs are kept."""

    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    installations: Installations
    states: OAuthStates
    authorize_url: str = "https://slack.com/oauth/v2/authorize"
    #: The redirect URL the manifest declares; None lets Slack use the app's only one.
    redirect_uri: str | None = None


def workspace_key(
    enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> str:
    """The workspace an install (or event) belongs to: its team, or the organisation for an
    organisation-wide install."""
    if is_enterprise_install and enterprise_id:
        return enterprise_id
    return team_id or enterprise_id or ""


class Clients:
    """The Web API client of each workspace, with the token it installed (asked of the store at
    every use, so an uninstalled workspace's token is never used again)."""

    def __init__(self, installations: Installations, api_url: str) -> None:
        self.installations = installations
        self.api_url = api_url
        self._by_token: dict[str, AsyncWebClient] = {}

    async def installer(self, workspace: str) -> str | None:
        """Who installed the app in ``workspace`` (None: it is not installed there)."""
        found = await self.installations.find(PLATFORM, workspace)
        return found.installer if found is not None else None

    async def of(self, workspace: str) -> AsyncWebClient:
        """The client of ``workspace``'s bot token.

        Raises:
            TransientSendError: the workspace has no install (never, or not any more).
        """
        found = await self.installations.find(PLATFORM, workspace) if workspace else None
        if found is None:
            raise TransientSendError(
                f"slack: the app is not installed in workspace {workspace or '(none)'}"
            )
        client = self._by_token.get(found.bot_token)
        if client is None:
            if len(self._by_token) > 1000:
                self._by_token.clear()
            # No rate-limit retry handler: a 429 must reach the outbox, which reschedules.
            client = AsyncWebClient(token=found.bot_token, base_url=self.api_url, retry_handlers=[])
            self._by_token[found.bot_token] = client
        return client


class StoreInstallations(AsyncInstallationStore):
    """slack_sdk's installation store over the gateway's :class:`~channels.base.Installations`."""

    def __init__(self, installations: Installations) -> None:
        self.installations = installations

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: SlackInstallation) -> None:
        standard = installation.to_dict()
        data: dict[str, Any] = {key: standard.get(key) for key in _KEPT}
        scopes = data.get("bot_scopes")
        data["bot_scopes"] = ",".join(scopes) if isinstance(scopes, list) else scopes
        installed_at = installation.installed_at
        data["installed_at"] = float(installed_at) if installed_at is not None else None
        await self.installations.save(
            PLATFORM,
            Installation(
                workspace=workspace_key(
                    installation.enterprise_id,
                    installation.team_id,
                    installation.is_enterprise_install,
                ),
                bot_token=installation.bot_token or "",
                installer=installation.user_id or "",
                enterprise_id=installation.enterprise_id,
                team_id=installation.team_id,
                bot_user_id=installation.bot_user_id or "",
                bot_id=installation.bot_id or "",
                data=data,
            ),
        )

    async def async_save_bot(self, bot: Bot) -> None:
        raise NotImplementedError("installations are saved whole (async_save)")

    async def _find(
        self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
    ) -> Installation | None:
        key = workspace_key(enterprise_id, team_id, is_enterprise_install)
        return await self.installations.find(PLATFORM, key) if key else None

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        found = await self._find(enterprise_id, team_id, is_enterprise_install)
        if found is None:
            return None
        return Bot(
            app_id=found.data.get("app_id"),
            enterprise_id=found.enterprise_id,
            enterprise_name=found.data.get("enterprise_name"),
            team_id=found.team_id,
            team_name=found.data.get("team_name"),
            bot_token=found.bot_token,
            bot_id=found.bot_id,
            bot_user_id=found.bot_user_id,
            bot_scopes=found.data.get("bot_scopes") or "",
            is_enterprise_install=bool(found.data.get("is_enterprise_install")),
            installed_at=found.data.get("installed_at") or time.time(),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> SlackInstallation | None:
        found = await self._find(enterprise_id, team_id, is_enterprise_install)
        if found is None or (user_id is not None and user_id != found.installer):
            return None
        return SlackInstallation(
            app_id=found.data.get("app_id"),
            enterprise_id=found.enterprise_id,
            enterprise_name=found.data.get("enterprise_name"),
            enterprise_url=found.data.get("enterprise_url"),
            team_id=found.team_id,
            team_name=found.data.get("team_name"),
            bot_token=found.bot_token,
            bot_id=found.bot_id,
            bot_user_id=found.bot_user_id,
            bot_scopes=found.data.get("bot_scopes") or "",
            user_id=found.installer,
            is_enterprise_install=bool(found.data.get("is_enterprise_install")),
            token_type=found.data.get("token_type"),
            installed_at=found.data.get("installed_at"),
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._uninstall(enterprise_id, team_id, "bot deleted")

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if user_id is None:  # a user's own token is none of ours
            await self._uninstall(enterprise_id, team_id, "installation deleted")

    async def _uninstall(self, enterprise_id: str | None, team_id: str | None, why: str) -> None:
        key = workspace_key(enterprise_id, team_id, team_id is None)
        if key:
            await self.installations.uninstall(PLATFORM, key, why)


class StoreStates(AsyncOAuthStateStore):
    """slack_sdk's OAuth state store over the gateway's :class:`~channels.base.OAuthStates`."""

    def __init__(self, states: OAuthStates, seconds: float = STATE_SECONDS) -> None:
        self.states = states
        self.seconds = seconds

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return await self.states.issue(PLATFORM, self.seconds)

    async def async_consume(self, state: str) -> bool:
        return await self.states.consume(PLATFORM, state)


def oauth_settings(config: OAuthConfig) -> AsyncOAuthSettings:
    """Bolt's OAuth settings over our stores: bot tokens only (no user scopes)."""
    return AsyncOAuthSettings(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=list(config.scopes),
        redirect_uri=config.redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=config.authorize_url,
        installation_store=StoreInstallations(config.installations),
        installation_store_bot_only=True,
        state_store=StoreStates(config.states),
        state_expiration_seconds=STATE_SECONDS,
        logger=log,
    )


def listen_for_uninstalls(
    app: AsyncApp,
    installations: Installations,
    workspace: Callable[[dict[str, Any]], str | None],
) -> None:
    """``app_uninstalled`` and ``tokens_revoked`` (of the bot's token) pause the workspace the
    event came from (Bolt delivers both without checking the token, which is dead already)."""

    async def uninstalled(context: dict[str, Any]) -> None:
        where = workspace(context)
        if where:
            await installations.uninstall(PLATFORM, where, "app_uninstalled")

    async def revoked(event: dict[str, Any], context: dict[str, Any]) -> None:
        where = workspace(context)
        tokens = event.get("tokens") or {}
        # Revoked user tokens are none of ours; a revoked bot token ends the install.
        if where and isinstance(tokens, dict) and tokens.get("bot"):
            await installations.uninstall(PLATFORM, where, "tokens_revoked")

    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)


def oauth_routes(flow: AsyncOAuthFlow) -> list[web.RouteDef]:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect``, answered by Bolt's flow."""

    async def install(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_installation(_bolt(request)))

    async def redirect(request: web.Request) -> web.Response:
        answer = await flow.handle_callback(_bolt(request))
        if answer.status != 200:
            log.warning("slack: an install was refused (HTTP %s)", answer.status)
        return await to_aiohttp_response(answer)

    return [web.get(flow.install_path, install), web.get(flow.redirect_uri_path, redirect)]


def _bolt(request: web.Request) -> AsyncBoltRequest:
    headers: Mapping[str, str] = request.headers
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(headers))
