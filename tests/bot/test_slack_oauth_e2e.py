"""Slack's OAuth distribution, end to end: one gateway, two workspaces installed through the real
``/slack/install`` → Slack's authorize page → ``/slack/oauth_redirect`` flow (over HTTP, with the
state cookie, against the fake Slack that issues tokens at ``oauth.v2.access``). Each workspace
subscribes and gets only its own digest, with its own token; one uninstalls (its subscriptions and
queue are paused, never sent with its dead token) and the other goes on; installing again resumes.
"""

from __future__ import annotations

import asyncio
import html
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import pytest
from sqlalchemy import select

from bot.gateway import Gateway, seed_samples
from bot.settings import SettingsError, load_settings
from bot.store.models import InstallationRow, OutboxRow, SubscriptionRow
from bot.store.store import Store
from tests.conftest import SAMPLES
from tests.fakes import wait_for
from tests.fakes.slack import (
    FakeSlack,
    app_uninstalled_event,
    block_actions_body,
    event_body,
    home_opened_event,
    link_shared_event,
    signed_headers,
    slash_command_body,
    tokens_revoked_event,
)

SECRET = "oauth-e2e-signing-secret"


@dataclass
class Running:
    gateway: Gateway
    slack: FakeSlack
    http: aiohttp.ClientSession
    base: str
    db_url: str

    async def install(self, team: str) -> tuple[int, str]:
        """A person signed in to ``team`` adds the app from the install page, in a browser of
        their own (it keeps the state cookie); returns the redirect's status and page."""
        self.slack.browser_team = team
        async with aiohttp.ClientSession() as browser:
            async with browser.get(f"{self.base}/slack/install") as page:
                assert page.status == 200
                found = re.search(r'<a href="([^"]+)"><img alt="Add to Slack"', await page.text())
                # The state cookie is ``Secure``: a browser sends it back over HTTPS, as the
                # public URL is; this test's plain HTTP hands it back itself.
                cookie = page.cookies["slack-app-oauth-state"]
                assert cookie["secure"]
                assert cookie["httponly"]
            assert found is not None
            assert f"state={cookie.value}" in html.unescape(found.group(1))
            authorize = html.unescape(found.group(1))
            assert authorize.startswith(f"{self.slack.url}/oauth/v2/authorize?")
            async with browser.get(authorize, allow_redirects=False) as slack:
                assert slack.status == 302
                back = slack.headers["Location"]
            assert back.startswith(f"{self.base}/slack/oauth_redirect?code=")
            jar = {"Cookie": f"slack-app-oauth-state={cookie.value}"}
            async with browser.get(back, headers=jar) as done:
                return done.status, await done.text()

    async def post(self, body: str) -> int:
        headers = signed_headers(SECRET, body)
        async with self.http.post(f"{self.base}/slack/events", data=body, headers=headers) as r:
            return r.status

    async def say(self, team: str, text: str, *, user: str, channel: str = "C1") -> str:
        """A slash command typed in ``team``'s ``channel``; the answer's text."""
        url = self.slack.response_url()
        name, _, rest = text.partition(" ")
        body = slash_command_body(
            name, rest, response_url=url, channel_id=channel, user_id=user, team_id=team
        )
        assert await self.post(body) == 200
        url_id = url.rsplit("/", 1)[1]
        await wait_for(lambda: any(r.url_id == url_id for r in self.slack.responses), within=10)
        payload = next(r.payload for r in self.slack.responses if r.url_id == url_id)
        return str(payload)

    def rows(self, model: type, *columns: str) -> list[tuple[object, ...]]:
        store = Store.open(self.db_url, migrate=False)
        try:
            with store.engine.connect() as conn:
                cols = [getattr(model, c) for c in columns]
                return [tuple(r) for r in conn.execute(select(*cols).order_by(*cols)).all()]
        finally:
            store.close()

    def subscription(self, chat: str) -> int:
        ids = [i for i, c in self.rows(SubscriptionRow, "id", "chat_id") if c == chat]
        assert len(ids) == 1
        return int(ids[0])  # type: ignore[call-overload]

    async def run_digest(self, chat: str) -> None:
        """Make the subscription's run due now (its week's run), as the scheduler would."""
        sub = self.subscription(chat)
        await wait_for(
            lambda: (s := self.gateway.scheduler) is not None and s.job(sub) is not None,
            within=15,
        )
        scheduler = self.gateway.scheduler
        assert scheduler is not None
        job = scheduler.job(sub)
        assert job is not None
        await asyncio.to_thread(job.modify, next_run_time=datetime.now(UTC))


def _env(sl: FakeSlack, db_url: str) -> dict[str, str]:
    return {
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_SLACK_CLIENT_ID": sl.client_id,
        "DIGESTBOT_SLACK_CLIENT_SECRET": sl.client_secret,
        "DIGESTBOT_SLACK_SIGNING_SECRET": SECRET,
        "DIGESTBOT_SLACK_API_URL": sl.api_url,
        "DIGESTBOT_SLACK_AUTHORIZE_URL": f"{sl.url}/oauth/v2/authorize",
        "DIGESTBOT_SLACK_CHANNEL_INTERVAL": "0",
        # A week's run made due by hand, any day of the week, is still on time.
        "DIGESTBOT_MISFIRE_GRACE_HOURS": "200",
        "DIGESTBOT_HTTP_HOST": "127.0.0.1",
        "DIGESTBOT_HTTP_PORT": "0",
        # A bot admin everywhere (the bare id), and one of T2 only.
        "DIGESTBOT_ADMINS": "slack:UGLOBAL,slack:T2:UHELPER",
    }


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[Running]:
    async with FakeSlack() as sl:
        sl.add_workspace("T1", "Acme", installer="U1BOSS")
        sl.add_workspace("T2", "Globex", installer="U2BOSS")
        store = Store.open(sqlite_url)
        seed_samples(store)
        store.close()
        gateway = Gateway(load_settings(env=_env(sl, sqlite_url)), stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        await wait_for(
            lambda: (
                gateway.http is not None
                and gateway.http.port != 0
                and bool(gateway.channels)
                and all(c.connected() for c in gateway.channels)
                and gateway.outbox is not None
            ),
            within=30,
        )
        assert gateway.http is not None
        base = f"http://127.0.0.1:{gateway.http.port}"
        sl.redirect_url = f"{base}/slack/oauth_redirect"  # as the app's configuration says
        async with aiohttp.ClientSession() as http:
            yield Running(gateway, sl, http, base, sqlite_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


async def test_two_workspaces_install_subscribe_and_get_only_their_own_digest(
    running: Running,
) -> None:
    sl = running.slack
    for team in ("T1", "T2"):
        status, page = await running.install(team)
        assert status == 200, page
    assert running.rows(InstallationRow, "workspace", "installer", "bot_token", "active") == [
        ("T1", "U1BOSS", "xoxb-T1-1", True),
        ("T2", "U2BOSS", "xoxb-T2-1", True),
    ]

    # The same channel id in both workspaces: still two chats, each with its own subscription.
    assert "clay" in (await running.say("T1", "/subscribe clay", user="U1MEMBER")).lower()
    assert "hands" in (await running.say("T2", "/subscribe hands", user="U2MEMBER")).lower()
    assert running.rows(SubscriptionRow, "chat_id", "theme") == [
        ("T1:C1", "clay"),
        ("T2:C1", "hands"),
    ]
    # /subscriptions shows each workspace its own.
    one = await running.say("T1", "/subscriptions", user="U1MEMBER")
    assert "Clay" in one
    assert "Hands" not in one

    await running.run_digest("T1:C1")
    await running.run_digest("T2:C1")
    await wait_for(lambda: sl.posted_in("T1") and sl.posted_in("T2"), within=20)
    await asyncio.sleep(0.5)  # anything else would have gone out by now
    acme, globex = sl.posted_in("T1"), sl.posted_in("T2")
    assert {(p.channel, p.token) for p in acme} == {("C1", "xoxb-T1-1")}
    assert {(p.channel, p.token) for p in globex} == {("C1", "xoxb-T2-1")}
    assert "Clay" in acme[0].text
    assert "Hands" not in acme[0].text
    assert "Hands" in globex[0].text
    assert "Clay" not in globex[0].text
    assert len(sl.sent) == len(acme) + len(globex)  # nothing went with the default token

    # The Home tab lists its own workspace's subscriptions, published with its token.
    sl.join("C1", "U1MEMBER")  # the Home tab shows the conversations its opener is in
    assert await running.post(event_body(home_opened_event("U1MEMBER"), "EvHome1", "T1")) == 200
    await wait_for(lambda: sl.views, within=10)
    view = sl.views[-1]
    assert view["team"] == "T1"
    assert view["user_id"] == "U1MEMBER"
    shown = str(view["view"]["blocks"])
    assert "Clay" in shown
    assert "Hands" not in shown


async def test_the_installer_is_a_bot_admin_of_their_workspace_only(running: Running) -> None:
    for team in ("T1", "T2"):
        assert (await running.install(team))[0] == 200
    await running.say("T2", "/subscribe hands", user="U2MEMBER")

    # /status is for bot admins: the installer of T1 is one in T1, a member is not.
    refused = await running.say("T1", "/digestbot status", user="U1MEMBER")
    assert "bot admins only" in refused
    own = await running.say("T1", "/digestbot status", user="U1BOSS")
    assert "Delivery status" in own
    # T2's installer is nobody in T1 (and the same user id there is another person).
    assert "bot admins only" in await running.say("T1", "/digestbot status", user="U2BOSS")
    assert "Delivery status" in await running.say("T2", "/digestbot status", user="U2BOSS")
    # DIGESTBOT_ADMINS: a bare id in every workspace, a TEAM:USER one in its workspace only.
    assert "Delivery status" in await running.say("T1", "/digestbot status", user="UGLOBAL")
    assert "Delivery status" in await running.say("T2", "/digestbot status", user="UHELPER")
    assert "bot admins only" in await running.say("T1", "/digestbot status", user="UHELPER")


async def test_presses_and_uploads_are_answered_with_their_workspace_token(
    running: Running,
) -> None:
    sl = running.slack
    for team in ("T1", "T2"):
        assert (await running.install(team))[0] == 200

    # A button pressed in T2: its answer is a new message there, with T2's token.
    press = block_actions_body(
        "/themes", response_url=sl.response_url(), channel="C7", user="U2MEMBER", team_id="T2"
    )
    assert await running.post(press) == 200
    await wait_for(lambda: sl.sent, within=10)
    assert [(p.team, p.channel, p.token) for p in sl.sent] == [("T2", "C7", "xoxb-T2-1")]

    # A link to an item pasted in T1 unfurls with T1's token.
    link = link_shared_event("https://arxiv.org/abs/2511.10643", channel="C3", user="U1MEMBER")
    assert await running.post(event_body(link, "EvLink1", "T1")) == 200
    await wait_for(lambda: sl.unfurls, within=10)
    assert [(u["__team"], u["channel"]) for u in sl.unfurls] == [("T1", "C3")]
    assert sl.unfurls[0]["__token"] == "xoxb-T1-1"

    # An upload: the installer of T1 is a bot admin there, so the file is fetched (with T1's
    # token) and ingested; the same from a member of T1 is refused without a download.
    report = (SAMPLES / "2026-02.md").read_bytes()
    shared = sl.file_share_event("2026-02.md", report, channel="D1", user="U1BOSS")
    assert await running.post(event_body(shared, "EvUp1", "T1")) == 200
    await wait_for(lambda: sl.posted_in("T1"), within=15)
    answer = sl.posted_in("T1")[0]
    assert (answer.channel, answer.token) == ("D1", "xoxb-T1-1")
    assert "2026-02" in str(answer.blocks) + answer.text
    assert len(sl.downloads) == 1
    refused = sl.file_share_event("2026-02.md", report, channel="D2", user="U1MEMBER")
    assert await running.post(event_body(refused, "EvUp2", "T1")) == 200
    await wait_for(lambda: len(sl.posted_in("T1")) >= 2, within=15)
    assert "Only bot admins" in sl.posted_in("T1")[1].text + str(sl.posted_in("T1")[1].blocks)
    assert len(sl.downloads) == 1


async def test_an_uninstall_pauses_that_workspace_the_other_goes_on_and_reinstall_resumes(
    running: Running,
) -> None:
    sl = running.slack
    for team in ("T1", "T2"):
        assert (await running.install(team))[0] == 200
    await running.say("T1", "/subscribe clay", user="U1MEMBER")
    await running.say("T2", "/subscribe hands", user="U2MEMBER")

    # T2's digest cannot get through yet (Slack answers ok: false, service_unavailable): it waits.
    sl.fail_next("chat.postMessage", "service_unavailable", times=1000)
    await running.run_digest("T2:C1")
    await wait_for(
        lambda: any(
            c == "T2:C1" and attempts >= 1
            for c, attempts in running.rows(OutboxRow, "chat_id", "attempts")
        ),
        within=20,
    )

    # T2 removes the app: Slack revokes its token, then tells the gateway.
    sl.uninstall("T2")
    assert await running.post(event_body(app_uninstalled_event(), "EvGone2", "T2")) == 200
    await wait_for(
        lambda: ("T2", False) in running.rows(InstallationRow, "workspace", "active"), within=10
    )
    assert running.rows(SubscriptionRow, "chat_id", "active", "deactivated_reason") == [
        ("T1:C1", True, None),
        ("T2:C1", False, "workspace uninstalled"),
    ]
    assert running.rows(OutboxRow, "chat_id", "status") == [("T2:C1", "suspended")]
    sl.faults.clear()

    # T1 goes on: its digest arrives, with its own token.
    await running.run_digest("T1:C1")
    await wait_for(lambda: sl.posted_in("T1"), within=20)
    assert {p.token for p in sl.posted_in("T1")} == {"xoxb-T1-1"}
    # …and its /status counts its own chats only (T2's paused subscription is not there).
    status = await running.say("T1", "/digestbot status", user="U1BOSS")
    assert "Deactivated: 0 chats, 0 subscriptions" in status
    await asyncio.sleep(1.0)  # the worker's polls find nothing of T2's to send
    assert sl.posted_in("T2") == []
    assert sl.dead_token_calls == []  # nothing was tried with the revoked token

    # T2 installs again: its subscription and its queued digest resume, with the new token.
    assert (await running.install("T2"))[0] == 200
    await wait_for(lambda: sl.posted_in("T2"), within=20)
    assert {(p.channel, p.token) for p in sl.posted_in("T2")} == {("C1", "xoxb-T2-2")}
    assert "Hands" in sl.posted_in("T2")[0].text
    assert ("T2:C1", True) in running.rows(SubscriptionRow, "chat_id", "active")
    assert sl.dead_token_calls == []


async def test_revoked_bot_tokens_pause_the_workspace_but_revoked_user_tokens_do_not(
    running: Running,
) -> None:
    assert (await running.install("T1"))[0] == 200
    await running.say("T1", "/subscribe clay", user="U1MEMBER")
    users_only = event_body(tokens_revoked_event(bot=(), oauth=("U1MEMBER",)), "EvRev1", "T1")
    assert await running.post(users_only) == 200
    await asyncio.sleep(0.3)
    assert running.rows(InstallationRow, "workspace", "active") == [("T1", True)]

    running.slack.uninstall("T1")
    assert await running.post(event_body(tokens_revoked_event(), "EvRev2", "T1")) == 200
    await wait_for(
        lambda: running.rows(InstallationRow, "workspace", "active") == [("T1", False)],
        within=10,
    )
    assert running.rows(SubscriptionRow, "chat_id", "active") == [("T1:C1", False)]


async def test_an_install_without_its_state_or_with_a_used_one_is_refused(
    running: Running,
) -> None:
    sl = running.slack
    sl.browser_team = "T1"
    # Straight to Slack's page with a made-up state, no cookie: the redirect is refused.
    url = f"{sl.url}/oauth/v2/authorize?state=made-up&client_id={sl.client_id}&scope=commands"
    async with running.http.get(url, allow_redirects=False) as slack:
        back = slack.headers["Location"]
    async with running.http.get(back) as refused:
        assert refused.status in (400, 401)
    assert running.rows(InstallationRow, "workspace") == []
    assert sl.tokens == {}  # the code was never exchanged


def test_oauth_settings_are_checked_together() -> None:
    base = {"DIGESTBOT_SLACK_SIGNING_SECRET": "s", "DIGESTBOT_DATABASE_URL": "sqlite:///x.db"}
    with pytest.raises(SettingsError, match="CLIENT_ID and DIGESTBOT_SLACK_CLIENT_SECRET go"):
        load_settings(env=base | {"DIGESTBOT_SLACK_CLIENT_ID": "1.2"})
    with pytest.raises(SettingsError, match="cannot go with DIGESTBOT_SLACK_BOT_TOKEN"):
        load_settings(
            env=base
            | {
                "DIGESTBOT_SLACK_CLIENT_ID": "1.2",
                "DIGESTBOT_SLACK_CLIENT_SECRET": "c",
                "DIGESTBOT_SLACK_BOT_TOKEN": "xoxb-1",
            }
        )
    with pytest.raises(SettingsError, match="needs DIGESTBOT_SLACK_SIGNING_SECRET"):
        load_settings(
            env={
                "DIGESTBOT_SLACK_CLIENT_ID": "1.2",
                "DIGESTBOT_SLACK_CLIENT_SECRET": "c",
                "DIGESTBOT_DATABASE_URL": "sqlite:///x.db",
            }
        )
    settings = load_settings(
        env=base | {"DIGESTBOT_SLACK_CLIENT_ID": "1.2", "DIGESTBOT_SLACK_CLIENT_SECRET": "c"}
    )
    assert [s.name for s in settings.platforms()] == ["slack"]
    assert "c" in settings.secrets()
