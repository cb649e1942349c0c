"""Which language each chat is answered in: the ``chat_languages`` table.

A chat without a row, or with ``auto``, follows the language of the user who set it up
(``setup_language``); when that is unknown too, the sender's own language, then the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select, update

from bot.store.db import dialect_insert
from bot.store.models import ChatLanguageRow


@dataclass(frozen=True)
class LanguageSetting:
    choice: str  # zh, en or auto
    setup_language: str | None


def chat_language(conn: Connection, platform: str, chat_id: str) -> LanguageSetting | None:
    """The chat's stored setting, or None when it never chose nor was set up."""
    row = conn.execute(
        select(ChatLanguageRow.choice, ChatLanguageRow.setup_language).where(
            ChatLanguageRow.platform == platform, ChatLanguageRow.chat_id == chat_id
        )
    ).first()
    return LanguageSetting(row.choice, row.setup_language) if row is not None else None


def resolve(setting: LanguageSetting | None, sender_language: str | None, default: str) -> str:
    """The language to answer in: the chat's choice, else whoever set it up, else the sender."""
    if setting is not None and setting.choice != "auto":
        return setting.choice
    if setting is not None and setting.setup_language:
        return setting.setup_language
    return sender_language or default


def digest_language(conn: Connection, platform: str, chat_id: str, default: str = "en") -> str:
    """The language of a chat's digests: its choice, else that of whoever set it up."""
    return resolve(chat_language(conn, platform, chat_id), None, default)


def choose_language(
    engine: Engine,
    platform: str,
    chat_id: str,
    choice: str,
    *,
    setup_language: str | None,
    set_by: str,
    now: datetime,
) -> None:
    """Store ``/lang``'s choice; the setup language is recorded the first time only."""
    with engine.begin() as conn:
        insert = dialect_insert(conn)
        stmt = insert(ChatLanguageRow).values(
            platform=platform,
            chat_id=chat_id,
            choice=choice,
            setup_language=setup_language,
            set_by=set_by[:100],
            updated_at=now,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["platform", "chat_id"],
                set_={"choice": choice, "set_by": set_by[:100], "updated_at": now},
            )
        )
        if setup_language:
            _fill_setup(conn, platform, chat_id, setup_language)


def record_setup(
    engine: Engine, platform: str, chat_id: str, language: str, *, set_by: str, now: datetime
) -> None:
    """Remember who set the chat up (their language) unless someone already did."""
    with engine.begin() as conn:
        insert = dialect_insert(conn)
        conn.execute(
            insert(ChatLanguageRow)
            .values(
                platform=platform,
                chat_id=chat_id,
                choice="auto",
                setup_language=language,
                set_by=set_by[:100],
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["platform", "chat_id"])
        )
        _fill_setup(conn, platform, chat_id, language)


def _fill_setup(conn: Connection, platform: str, chat_id: str, language: str) -> None:
    conn.execute(
        update(ChatLanguageRow)
        .where(
            ChatLanguageRow.platform == platform,
            ChatLanguageRow.chat_id == chat_id,
            ChatLanguageRow.setup_language.is_(None),
        )
        .values(setup_language=language)
    )
