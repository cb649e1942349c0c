"""Watches: a chat's standing searches, matched against every new or changed item at ingest.

A watch is words a chat gave ``/watch`` (``DeepSeek``, ``on-policy distillation``, ``长上下文``).
It matches an item exactly when ``/search`` with those words finds it in its first pass (every
word, through the same terms and glossary: :func:`bot.store.search.query_groups`,
:func:`~bot.store.search.indexed_terms`, :func:`~bot.store.search.groups_match`).

:func:`notify_watches` runs inside the ingest's transaction (``Store.ingest`` and ``reparse``
call it with the items they added or changed): it reads every watch once, indexes each by one
term of each alternative of its rarest group among these items (a watch can only match an item
that has one of those), probes that index with each item's terms, checks the few candidates
whole, and records each new (watch, item) in ``watch_hits`` together with one outbox row per chat
(:func:`bot.store.outbox_many.enqueue_many`). So an item is never
announced twice for the same watch, and a crash loses nothing: the report, the hits and the
messages commit together or not at all.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select

from bot.i18n import translator
from bot.store.chats import reactivate
from bot.store.languages import LanguageSetting, resolve
from bot.store.models import ChatLanguageRow, ChatRow, ItemRow, WatchHitRow, WatchRow
from bot.store.outbox_many import Outgoing, enqueue_many
from bot.store.search import groups_match, indexed_terms, query_groups
from digests.items import Item
from digests.message import Message
from digests.watching import WatchHit, watch_message

#: Watches one chat may keep.
MAX_PER_CHAT = 50
#: The longest words a watch takes (characters).
MAX_WORDS = 100
PURPOSE = "watch"


def watch_key(words: str) -> str:
    """The words folded: ``DeepSeek`` and ``deepseek`` are the same watch."""
    return " ".join(unicodedata.normalize("NFKC", words).casefold().split())


@dataclass(frozen=True)
class Watch:
    """A watch as ``/watches`` shows it: its words and what it matched last."""

    id: int
    words: str
    hits: int
    last_title: str | None
    last_period: str | None
    last_kind: str | None


def add_watch(
    conn: Connection,
    *,
    platform: str,
    chat_id: str,
    chat_kind: str,
    words: str,
    language: str,
    created_by: str,
    now: datetime,
) -> bool:
    """Store a watch; False when the chat watches these words already. Either way the chat
    takes messages again (a command came from it)."""
    reactivate(conn, platform, chat_id, chat_kind, now)
    key = watch_key(words)
    exists = conn.execute(
        select(WatchRow.id).where(
            WatchRow.platform == platform, WatchRow.chat_id == chat_id, WatchRow.words_key == key
        )
    ).first()
    if exists is not None:
        return False
    conn.execute(
        insert(WatchRow).values(
            platform=platform,
            chat_id=chat_id[:100],
            chat_kind=chat_kind[:20],
            words=words[:200],
            words_key=key[:200],
            language=language[:8],
            created_by=created_by[:100],
            created_at=now,
        )
    )
    return True


def watch_count(conn: Connection, platform: str, chat_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(WatchRow)
            .where(WatchRow.platform == platform, WatchRow.chat_id == chat_id)
        ).scalar_one()
    )


def chat_watches(conn: Connection, platform: str, chat_id: str) -> list[Watch]:
    """The chat's watches, oldest first, each with its number of hits and its latest one."""
    rows = conn.execute(
        select(WatchRow.id, WatchRow.words)
        .where(WatchRow.platform == platform, WatchRow.chat_id == chat_id)
        .order_by(WatchRow.id)
    ).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    counts = dict(
        conn.execute(
            select(WatchHitRow.watch_id, func.count())
            .where(WatchHitRow.watch_id.in_(ids))
            .group_by(WatchHitRow.watch_id)
        ).all()
    )
    latest: dict[int, tuple[str, str, str]] = {}
    for hit in conn.execute(
        select(WatchHitRow.watch_id, ItemRow.title, ItemRow.period, ItemRow.kind)
        .join(ItemRow, ItemRow.id == WatchHitRow.item_id)
        .where(WatchHitRow.watch_id.in_(ids))
        .order_by(WatchHitRow.matched_at.desc(), ItemRow.period.desc(), ItemRow.position)
    ):
        latest.setdefault(hit.watch_id, (hit.title, hit.period, hit.kind))
    out = []
    for r in rows:
        title, period, kind = latest.get(r.id, (None, None, None))
        out.append(Watch(r.id, r.words, int(counts.get(r.id, 0)), title, period, kind))
    return out


def remove_watches(conn: Connection, platform: str, chat_id: str, words: str | None) -> list[str]:
    """Delete the chat's watch of ``words`` (every watch when None); returns the words removed."""
    where = [WatchRow.platform == platform, WatchRow.chat_id == chat_id]
    if words is not None:
        where.append(WatchRow.words_key == watch_key(words))
    rows = conn.execute(select(WatchRow.id, WatchRow.words).where(*where)).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    conn.execute(delete(WatchHitRow).where(WatchHitRow.watch_id.in_(ids)))
    conn.execute(delete(WatchRow).where(WatchRow.id.in_(ids)))
    return [r.words for r in rows]


# -- matching at ingest ---------------------------------------------------------------------------


@dataclass
class _Watching:
    id: int
    platform: str
    chat_id: str
    chat_kind: str
    words: str
    language: str
    groups: list[list[list[str]]]


_ANY_WATCH = select(WatchRow.id).limit(1)
_WATCHES = (
    select(
        WatchRow.id,
        WatchRow.platform,
        WatchRow.chat_id,
        WatchRow.chat_kind,
        WatchRow.words,
        WatchRow.language,
        ChatRow.active.label("chat_active"),
        ChatLanguageRow.choice,
        ChatLanguageRow.setup_language,
    )
    .outerjoin(
        ChatRow, (ChatRow.platform == WatchRow.platform) & (ChatRow.chat_id == WatchRow.chat_id)
    )
    .outerjoin(
        ChatLanguageRow,
        (ChatLanguageRow.platform == WatchRow.platform)
        & (ChatLanguageRow.chat_id == WatchRow.chat_id),
    )
    .order_by(WatchRow.id)
)


def notify_watches(conn: Connection, items: Sequence[tuple[int, Item]], now: datetime) -> int:
    """Match every watch against ``items`` (new or changed, with their ids) and queue one
    message per chat whose watches matched something not announced to them before.

    Runs in the caller's (the ingest's) transaction. Returns how many messages it queued. With no
    watches at all this is one indexed probe.
    """
    if not items or conn.execute(_ANY_WATCH).first() is None:
        return 0
    item_terms = [(item_id, item, indexed_terms(item)) for item_id, item in items]
    # How many of these items have each term: a watch is indexed under its rarest group.
    frequency: Counter[str] = Counter(t for _, _, terms in item_terms for t in terms)
    watches: list[_Watching] = []
    index: dict[str, list[int]] = defaultdict(list)
    parsed: dict[str, tuple[list[list[list[str]]], list[str]] | None] = {}
    for row in conn.execute(_WATCHES):
        if row.chat_active is False:
            continue
        if row.words not in parsed:
            parsed[row.words] = _anchors(query_groups(row.words), frequency)
        found = parsed[row.words]
        if found is None:
            continue
        groups, anchors = found
        setting = LanguageSetting(row.choice, row.setup_language) if row.choice else None
        language = resolve(setting, None, row.language or "en")
        n = len(watches)
        watches.append(
            _Watching(row.id, row.platform, row.chat_id, row.chat_kind, row.words, language, groups)
        )
        for term in anchors:
            index[term].append(n)
    if not index:
        return 0
    matched: dict[int, list[int]] = defaultdict(list)  # watch index -> item ids
    for item_id, _item, terms in item_terms:
        candidates = {n for term in terms for n in index.get(term, ())}
        for n in sorted(candidates):
            if groups_match(watches[n].groups, terms):
                matched[n].append(item_id)
    if not matched:
        return 0
    item_ids = sorted({i for ids in matched.values() for i in ids})
    told = {
        (int(r.watch_id), int(r.item_id))
        for r in conn.execute(
            select(WatchHitRow.watch_id, WatchHitRow.item_id).where(
                WatchHitRow.item_id.in_(item_ids)
            )
        )
    }
    by_item = {item_id: item for item_id, item in items}
    # chat -> item id -> the chat's watches that matched it
    chats: dict[tuple[str, str], dict[int, list[_Watching]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for n, ids in matched.items():
        watch = watches[n]
        for item_id in ids:
            if (watch.id, item_id) not in told:
                chats[(watch.platform, watch.chat_id)][item_id].append(watch)
    position = {item_id: (item.position, item_id) for item_id, item in items}
    messages: dict[tuple[str, tuple[tuple[int, tuple[str, ...]], ...]], Message] = {}
    outgoing: list[Outgoing] = []
    hits: list[dict[str, object]] = []
    for (platform, chat_id), found_items in chats.items():
        first = min((w for ws in found_items.values() for w in ws), key=lambda w: w.id)
        order = sorted(found_items, key=lambda i: position[i])
        shape = tuple((i, tuple(w.words for w in found_items[i])) for i in order)
        # Many chats watch the same words: each language's message is composed once.
        key = (first.language, shape)
        message = messages.get(key)
        if message is None:
            message = watch_message(
                [WatchHit(i, by_item[i], words) for i, words in shape],
                translator(first.language),
            )
            messages[key] = message
        outgoing.append(
            Outgoing(platform, chat_id, message, order, purpose=PURPOSE, chat_kind=first.chat_kind)
        )
        hits.extend(
            {"watch_id": w.id, "item_id": i, "matched_at": now}
            for i in order
            for w in found_items[i]
        )
    queued = enqueue_many(conn, outgoing)
    conn.execute(insert(WatchHitRow), hits)
    return queued


def _anchors(
    groups: list[list[list[str]]], frequency: Counter[str]
) -> tuple[list[list[list[str]]], list[str]] | None:
    """A watch's groups and the terms to index it under, or None when it cannot match these items.

    A match needs every group, and a group needs all terms of one of its alternatives: so one
    term of each alternative of any single group is enough to find every item the watch matches.
    The group whose alternatives' rarest terms are in the fewest items is taken (``长上下文
    vexa17`` is indexed under ``vexa17``, not under the bigram every item has).
    """
    if not groups:
        return None
    best: tuple[int, list[str]] | None = None
    for group in groups:
        anchors = [min(alternative, key=lambda t: frequency.get(t, 0)) for alternative in group]
        count = sum(frequency.get(t, 0) for t in anchors)
        if best is None or count < best[0]:
            best = (count, anchors)
    assert best is not None
    if best[0] == 0:
        return None  # some group has no alternative whose every term these items carry
    return groups, best[1]
