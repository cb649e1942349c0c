"""Button tokens and feedback in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store.actions import (
    command_of,
    feedback_counts,
    keep_command,
    purge_tokens,
    record_vote,
    token_for,
)
from bot.store.models import ItemRow
from bot.store.store import Store
from digests import parse_report
from tests.conftest import SAMPLES

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_tokens_are_short_stable_and_expire(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        command = "/results 2 " + "agent memory " * 10
        with store.engine.begin() as conn:
            token = keep_command(conn, command, NOW, ttl=timedelta(days=1))
            assert token == token_for(command)
            assert len(token) == 12
            assert keep_command(conn, command, NOW + timedelta(hours=12)) == token  # renewed
        with store.engine.connect() as conn:
            assert command_of(conn, token, NOW + timedelta(days=2)) == command
            assert command_of(conn, token, NOW + timedelta(days=31)) is None
            assert command_of(conn, "unknownToken", NOW) is None
        with store.engine.begin() as conn:
            assert purge_tokens(conn, NOW + timedelta(days=31)) == 1
    finally:
        store.close()


def test_votes_per_chat_item_and_user(db_url: str) -> None:
    store = Store.open(db_url)
    try:
        path = SAMPLES / "2026-02.md"
        store.ingest(parse_report(path.read_bytes(), str(path)), path.read_text(encoding="utf-8"))
        with store.engine.connect() as conn:
            ids = list(conn.execute(select(ItemRow.id).order_by(ItemRow.id).limit(2)).scalars())
        with store.engine.begin() as conn:
            vote = {"platform": "telegram", "now": NOW}
            assert record_vote(conn, chat_id="1", item_id=ids[0], user_id="u1", vote=1, **vote)
            assert not record_vote(conn, chat_id="1", item_id=ids[0], user_id="u1", vote=1, **vote)
            assert record_vote(conn, chat_id="1", item_id=ids[0], user_id="u2", vote=-1, **vote)
            assert record_vote(conn, chat_id="2", item_id=ids[1], user_id="u1", vote=1, **vote)
            # changing one's mind replaces the vote
            assert record_vote(conn, chat_id="1", item_id=ids[0], user_id="u2", vote=1, **vote)
        with store.engine.connect() as conn:
            counts = feedback_counts(conn)
        assert (counts.up, counts.down, counts.items, counts.chats) == (3, 0, 2, 2)
    finally:
        store.close()
