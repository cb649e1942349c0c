"""The installations and OAuth states of many workspaces (Slack's OAuth distribution), on SQLite
and PostgreSQL: installs are found by workspace, an uninstall pauses that workspace alone
(subscriptions and queued messages kept), installing again resumes them, a state is good once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.store.installations import InstallationStore, OAuthStateStore
from bot.store.models import OutboxRow, SubscriptionRow
from bot.store.outbox import enqueue
from bot.store.store import Store
from bot.store.subscriptions import save_subscription
from channels.base import Installation
from digests.message import Message

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class _Weekly:
    day: str = "mon"
    at_time: str = "09:00"
    timezone: str = "UTC"


def _install(team: str, token: str, installer: str = "UINSTALLER") -> Installation:
    return Installation(
        workspace=team,
        bot_token=token,
        installer=f"{team}:{installer}",
        team_id=team,
        bot_user_id="UBOT",
        bot_id="BBOT",
        data={"team_name": f"Team {team}", "bot_scopes": "chat:write,commands"},
    )


def _subscribe_and_queue(store: Store, chat: str) -> None:
    with store.engine.begin() as conn:
        sub, _ = save_subscription(
            conn,
            platform="slack",
            chat_id=chat,
            chat_kind="channel",
            theme="clay",
            schedule=_Weekly(),
            size=5,
            created_by="someone",
            now=NOW,
        )
        enqueue(
            conn,
            platform="slack",
            chat_id=chat,
            message=Message.text("digest"),
            subscription_id=sub.id,
            dedup_key=f"digest:{chat}",
        )


def _states(store: Store) -> dict[str, tuple[bool, str]]:
    """chat -> (subscription active, outbox status)."""
    with store.engine.connect() as conn:
        subs = dict(conn.execute(select(SubscriptionRow.chat_id, SubscriptionRow.active)).all())
        rows = dict(conn.execute(select(OutboxRow.chat_id, OutboxRow.status)).all())
    return {chat: (bool(subs[chat]), rows[chat]) for chat in subs}


async def test_installs_are_found_by_workspace_and_replaced_on_reinstall(store: Store) -> None:
    changes: list[int] = []
    keeper = InstallationStore(store.engine, clock=lambda: NOW, changed=lambda: changes.append(1))
    await keeper.save("slack", _install("T1", "xoxb-one"))
    await keeper.save("slack", _install("T2", "xoxb-two", installer="UOTHER"))

    one = await keeper.find("slack", "T1")
    assert one is not None
    assert (one.bot_token, one.installer, one.team_id) == ("xoxb-one", "T1:UINSTALLER", "T1")
    assert one.data["team_name"] == "Team T1"
    two = await keeper.find("slack", "T2")
    assert two is not None
    assert two.bot_token == "xoxb-two"
    assert await keeper.find("slack", "T3") is None
    assert await keeper.find("lark", "T1") is None  # per platform

    await keeper.save("slack", _install("T1", "xoxb-one-again"))
    again = await keeper.find("slack", "T1")
    assert again is not None
    assert again.bot_token == "xoxb-one-again"
    assert changes == []  # nothing was paused, so no subscription changed


async def test_uninstall_pauses_that_workspace_alone_and_reinstall_resumes_it(
    store: Store,
) -> None:
    changes: list[int] = []
    keeper = InstallationStore(store.engine, clock=lambda: NOW, changed=lambda: changes.append(1))
    await keeper.save("slack", _install("T1", "xoxb-one"))
    await keeper.save("slack", _install("T11", "xoxb-eleven"))
    for chat in ("T1:C1", "T1:D9", "T11:C1"):
        _subscribe_and_queue(store, chat)

    await keeper.uninstall("slack", "T1", "app_uninstalled")

    assert await keeper.find("slack", "T1") is None  # no token is handed out any more
    assert await keeper.find("slack", "T11") is not None  # T11 is not T1's prefix
    assert _states(store) == {
        "T1:C1": (False, "suspended"),
        "T1:D9": (False, "suspended"),
        "T11:C1": (True, "pending"),
    }
    with store.engine.connect() as conn:
        reasons = set(
            conn.execute(
                select(SubscriptionRow.deactivated_reason).where(SubscriptionRow.active.is_(False))
            ).scalars()
        )
    assert reasons == {"workspace uninstalled"}
    assert changes == [1]

    await keeper.save("slack", _install("T1", "xoxb-one-new"))
    assert _states(store) == {
        "T1:C1": (True, "pending"),
        "T1:D9": (True, "pending"),
        "T11:C1": (True, "pending"),
    }
    found = await keeper.find("slack", "T1")
    assert found is not None
    assert found.bot_token == "xoxb-one-new"
    assert changes == [1, 1]


async def test_a_subscription_ended_by_hand_stays_ended_after_a_reinstall(store: Store) -> None:
    keeper = InstallationStore(store.engine, clock=lambda: NOW)
    await keeper.save("slack", _install("T1", "xoxb-one"))
    _subscribe_and_queue(store, "T1:C1")
    with store.engine.begin() as conn:
        conn.execute(
            SubscriptionRow.__table__.update().values(
                active=False, deactivated_reason="unsubscribed"
            )
        )
    await keeper.uninstall("slack", "T1", "tokens_revoked")
    await keeper.save("slack", _install("T1", "xoxb-one"))
    assert _states(store)["T1:C1"][0] is False


async def test_an_oauth_state_is_good_once_and_not_after_it_expires(store: Store) -> None:
    now = [NOW]
    states = OAuthStateStore(store.engine, clock=lambda: now[0])
    first = await states.issue("slack", 600)
    second = await states.issue("slack", 600)
    assert first != second
    assert len(first) >= 32

    assert await states.consume("lark", first) is False  # issued for another platform
    assert await states.consume("slack", first) is True
    assert await states.consume("slack", first) is False  # consumed already
    assert await states.consume("slack", "made-up") is False
    assert await states.consume("slack", "") is False

    now[0] = NOW + timedelta(seconds=601)
    assert await states.consume("slack", second) is False  # expired


async def test_votes_and_status_of_a_workspace_count_its_own_chats_only(store: Store) -> None:
    from bot.gateway import seed_samples
    from bot.store.actions import feedback_counts, record_vote
    from bot.store.models import ItemRow
    from bot.store.status import outbox_status
    from bot.store.taste import most_liked

    seed_samples(store)
    with store.engine.connect() as conn:
        first, second = conn.execute(select(ItemRow.id).order_by(ItemRow.id).limit(2)).scalars()
    with store.engine.begin() as conn:
        for chat, item in (("T1:C1", first), ("T1:C2", first), ("T2:C1", second)):
            record_vote(
                conn, platform="slack", chat_id=chat, item_id=item, user_id="U1", vote=1, now=NOW
            )
    _subscribe_and_queue(store, "T1:C1")
    _subscribe_and_queue(store, "T2:C1")
    keeper = InstallationStore(store.engine, clock=lambda: NOW)
    await keeper.uninstall("slack", "T2", "app_uninstalled")

    with store.engine.connect() as conn:
        everyone = most_liked(conn)
        acme = most_liked(conn, workspace=("slack", "T1"))
        globex = most_liked(conn, workspace=("slack", "T2"))
        acme_votes = feedback_counts(conn, workspace=("slack", "T1"))
        acme_status = outbox_status(conn, now=NOW, workspace=("slack", "T1"))
        globex_status = outbox_status(conn, now=NOW, workspace=("slack", "T2"))
    assert {hit.item_id for hit in everyone} == {first, second}
    assert [(hit.item_id, hit.up) for hit in acme] == [(first, 2)]
    assert [(hit.item_id, hit.up) for hit in globex] == [(second, 1)]
    assert (acme_votes.up, acme_votes.chats) == (2, 2)
    assert (acme_status.pending, acme_status.deactivated_subscriptions) == (1, 0)
    # T2's digest is paused, not pending; its subscription is counted as deactivated there.
    assert (globex_status.pending, globex_status.deactivated_subscriptions) == (0, 1)
