"""Digest queries: which items a chat gets next, and recording a subscription's due digest.

Choosing is one query over indexes, never a load of the theme into Python: the theme's current
items, newest copy only (no newer period has an item with the same key), neither delivered to the
chat nor queued for it, newest period first and report order within a period, ``LIMIT size``.
It walks ``ix_items_digest_order`` and stops after ``size`` matches, probing
``ix_items_theme_key`` (a newer copy?) and the deliveries' primary key (sent there?) per row.

How many remain after a digest ("12 more to come") is the theme's number of distinct current keys
(one newest copy each) less the chat's taken newest copies; the first is kept per theme in a
:class:`ThemeSizes` (checked against the items' generation), since a Monday stampede asks it ten
thousand times.

:func:`make_digest_due` composes the digest a run is due and records it in the outbox in one
transaction under the key ``digest:{subscription id}:{scheduled minute, UTC}``: a run made twice
(a misfire after a restart, two schedulers) never makes a second row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, exists, false, func, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter

from bot.clock import require_aware
from bot.i18n import translator
from bot.platforms import in_chat_words
from bot.store.languages import LanguageSetting, resolve
from bot.store.models import (
    ChatLanguageRow,
    ChatRow,
    DeliveryRow,
    ItemRow,
    OutboxRow,
    SubscriptionRow,
)
from bot.store.outbox import enqueue, pending_item_ids
from bot.store.taste import chat_votes, has_votes, taste_columns, traits_of_row, voted_in
from digests.cards import theme_label
from digests.compose import Candidate, Digest, digest_of, nothing_new
from digests.items import Item
from digests.message import Message
from digests.taste import Taste
from digests.words import ENGLISH, Words

log = logging.getLogger(__name__)


def known_themes(conn: Connection) -> dict[str, str]:
    """Theme slug -> title, over the current items of every report."""
    rows = conn.execute(
        select(ItemRow.theme, func.max(ItemRow.theme_title))
        .where(ItemRow.removed == false())
        .group_by(ItemRow.theme)
    ).all()
    return {slug: title for slug, title in rows}


_item = aliased(ItemRow, name="item")
_newer = aliased(ItemRow, name="newer")
_newest_copy = ~exists().where(
    _newer.theme == _item.theme,
    _newer.key == _item.key,
    _newer.removed == false(),
    _newer.period > _item.period,
)
_current = (_item.theme == bindparam("theme"), _item.removed == false(), _newest_copy)
_sent = aliased(ItemRow, name="sent")
_alive = aliased(ItemRow, name="alive")
#: The chat had a copy of the item, of any month (one item per key: the same paper under
#: another title in another month is one, and a chat gets it once).
_delivered = exists().where(
    _sent.kind == _item.kind,
    _sent.key == _item.key,
    DeliveryRow.platform == bindparam("platform"),
    DeliveryRow.chat_id == bindparam("chat_id"),
    DeliveryRow.item_id == _sent.id,
)
_pending: BindParameter[list[int]] = bindparam("pending", expanding=True)

#: The chat's delivered items of the theme (distinct keys with a current copy there), driven
#: from its deliveries.
_DELIVERED_COUNT = (
    select(func.count(func.distinct(_sent.key)))
    .select_from(DeliveryRow)
    .join(_sent, _sent.id == DeliveryRow.item_id)
    .where(
        DeliveryRow.platform == bindparam("platform"),
        DeliveryRow.chat_id == bindparam("chat_id"),
        _sent.theme == bindparam("theme"),
        exists().where(
            _alive.theme == _sent.theme, _alive.key == _sent.key, _alive.removed == false()
        ),
    )
)
# Built once: a stampede runs them ten thousand times, and building costs more than running.
#: The chat's next items: walks ix_items_digest_order, stops after ``size`` matches. Each row
#: carries the delivered count (an uncorrelated subquery, run once and only when a row is found):
#: one round trip fewer per digest.
_NEXT_ITEMS = (
    select(
        _item.id,
        _item.data,
        _DELIVERED_COUNT.scalar_subquery().label("delivered"),
    )
    .where(*_current, ~_delivered, _item.id.not_in(_pending))
    .order_by(_item.period.desc(), _item.position, _item.id)
    .limit(bindparam("size"))
)
#: The same walk for a chat that voted, over up to POOL items: only what its taste looks at (the
#: chosen few are decoded after, by id).
_POOL = (
    select(
        _item.id,
        *taste_columns(_item),
        _DELIVERED_COUNT.scalar_subquery().label("delivered"),
    )
    .where(*_current, ~_delivered, _item.id.not_in(_pending))
    .order_by(_item.period.desc(), _item.position, _item.id)
    .limit(bindparam("size"))
)
_DATA = select(_item.id, _item.data).where(_item.id.in_(bindparam("ids", expanding=True)))
#: Of the items queued for the chat, the theme's newest copies not delivered yet.
_PENDING_COUNT = (
    select(func.count()).select_from(_item).where(_item.id.in_(_pending), *_current, ~_delivered)
)
# Row lock (PostgreSQL): concurrent runs of one subscription compose one after the other.
# With what we know of its chat and its language (two round trips fewer per digest).
_SUBSCRIPTION = (
    select(
        SubscriptionRow.platform,
        SubscriptionRow.chat_id,
        SubscriptionRow.theme,
        SubscriptionRow.size,
        SubscriptionRow.day,
        SubscriptionRow.at_time,
        SubscriptionRow.timezone,
        SubscriptionRow.active,
        ChatRow.kind.label("chat_kind"),
        ChatRow.active.label("chat_active"),
        ChatLanguageRow.choice.label("language_choice"),
        ChatLanguageRow.setup_language,
        voted_in(SubscriptionRow.platform, SubscriptionRow.chat_id).label("has_votes"),
    )
    .outerjoin(
        ChatRow,
        (ChatRow.platform == SubscriptionRow.platform)
        & (ChatRow.chat_id == SubscriptionRow.chat_id),
    )
    .outerjoin(
        ChatLanguageRow,
        (ChatLanguageRow.platform == SubscriptionRow.platform)
        & (ChatLanguageRow.chat_id == SubscriptionRow.chat_id),
    )
    .where(SubscriptionRow.id == bindparam("id"))
    .with_for_update(of=SubscriptionRow)
)
_RECORDED = select(OutboxRow.id).where(OutboxRow.dedup_key == bindparam("key"))
# One statement of two scalar subqueries: each max() is still answered from its index alone
# (SQLite optimizes a max() only in a query of its own), in one round trip.
_GENERATION = select(
    select(func.max(ItemRow.id)).scalar_subquery(),
    select(func.max(ItemRow.updated_at)).scalar_subquery(),
)
# DISTINCT in a subquery: PostgreSQL then walks ix_items_theme_key in key order (count(DISTINCT)
# would sort the theme again).
_DISTINCT_KEYS = select(func.count()).select_from(
    select(ItemRow.key)
    .where(ItemRow.theme == bindparam("theme"), ItemRow.removed == false())
    .distinct()
    .subquery()
)


#: How many of a voting chat's next items its taste orders (a digest takes the first ones).
POOL = 100


@dataclass
class ThemeSizes:
    """Distinct current keys per theme, remembered while the items do not change.

    Thread-safe; one per store (the scheduler's jobs run in threads).
    """

    _generation: tuple[object, ...] | None = None
    _sizes: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, conn: Connection, theme: str) -> int:
        # Inserts raise max(id); changes and removals stamp updated_at: both are index lookups.
        generation = tuple(conn.execute(_GENERATION).one())
        with self._lock:
            if generation != self._generation:
                self._generation, self._sizes = generation, {}
            size = self._sizes.get(theme)
        if size is None:
            size = conn.execute(_DISTINCT_KEYS, {"theme": theme}).scalar_one()
            with self._lock:
                if generation == self._generation:
                    self._sizes[theme] = size
        return size


def next_digest(
    conn: Connection,
    platform: str,
    chat_id: str,
    theme: str,
    size: int,
    when: datetime,
    *,
    sizes: ThemeSizes | None = None,
    web_url: Callable[[str], str] | None = None,
    words: Words = ENGLISH,
    voted: bool | None = None,
) -> Digest | None:
    """The digest a run at ``when`` would make for the chat, without recording anything.

    ``web_url`` gives a theme's web page (the digest links to it); ``words`` its language.
    When the chat voted (``voted``; looked up when None), its taste orders the next
    :data:`POOL` items and the digest takes the first ``size`` (:class:`digests.taste.Taste`);
    a chat without votes gets the plain digest order from the same single query.
    """
    require_aware(when, "digest times")
    if size < 1:
        raise ValueError(f"digest size must be at least 1, not {size}")
    chat = {"platform": platform, "chat_id": chat_id, "theme": theme}
    if voted is None:
        voted = has_votes(conn, platform, chat_id)
    votes = chat_votes(conn, platform, chat_id) if voted else []
    pending = sorted(pending_item_ids(conn, platform, chat_id))
    if votes:
        rows = conn.execute(_POOL, {**chat, "pending": pending, "size": max(size, POOL)}).all()
    else:
        rows = conn.execute(_NEXT_ITEMS, {**chat, "pending": pending, "size": size}).all()
    if not rows:
        return None
    taken = int(rows[0].delivered)
    if pending:
        taken += conn.execute(_PENDING_COUNT, {**chat, "pending": pending}).scalar_one()
    total = (sizes or ThemeSizes()).get(conn, theme)
    if votes:
        ranked = Taste(votes).rank([traits_of_row(row) for row in rows], words, size)
        ids = [rows[n].id for n, _ in ranked]
        data: dict[int, dict[str, Any]] = dict(conn.execute(_DATA, {"ids": ids}).all())
        chosen = [
            Candidate(i, Item.from_dict(data[i]), note)
            for i, (_, note) in zip(ids, ranked, strict=True)
        ]
    else:
        chosen = [Candidate(row.id, Item.from_dict(row.data)) for row in rows]
    remaining = total - taken - len(chosen)
    return digest_of(chosen, remaining, when=when, web_url=web_url, words=words)


def dedup_key(subscription_id: int, scheduled_for: datetime) -> str:
    """``digest:7:2026-03-02T01:00Z``: one digest per subscription and scheduled minute."""
    require_aware(scheduled_for, "scheduler times")
    minute = scheduled_for.astimezone(UTC).replace(second=0, microsecond=0)
    return f"digest:{subscription_id}:{minute:%Y-%m-%dT%H:%M}Z"


def make_digest_due(
    conn: Connection,
    subscription_id: int,
    scheduled_for: datetime | Callable[[str, str, str], datetime],
    now: datetime,
    *,
    post_empty: bool = False,
    grace: timedelta | None = None,
    sizes: ThemeSizes | None = None,
    web_url: Callable[[str], str] | None = None,
) -> int | None:
    """Record the digest a subscription is due at ``scheduled_for``; returns the outbox row id.

    ``scheduled_for`` may be a function of the subscription's (day, at_time, timezone), e.g. its
    latest run before ``now``: the scheduler's job reads the row once. Runs in the caller's
    transaction. None when there is nothing to record: the subscription is gone or inactive,
    its chat is gone, the run is more than ``grace`` late, this run was recorded before, or
    nothing is new (unless ``post_empty``, which records a short "nothing new" note instead).
    """
    require_aware(now, "scheduler times")
    if isinstance(scheduled_for, datetime):
        require_aware(scheduled_for, "scheduler times")
    # Row lock (PostgreSQL): concurrent runs of one subscription compose one after the other.
    sub = conn.execute(_SUBSCRIPTION, {"id": subscription_id}).first()
    if sub is None or not sub.active:
        return None
    if not isinstance(scheduled_for, datetime):
        scheduled_for = scheduled_for(sub.day, sub.at_time, sub.timezone)
    if grace is not None and now - scheduled_for > grace:
        log.warning(
            "subscription %s: run of %s missed by more than %s, skipped",
            subscription_id,
            scheduled_for.isoformat(),
            grace,
        )
        return None
    key = dedup_key(subscription_id, scheduled_for)
    if conn.execute(_RECORDED, {"key": key}).first():
        log.info("subscription %s: %s already recorded", subscription_id, key)
        return None
    if sub.chat_active is False:
        return None
    when = scheduled_for.astimezone(ZoneInfo(sub.timezone))
    language = None
    if sub.language_choice is not None:
        language = LanguageSetting(sub.language_choice, sub.setup_language)
    words = translator(resolve(language, None, "en"))
    digest = next_digest(
        conn,
        sub.platform,
        sub.chat_id,
        sub.theme,
        sub.size,
        when,
        sizes=sizes,
        web_url=web_url,
        words=words,
        voted=bool(sub.has_votes),
    )
    message: Message
    if digest is not None:
        message, item_ids = digest.message, digest.item_ids
    elif post_empty:
        title = theme_label(known_themes(conn).get(sub.theme, sub.theme), words)
        message, item_ids = nothing_new(title, when, words), ()
    else:
        log.info("subscription %s: nothing new in %s", subscription_id, sub.theme)
        return None
    # its commands as the chat's platform runs them ("More: /model X", "preview: /digest y")
    message = in_chat_words(message, sub.platform, sub.chat_kind or "")
    return enqueue(
        conn,
        platform=sub.platform,
        chat_id=sub.chat_id,
        message=message,
        item_ids=item_ids,
        subscription_id=subscription_id,
        dedup_key=key,
        purpose="digest",
        chat_kind=sub.chat_kind or "",
    )
