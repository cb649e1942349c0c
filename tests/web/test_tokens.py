"""Personal feed links: ``/feeds`` in chat, links that outlive any expiry, revoked in chat or CLI."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from bot.commands.dispatch import Dispatcher
from bot.commands.services import Services
from bot.settings import load_settings
from bot.store.store import Store
from bot.store.webtokens import person_token
from bot.web.links import WebLinks
from channels.base import Incoming
from digests.message import BulletList, Message
from tests.web.conftest import Site, serve
from tests.web.site import REPO, SECRET, fill

ADMIN = "900"


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[tuple[Site, Dispatcher]]:
    """The web face and a dispatcher over the same database, with telegram:900 a bot admin."""
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    fill(url)
    async for site in serve(url):
        store = Store.open(url)
        services = Services.from_settings(site.settings, store)
        services.admins = frozenset({("telegram", ADMIN)})
        try:
            yield site, Dispatcher(services)
        finally:
            store.close()


async def say(core: Dispatcher, text: str, user: str = "7", kind: str = "private") -> Message:
    reply = await core.on_command(
        Incoming(platform="telegram", chat_id=user, user_id=user, text=text, chat_kind=kind)
    )
    assert isinstance(reply, Message)
    return reply


def urls(message: Message) -> list[str]:
    return [
        span.url
        for block in message.blocks
        if isinstance(block, BulletList)
        for row in block.items
        for span in row
        if span.url
    ]


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


async def test_feeds_gives_links_that_never_expire_and_open_pages(
    web: tuple[Site, Dispatcher],
) -> None:
    site, core = web
    reply = await say(core, "/feeds")
    links = urls(reply)
    assert any("/web/feeds/all.atom?token=" in u for u in links)
    assert any("/web/feeds/clay.atom?token=" in u for u in links)
    assert any("/web/feeds/themes.opml?token=" in u for u in links)
    assert "exp=" not in " ".join(links)
    assert "/feeds revoke" in reply.plain()
    # The same person gets the same link again; another person another one.
    assert urls(await say(core, "/feeds")) == links
    other = urls(await say(core, "/feeds", user="8"))
    assert token_of(other[0]) != token_of(links[0])
    # Years later the link still opens, and so do the entries' pages it links.
    later = dataclasses.replace(site.links, clock=lambda: site.links.clock() + 5 * 365 * 86400)
    assert later.check("/web/", str(site.links.expiry()), "x") is None  # signed links are gone
    feed_url = next(u for u in links if "/web/feeds/clay.atom" in u)
    status, body, _ = await site.fetch(feed_url)
    assert status == 200
    feed = feedparser.parse(body)
    assert feed.bozo == 0
    entry_link = feed.entries[0].link
    assert "token=" in entry_link
    assert "exp=" not in entry_link
    status, page, _ = await site.fetch(entry_link)
    assert status == 200
    assert "token=" in page  # the page's own links carry the token on
    status, opml, resp = await site.fetch(next(u for u in links if "themes.opml" in u))
    assert status == 200
    assert resp.content_type == "text/x-opml"
    assert 'xmlUrl="' in opml
    assert "clay.atom?token=" in opml


async def test_a_personal_link_is_asked_for_in_a_direct_chat(web: tuple[Site, Dispatcher]) -> None:
    _site, core = web
    reply = await say(core, "/feeds", kind="supergroup")
    assert not urls(reply)
    assert "direct chat" in reply.plain()


async def test_revoked_and_forged_tokens_get_403(web: tuple[Site, Dispatcher]) -> None:
    site, core = web
    links = urls(await say(core, "/feeds"))
    feed_url = links[0]
    assert (await site.fetch(feed_url))[0] == 200
    token = token_of(feed_url)
    token_id, _, mac = token.partition(".")
    for forged in (f"{token_id}.{mac[:-2]}AA", f"{token_id}x.{mac}", token_id, "é.é", "."):
        status, body, _ = await site.fetch(feed_url.replace(token, forged))
        assert status == 403, forged
        assert "<feed" not in body
    # The token made with another secret is refused too.
    other = WebLinks(site.links.public_url, b"another-secret-0123456789")
    assert (await site.fetch(feed_url.replace(token, other.token_value(token_id))))[0] == 403
    reply = await say(core, "/feeds revoke")
    assert "no longer works" in reply.plain()
    status, body, _ = await site.fetch(feed_url)
    assert status == 403
    assert body.startswith("403 Forbidden")
    assert "no feed link" in (await say(core, "/feeds revoke")).plain()
    # A new /feeds is a new token; the old stays dead.
    fresh = urls(await say(core, "/feeds"))[0]
    assert token_of(fresh) != token
    assert (await site.fetch(fresh))[0] == 200
    assert (await site.fetch(feed_url))[0] == 403


async def test_admins_list_and_revoke_anyones_token(web: tuple[Site, Dispatcher]) -> None:
    site, core = web
    feed_url = urls(await say(core, "/feeds", user="7"))[0]
    token_id = token_of(feed_url).split(".")[0]
    assert (await site.fetch(feed_url))[0] == 200
    # Not an admin: neither the list nor someone else's token.
    refused = await say(core, "/feeds tokens", user="8")
    assert "admins" in refused.plain()
    assert token_id not in refused.plain()
    assert "admins" in (await say(core, f"/feeds revoke {token_id}", user="8")).plain()
    assert (await site.fetch(feed_url))[0] == 200
    listed = (await say(core, "/feeds tokens", user=ADMIN)).plain()
    assert token_id in listed
    assert "telegram:7" in listed
    assert "last used" in listed  # the fetch above was noted
    assert "No feed link has the id" in (await say(core, "/feeds revoke zzz", user=ADMIN)).plain()
    done = (await say(core, f"/feeds revoke {token_id}", user=ADMIN)).plain()
    assert "Revoked" in done
    assert "telegram:7" in done
    assert (await site.fetch(feed_url))[0] == 403
    assert token_id not in (await say(core, "/feeds tokens", user=ADMIN)).plain()


def _cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env |= {
        "DIGESTBOT_DATABASE_URL": db_url,
        "DIGESTBOT_PUBLIC_URL": "https://bot.example.com",
        "DIGESTBOT_WEB_SECRET": SECRET,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "web", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_operators_get_a_signed_link_and_manage_tokens_from_the_cli(sqlite_url: str) -> None:
    links = WebLinks("https://bot.example.com", SECRET.encode())
    done = _cli(sqlite_url, "link")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith("https://bot.example.com/web/?exp=")
    path, _, query = url.removeprefix(links.public_url).partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    exp = links.check(path, params["exp"], params["sig"])
    assert exp is not None
    assert abs(exp - links.clock() - 30 * 86400) < 120  # DIGESTBOT_WEB_LINK_DAYS by default
    done = _cli(sqlite_url, "link", "/web/feeds/clay.atom", "--days", "2")
    feed = done.stdout.strip()
    path, _, query = feed.removeprefix(links.public_url).partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    assert path == "/web/feeds/clay.atom"
    assert abs(int(params["exp"]) - links.clock() - 2 * 86400) < 120
    # A page with a query and a Chinese name: the link opens that page (checked as served).
    search = _cli(sqlite_url, "link", "/web/search?q=蒸馏").stdout.strip()
    path, _, query = search.removeprefix(links.public_url).partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    assert path == "/web/search"
    assert params["q"] == "%E8%92%B8%E9%A6%8F"
    topic = _cli(sqlite_url, "link", "web/items/topic/蒸馏").stdout.strip()
    path, _, query = topic.removeprefix(links.public_url).partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    assert path == "/web/items/topic/%E8%92%B8%E9%A6%8F"
    assert links.check(path, params["exp"], params["sig"]) is not None
    bad = _cli(sqlite_url, "link", "/etc/passwd")
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert "paths start with /web/" in bad.stderr
    assert _cli(sqlite_url, "link", "--days", "-1").returncode == 1
    # Tokens: made in chat, listed and revoked here.
    store = Store.open(sqlite_url)
    try:
        with store.engine.begin() as conn:
            token = person_token(conn, "slack", "U1", datetime.now(UTC))
    finally:
        store.close()
    listed = _cli(sqlite_url, "tokens")
    assert token.id in listed.stdout
    assert "slack:U1" in listed.stdout
    gone = _cli(sqlite_url, "revoke", token.id)
    assert gone.returncode == 0
    assert token.id not in _cli(sqlite_url, "tokens").stdout
    missing = _cli(sqlite_url, "revoke", token.id)
    assert missing.returncode == 1
    assert "no feed token" in missing.stderr


def test_the_cli_says_when_the_web_face_is_off(sqlite_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env["DIGESTBOT_DATABASE_URL"] = sqlite_url
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "web", "link"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 1
    assert "DIGESTBOT_PUBLIC_URL" in done.stderr
    assert load_settings(env={}).public_url is None


async def test_with_public_access_feeds_need_no_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'public.db'}"
    fill(url)
    async for site in serve(url, "public"):
        store = Store.open(url)
        try:
            core = Dispatcher(Services.from_settings(site.settings, store))
            reply = await say(core, "/feeds", kind="supergroup")  # nothing personal: any chat
            links = urls(reply)
            assert links
            assert not any("token=" in u or "sig=" in u for u in links)
            assert "/feeds revoke" not in reply.plain()
            assert (await site.fetch(links[0]))[0] == 200
            assert "no feed link" in (await say(core, "/feeds revoke")).plain()
        finally:
            store.close()


async def test_without_the_web_face_feeds_says_so(sqlite_url: str) -> None:
    fill(sqlite_url)
    store = Store.open(sqlite_url)
    try:
        core = Dispatcher(Services(store=store))
        reply = (await say(core, "/feeds")).plain()
        assert "no web pages or feeds" in reply
    finally:
        store.close()
