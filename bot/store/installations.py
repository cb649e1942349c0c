"""Installs of the app in many workspaces (Slack's OAuth distribution), and the OAuth ``state``
of installs under way, over our own tables (``installations``, ``oauth_states``).

A workspace's chats are the chat ids ``WORKSPACE:ID``. Uninstalling (or a revoked bot token)
forgets the token and pauses the workspace: its active subscriptions are deactivated with the
reason :data:`UNINSTALLED` and its pending outbox rows become :data:`SUSPENDED`; nothing is
deleted. Installing again resumes exactly those. :class:`InstallationStore` and
:class:`OAuthStateStore` are the async faces the channels use
(:class:`channels.base.Installations`, :class:`channels.base.OAuthStates`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, delete, select, update
from sqlalchemy.orm import InstrumentedAttribute

from bot.clock import Clock, utcnow
from bot.store.db import dialect_insert
from bot.store.models import InstallationRow, OAuthStateRow, OutboxRow, SubscriptionRow
from bot.store.outbox import PENDING
from channels.base import Installation

log = logging.getLogger(__name__)

#: The reason of a subscription paused with its workspace (resumed when it installs again).
UNINSTALLED = "workspace uninstalled"
#: The status of an outbox row paused with its workspace (pending again when it installs again).
SUSPENDED = "suspended"


@dataclass(frozen=True)
class Paused:
    """What pausing (or resuming) a workspace touched."""

    subscriptions: int
    queued: int


def in_workspace(column: InstrumentedAttribute[str], workspace: str) -> ColumnElement[bool]:
    """``column`` is a chat id of ``workspace`` (``WORKSPACE:…``)."""
    return column.startswith(f"{workspace}:", autoescape=True)


def save_installation(
    conn: Connection, platform: str, installation: Installation, now: datetime
) -> Paused:
    """Keep (or replace) the workspace's install and resume what its uninstall paused."""
    values: dict[str, Any] = {
        "enterprise_id": installation.enterprise_id,
        "team_id": installation.team_id,
        "installer": installation.installer,
        "bot_token": installation.bot_token,
        "bot_user_id": installation.bot_user_id,
        "bot_id": installation.bot_id,
        "data": dict(installation.data),
        "active": True,
        "installed_at": now,
        "uninstalled_at": None,
        "uninstall_reason": None,
    }
    stmt = dialect_insert(conn)(InstallationRow).values(
        platform=platform, workspace=installation.workspace, **values
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[InstallationRow.platform, InstallationRow.workspace], set_=values
        )
    )
    return _resume(conn, platform, installation.workspace, now)


def find_installation(conn: Connection, platform: str, workspace: str) -> Installation | None:
    """The workspace's active install, or None."""
    row = conn.execute(
        select(InstallationRow.__table__).where(
            InstallationRow.platform == platform,
            InstallationRow.workspace == workspace,
            InstallationRow.active.is_(True),
        )
    ).first()
    if row is None or not row.bot_token:
        return None
    return Installation(
        workspace=row.workspace,
        bot_token=row.bot_token,
        installer=row.installer,
        enterprise_id=row.enterprise_id,
        team_id=row.team_id,
        bot_user_id=row.bot_user_id,
        bot_id=row.bot_id,
        data=dict(row.data or {}),
    )


def uninstall(
    conn: Connection, platform: str, workspace: str, reason: str, now: datetime
) -> Paused:
    """Forget the workspace's token and pause its subscriptions and queued messages."""
    conn.execute(
        update(InstallationRow)
        .where(InstallationRow.platform == platform, InstallationRow.workspace == workspace)
        .values(active=False, bot_token="", uninstalled_at=now, uninstall_reason=reason[:100])
    )
    subscriptions = conn.execute(
        update(SubscriptionRow)
        .where(
            SubscriptionRow.platform == platform,
            in_workspace(SubscriptionRow.chat_id, workspace),
            SubscriptionRow.active.is_(True),
        )
        .values(active=False, deactivated_reason=UNINSTALLED)
    ).rowcount
    queued = conn.execute(
        update(OutboxRow)
        .where(
            OutboxRow.platform == platform,
            in_workspace(OutboxRow.chat_id, workspace),
            OutboxRow.status == PENDING,
        )
        .values(status=SUSPENDED, claimed_by=None, claimed_until=None)
    ).rowcount
    return Paused(subscriptions, queued)


def _resume(conn: Connection, platform: str, workspace: str, now: datetime) -> Paused:
    subscriptions = conn.execute(
        update(SubscriptionRow)
        .where(
            SubscriptionRow.platform == platform,
            in_workspace(SubscriptionRow.chat_id, workspace),
            SubscriptionRow.active.is_(False),
            SubscriptionRow.deactivated_reason == UNINSTALLED,
        )
        .values(active=True, deactivated_reason=None)
    ).rowcount
    queued = conn.execute(
        update(OutboxRow)
        .where(
            OutboxRow.platform == platform,
            in_workspace(OutboxRow.chat_id, workspace),
            OutboxRow.status == SUSPENDED,
        )
        .values(status=PENDING, not_before=now)
    ).rowcount
    return Paused(subscriptions, queued)


def issue_state(conn: Connection, platform: str, expires_at: datetime, now: datetime) -> str:
    """A new, unguessable state, kept until ``expires_at`` (expired ones are cleared here)."""
    conn.execute(delete(OAuthStateRow).where(OAuthStateRow.expires_at < now))
    state = secrets.token_urlsafe(32)
    conn.execute(
        dialect_insert(conn)(OAuthStateRow).values(
            state=state, platform=platform, expires_at=expires_at
        )
    )
    return state


def consume_state(conn: Connection, platform: str, state: str, now: datetime) -> bool:
    """Whether ``state`` was issued for ``platform`` and has not expired; it is gone after."""
    if not state or len(state) > 100:
        return False
    taken = conn.execute(
        delete(OAuthStateRow).where(
            OAuthStateRow.state == state,
            OAuthStateRow.platform == platform,
            OAuthStateRow.expires_at >= now,
        )
    ).rowcount
    return bool(taken)


class InstallationStore:
    """:class:`channels.base.Installations` over the database (each call in a worker thread).

    ``changed`` is called after an install or uninstall changed subscriptions (the scheduler
    syncs its jobs).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utcnow,
        changed: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.changed = changed

    async def save(self, platform: str, installation: Installation) -> None:
        def run() -> Paused:
            with self.engine.begin() as conn:
                return save_installation(conn, platform, installation, self.clock())

        resumed = await asyncio.to_thread(run)
        log.info(
            "%s: installed in %s (%d subscriptions and %d messages resumed)",
            platform,
            installation.workspace,
            resumed.subscriptions,
            resumed.queued,
        )
        self._changed(resumed)

    async def find(self, platform: str, workspace: str) -> Installation | None:
        def run() -> Installation | None:
            with self.engine.connect() as conn:
                return find_installation(conn, platform, workspace)

        return await asyncio.to_thread(run)

    async def uninstall(self, platform: str, workspace: str, reason: str) -> None:
        def run() -> Paused:
            with self.engine.begin() as conn:
                return uninstall(conn, platform, workspace, reason, self.clock())

        paused = await asyncio.to_thread(run)
        log.warning(
            "%s: %s in %s (%d subscriptions and %d messages paused until it installs again)",
            platform,
            reason,
            workspace,
            paused.subscriptions,
            paused.queued,
        )
        self._changed(paused)

    def _changed(self, touched: Paused) -> None:
        if touched.subscriptions and self.changed is not None:
            self.changed()


class OAuthStateStore:
    """:class:`channels.base.OAuthStates` over the database."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    async def issue(self, platform: str, seconds: float) -> str:
        def run() -> str:
            now = self.clock()
            with self.engine.begin() as conn:
                return issue_state(conn, platform, now + timedelta(seconds=seconds), now)

        return await asyncio.to_thread(run)

    async def consume(self, platform: str, state: str) -> bool:
        def run() -> bool:
            with self.engine.begin() as conn:
                return consume_state(conn, platform, state, self.clock())

        return await asyncio.to_thread(run)
