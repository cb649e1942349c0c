"""SQLAlchemy tables. Migrations in ``bot/store/migrations`` create them; keep the two in step.

Every table class is named ``…Row`` (``ItemRow``, ``SubscriptionRow``): the domain's own
``Item`` and ``Report`` live in ``digests``, and a row is not one of them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class ReportRow(Base):
    """Every uploaded version of a report; one per period is current."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(String(500))
    markdown: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    is_current: Mapped[bool] = mapped_column(Boolean)
    item_count: Mapped[int] = mapped_column(Integer)
    warning_count: Mapped[int] = mapped_column(Integer, default=0)
    #: A bundled sample (the first console start's demo): the first real report removes it.
    sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class ItemRow(Base):
    """An item of the current version of its month. Removed items stay, marked removed."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("period", "key", name="uq_items_period_key"),
        Index("ix_items_theme_period", "theme", "period", "position"),
        Index("ix_items_kind_name", "kind", "name_norm"),
        Index("ix_items_kind_key", "kind", "key"),
        Index("ix_items_theme_key", "theme", "key", "removed", "period"),
        Index("ix_items_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    period: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))
    theme: Mapped[str] = mapped_column(String(100))
    theme_title: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(500))
    name_norm: Mapped[str] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(String(2000))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ItemNameRow(Base):
    """Normalized names (title and aliases) for forgiving lookups."""

    __tablename__ = "item_names"
    __table_args__ = (Index("ix_item_names_norm", "name_norm"),)

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    name_norm: Mapped[str] = mapped_column(String(300), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))


class ProcessedUpdateRow(Base):
    """Platform update and event ids already handled, shared by every gateway."""

    __tablename__ = "processed_updates"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class SubscriptionRow(Base):
    """A chat's weekly digest of one theme."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "theme", name="uq_subscription"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(100))
    theme: Mapped[str] = mapped_column(String(100))
    day: Mapped[str] = mapped_column(String(3))
    at_time: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deactivated_reason: Mapped[str | None] = mapped_column(String(300))


class ChatRow(Base):
    """What we know of a chat: whether it still takes messages, and where it moved."""

    __tablename__ = "chats"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    gone_reason: Mapped[str | None] = mapped_column(String(300))
    moved_to: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxRow(Base):
    """One message to one destination, recorded before it is sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(100))
    chat_kind: Mapped[str] = mapped_column(String(20), default="")
    subscription_id: Mapped[int | None] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    message: Mapped[dict[str, Any]] = mapped_column(JSON)
    item_ids: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Tries without a readable answer (the message may have been delivered each time).
    maybe_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    message_ids: Mapped[list[Any]] = mapped_column(JSON)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    dead_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


Index("ix_outbox_chat", OutboxRow.platform, OutboxRow.chat_id, OutboxRow.status)
Index(
    "ix_items_digest_order",
    ItemRow.theme,
    ItemRow.removed,
    ItemRow.period.desc(),
    ItemRow.position,
    ItemRow.id,
)


class OutboxWorkerRow(Base):
    """A running outbox worker's heartbeat: renews its leases, and shares out global limits."""

    __tablename__ = "outbox_workers"

    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DeliveryRow(Base):
    """An item a chat has been sent: digests never send it there again."""

    __tablename__ = "deliveries"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ActionTokenRow(Base):
    """A button's command too long for the platform's button payload, kept under a short token."""

    __tablename__ = "action_tokens"

    token: Mapped[str] = mapped_column(String(16), primary_key=True)
    command: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class FeedbackRow(Base):
    """A 👍 (+1) or 👎 (-1) on a digest entry, per chat and item (and who pressed it)."""

    __tablename__ = "feedback"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    vote: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChatLanguageRow(Base):
    """The language a chat is answered in: ``zh``, ``en``, or ``auto`` (see ``bot/store/languages``).

    ``setup_language`` is the platform language of the user who set the chat up (first
    subscribed, or first chose a language), which ``auto`` follows.
    """

    __tablename__ = "chat_languages"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    choice: Mapped[str] = mapped_column(String(8), default="auto")
    setup_language: Mapped[str | None] = mapped_column(String(8))
    set_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeedTokenRow(Base):
    """A person's personal feed link (``/feeds``): it never expires, and is revoked by deleting
    its row. The link carries the id with an HMAC of it (``bot/web/links``), never stored."""

    __tablename__ = "feed_tokens"
    __table_args__ = (Index("ix_feed_tokens_person", "platform", "user_id"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WatchRow(Base):
    """A chat's standing search: told when a new or changed item matches ``words``."""

    __tablename__ = "watches"
    __table_args__ = (UniqueConstraint("platform", "chat_id", "words_key", name="uq_watch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(100))
    chat_kind: Mapped[str] = mapped_column(String(20), default="")
    #: As typed (cleaned); ``words_key`` is the same folded, one watch per chat and key.
    words: Mapped[str] = mapped_column(String(200))
    words_key: Mapped[str] = mapped_column(String(200))
    #: The language /watch was answered in: the message's language when the chat has none.
    language: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WatchHitRow(Base):
    """An item a watch told its chat about (recorded with the outbox row that tells it)."""

    __tablename__ = "watch_hits"
    __table_args__ = (Index("ix_watch_hits_item", "item_id"),)

    watch_id: Mapped[int] = mapped_column(
        ForeignKey("watches.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    matched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InstallationRow(Base):
    """A workspace that installed the app (Slack's OAuth distribution): its bot token and who
    installed it. An uninstalled workspace keeps its row, inactive and without a token."""

    __tablename__ = "installations"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: The team id (or, for an organisation-wide install, the enterprise id).
    workspace: Mapped[str] = mapped_column(String(40), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(40))
    team_id: Mapped[str | None] = mapped_column(String(40))
    installer: Mapped[str] = mapped_column(String(100))
    bot_token: Mapped[str] = mapped_column(Text)
    bot_user_id: Mapped[str] = mapped_column(String(40))
    bot_id: Mapped[str] = mapped_column(String(40))
    #: The rest of what the platform's SDK keeps of an installation (names, scopes, app id).
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    uninstalled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    uninstall_reason: Mapped[str | None] = mapped_column(String(100))


class OAuthStateRow(Base):
    """The ``state`` of an install begun at ``/slack/install``: consumed once, before it expires."""

    __tablename__ = "oauth_states"

    state: Mapped[str] = mapped_column(String(100), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
