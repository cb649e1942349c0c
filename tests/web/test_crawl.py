"""No dead link, readable for everyone: the whole web face crawled in Chromium, checked by axe-core.

The crawl starts at the archive and follows every internal link of every page it reaches (pages,
items of every kind, themes and their pages, search, the stylesheet, the feeds and the OPML, and
each feed's entry links); every one must answer 200, and every ``#fragment`` must name an element
of its page. axe-core (the npm package in ``tests/web/node``, injected into the page) checks the
archive, a report, an item and a search, in the light and the dark scheme. Skipped (with the
reason) where Chromium, Playwright or axe-core is missing; CI installs all three.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit
from xml.etree import ElementTree

import feedparser
import pytest

from bot.store.store import Store
from bot.store.webtokens import person_token
from bot.web.links import WebLinks
from tests.web.browser import AXE, axe_missing, browser_page, missing
from tests.web.conftest import HOSTILE
from tests.web.site import SEED, fill, free_port, running_gateway, web_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(missing() is not None, reason=missing() or ""),
]

LINKS_OF_PAGE = """() => [
  ...Array.from(document.querySelectorAll('a[href], link[href]'), e => e.href),
  ...Array.from(document.querySelectorAll('img[src]'), e => e.src),
]"""


@dataclass
class Served:
    links: WebLinks
    url: str  # the database's


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    url = f"sqlite:///{tmp_path / 'crawl.db'}"
    fill(url, HOSTILE)
    settings = web_settings(url, free_port())
    made = WebLinks.from_settings(settings)
    assert made is not None
    async with running_gateway(settings):
        yield Served(made, url)


@pytest.fixture
def links(served: Served) -> WebLinks:
    return served.links


def _feed_links(body: bytes) -> list[str]:
    if body.lstrip().startswith(b"<?xml") and b"<opml" in body[:200]:
        root = ElementTree.fromstring(body)
        return [
            url
            for outline in root.iter("outline")
            for url in (outline.get("xmlUrl"), outline.get("htmlUrl"))
            if url
        ]
    feed = feedparser.parse(body)
    assert feed.bozo == 0, feed.get("bozo_exception")
    found = [link.href for link in feed.feed.get("links", [])]
    for entry in feed.entries:
        found.extend(link.href for link in entry.get("links", []))
    return found


@pytest.mark.parametrize("access", ["signed", "token"])
async def test_every_internal_link_of_every_page_opens(served: Served, access: str) -> None:
    """From a signed link to the archive, and from a personal feed link (whose pages carry the
    token on): every link reached opens, and none falls back to a signature."""
    links = served.links
    origin = links.public_url
    token = None
    if access == "token":
        store = Store.open(served.url)
        try:
            with store.engine.begin() as conn:
                token = links.token_value(person_token(conn, "telegram", "7", datetime.now(UTC)).id)
        finally:
            store.close()
    seeds = [
        links.url("/web/feeds/all.atom", token=token) if token else links.url("/web/"),
        links.url("/web/search", token=token, q="glm"),
        links.url("/web/search", token=token, q="蒸馏"),
    ]
    queue = list(seeds)
    seen = set(seeds)
    fragments: dict[str, set[str]] = {}  # page URL -> the ids links expect on it
    referrer: dict[str, str] = {}
    ids_of: dict[str, set[str]] = {}
    kinds: set[str] = set()
    async with browser_page(origin, 1280) as page:
        while queue:
            url = queue.pop(0)
            path = urlsplit(url).path
            if path.startswith("/web/feeds/") or path.startswith("/web/static/"):
                response = await page.request.get(url)
                assert response.status == 200, (url, referrer.get(url))
                found = _feed_links(await response.body()) if "/feeds/" in path else []
            else:
                response = await page.goto(url, wait_until="domcontentloaded")
                assert response is not None
                assert response.status == 200, (url, referrer.get(url))
                found = await page.evaluate(LINKS_OF_PAGE)
                ids_of[url] = set(
                    await page.evaluate("Array.from(document.querySelectorAll('[id]'), e => e.id)")
                )
                if path.startswith("/web/items/"):
                    kinds.add(path.split("/")[3])
            for href in found:
                target, fragment = urldefrag(href)
                if not target.startswith(origin + "/"):
                    continue  # another host: the report's sources and figures
                if fragment:
                    fragments.setdefault(target, set()).add(fragment)
                if target not in seen:
                    if token is not None and "/web/static/" not in target:
                        assert f"token={token}" in target, (target, url)
                        assert "exp=" not in target
                    seen.add(target)
                    referrer[target] = url
                    queue.append(target)
    assert kinds >= {"model", "paper", "topic", "insight", "radar"}
    pages = [u for u in seen if "/web/feeds/" not in u]
    assert len(pages) >= 40
    assert any("/web/feeds/themes.opml" in u for u in seen)
    dead = sorted(
        f"{target}#{fragment}"
        for target, wanted in fragments.items()
        if target in ids_of
        for fragment in wanted
        if fragment not in ids_of[target]
    )
    assert not dead, dead[:10]


async def _violations(page: Any) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:3]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.skipif(axe_missing() is not None, reason=axe_missing() or "")
@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_pages_have_no_serious_accessibility_violation(links: WebLinks, scheme: str) -> None:
    report = "2026-01" if SEED.exists() else "2026-02"
    pages = {
        "archive": links.url("/web/"),
        "report": links.url(f"/web/reports/{report}"),
        "item": links.url("/web/items/model/kimik2thinking"),
        "insight": links.url("/web/items/insight/crucialinsight"),
        "search": links.url("/web/search", q="glm"),
        "theme": links.url("/web/themes/clay"),
    }
    found = {}
    async with browser_page(links.public_url, 1280, bypass_csp=True) as page:
        await page.emulate_media(color_scheme=scheme)
        for name, url in pages.items():
            response = await page.goto(url)
            assert response is not None
            assert response.status == 200
            violations = await _violations(page)
            if violations:
                found[name] = violations
    assert not found, found


async def test_the_dark_scheme_is_dark(links: WebLinks) -> None:
    colours = {}
    async with browser_page(links.public_url, 1280) as page:
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            await page.goto(links.url("/web/reports/2026-02"))
            colours[scheme] = await page.evaluate(
                "[getComputedStyle(document.body).backgroundColor,"
                " getComputedStyle(document.body).color]"
            )
    light_bg, dark_bg = (_luminance(colours[s][0]) for s in ("light", "dark"))
    assert light_bg > 0.8
    assert dark_bg < 0.1
    assert _luminance(colours["dark"][1]) > 0.6  # light text on it


def _luminance(css: str) -> float:
    r, g, b = (int(x) / 255 for x in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_axe_core_is_where_ci_puts_it() -> None:
    lock = Path(__file__).with_name("node") / "package-lock.json"
    assert lock.exists()
    assert '"axe-core"' in lock.read_text()
