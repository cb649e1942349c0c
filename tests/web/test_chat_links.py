"""Cards and digests carry "Open on the web" when the web face is on, and those links open."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from bot.scheduling.scheduler import Scheduler
from bot.store.store import Store
from bot.web.links import WebLinks
from channels.console.render import render_console
from channels.telegram.render import render_telegram
from digests.message import WEB_LINK_TEXT, message_from_json
from tests.bot.test_scheduler import _minute, eventually, outbox, subscribe
from tests.web.conftest import serve
from tests.web.site import REPO, SECRET, fill

PUBLIC = "https://bot.example.com"


def _ask(db_url: str, text: str, fmt: str, web: bool) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}
    env["DIGESTBOT_DATABASE_URL"] = db_url
    if web:
        env |= {"DIGESTBOT_PUBLIC_URL": PUBLIC, "DIGESTBOT_WEB_SECRET": SECRET}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "ask", text, "--format", fmt],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_ask_puts_a_signed_link_on_the_card(sqlite_url: str) -> None:
    fill(sqlite_url)
    html = _ask(sqlite_url, "/model glm 4.7", "telegram", web=True)
    [href] = re.findall(rf'<a href="([^"]+)">{WEB_LINK_TEXT}</a>', html)
    url = unescape(href)
    assert url.startswith(f"{PUBLIC}/web/items/model/glm47?exp=")
    links = WebLinks(PUBLIC, SECRET.encode())
    path, _, query = url.removeprefix(PUBLIC).partition("?")
    params = dict(p.split("=", 1) for p in query.split("&"))
    assert links.check(path, params["exp"], params["sig"]) is not None
    assert WEB_LINK_TEXT in _ask(sqlite_url, "/search 蒸馏", "text", web=True)
    latest = _ask(sqlite_url, "/latest", "text", web=True)
    assert f"{WEB_LINK_TEXT} ({PUBLIC}/web/reports/2026-02?exp=" in latest
    assert WEB_LINK_TEXT not in _ask(sqlite_url, "/model glm 4.7", "text", web=False)


async def test_a_digest_links_its_theme_page_and_the_link_opens(sqlite_url: str) -> None:
    fill(sqlite_url)
    store = Store.open(sqlite_url)
    try:
        async for site in serve(sqlite_url):
            day, at, _missed = _minute(datetime.now(UTC), 30)
            subscribe(store, "clay", day=day, at=at, tz="UTC")
            # A run missed a moment ago is made when the scheduler starts.
            scheduler = Scheduler(store, web_url=site.links.theme_url)
            await scheduler.start()
            try:
                await eventually(lambda: bool(outbox(store)))
            finally:
                await scheduler.stop()
            [row] = outbox(store)
            message = message_from_json(row.message)
            assert message.web_url is not None
            assert message.web_url.startswith(site.base + "/web/themes/clay?exp=")
            assert f"{WEB_LINK_TEXT} ({message.web_url})" in render_console(message)
            last = render_telegram(message)[-1]
            assert f"{WEB_LINK_TEXT}</a>" in last  # on the last part of a long digest
            status, page, _ = await site.fetch(message.web_url)
            assert status == 200
            assert "/subscribe clay" in page
    finally:
        store.close()


async def test_a_scheduled_job_links_the_theme_page(sqlite_url: str) -> None:
    fill(sqlite_url)
    store = Store.open(sqlite_url)
    links = WebLinks(PUBLIC, SECRET.encode())
    try:
        day, at, _ = _minute(datetime.now(UTC), 0)
        # Subscribed after this minute's run time: only the job itself makes this run.
        sub = subscribe(store, "hands", day=day, at=at, tz="UTC", created=datetime.now(UTC))
        scheduler = Scheduler(store, web_url=links.theme_url)
        await scheduler.start()
        try:
            job = scheduler.job(sub)
            assert job is not None
            job.modify(next_run_time=datetime.now(UTC) + timedelta(seconds=0.3))
            await eventually(lambda: bool(outbox(store)))
        finally:
            await scheduler.stop()
        [row] = outbox(store)
        web_url = message_from_json(row.message).web_url
        assert web_url is not None
        assert web_url.startswith(f"{PUBLIC}/web/themes/hands?exp=")
    finally:
        store.close()
