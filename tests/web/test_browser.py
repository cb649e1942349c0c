"""The web face in a real browser: Debian's Chromium, driven by Playwright, against the gateway.

Skipped (with the reason) where /usr/bin/chromium or Playwright is missing; CI installs both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import feedparser
import pytest

from bot.web.links import WebLinks
from tests.web.browser import browser_page, missing
from tests.web.conftest import HOSTILE
from tests.web.site import SEED, fill, free_port, running_gateway, web_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(missing() is not None, reason=missing() or ""),
]

PHONE = 390


@pytest.fixture
async def links(tmp_path: Path) -> AsyncIterator[WebLinks]:
    """The real gateway serving the samples (and the real report, when here) on a free port."""
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    fill(url, HOSTILE)
    settings = web_settings(url, free_port())
    made = WebLinks.from_settings(settings)
    assert made is not None
    async with running_gateway(settings):
        yield made


async def test_archive_loads(links: WebLinks) -> None:
    async with browser_page(links.public_url, 1280) as page:
        response = await page.goto(links.url("/web/"))
        assert response is not None
        assert response.status == 200
        assert await page.title() == "Archive · digestbot"
        assert await page.locator("ul.archive li").count() >= 3
        await page.get_by_role("link", name="2026-02", exact=True).click()
        await page.wait_for_load_state()
        assert "/web/reports/2026-02" in page.url
        assert await page.locator("article.report table").count() >= 1


async def test_report_page_fits_a_phone(links: WebLinks) -> None:
    async with browser_page(links.public_url, PHONE, 844) as page:
        for period in ("2026-02", "2030-01", *(["2026-01"] if SEED.exists() else [])):
            response = await page.goto(links.url(f"/web/reports/{period}"))
            assert response is not None
            assert response.status == 200
            scroll = await page.evaluate(
                "[document.scrollingElement.scrollWidth, window.innerWidth]"
            )
            assert scroll[1] == PHONE
            assert scroll[0] <= scroll[1], f"{period}: {scroll[0]} px wide in a {PHONE} px screen"
        # Each table row is a card: its cells are stacked (as wide as the row), not side by side.
        await page.goto(links.url("/web/reports/2026-02"))
        row = page.locator("article.report tbody tr").first
        cells = row.locator("td")
        first, second = await cells.nth(0).bounding_box(), await cells.nth(1).bounding_box()
        assert first is not None
        assert second is not None
        assert second["y"] >= first["y"] + first["height"] - 1
        assert abs(second["x"] - first["x"]) < 2
        # The header is shown as each cell's label instead.
        label = await cells.nth(1).evaluate("td => getComputedStyle(td, '::before').content")
        assert "Mechanism" in label


async def test_no_script_runs_from_a_hostile_report(links: WebLinks) -> None:
    async with browser_page(links.public_url, 1280) as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))
        response = await page.goto(links.url("/web/reports/2030-01"))
        assert response is not None
        assert response.status == 200
        assert await page.locator("script").count() == 0
        assert "<script>alert('cell')</script>" in await page.locator("article.report").inner_text()
        await page.get_by_role("link", name="web", exact=True).hover()
        assert dialogs == []


async def test_item_links_with_chinese_names_open(links: WebLinks) -> None:
    """Percent-encoded CJK paths keep their signature through the browser."""
    async with browser_page(links.public_url, 1280) as page:
        await page.goto(links.url("/web/reports/2026-02"))
        hrefs = await page.locator("details.items a").evaluate_all(
            "anchors => anchors.map(a => a.href)"
        )
        chinese = [h for h in hrefs if "/web/items/topic/" in h and "%E" in h]
        assert len(chinese) >= 3
        for href in chinese:
            response = await page.goto(href)
            assert response is not None
            assert response.status == 200, href
            assert await page.locator("section.version").count() >= 1


async def test_search_form_finds_glm(links: WebLinks) -> None:
    async with browser_page(links.public_url, PHONE, 844) as page:
        await page.goto(links.url("/web/search"))
        await page.get_by_role("searchbox").fill("glm")
        await page.get_by_role("button", name="Search").click()
        await page.wait_for_load_state()
        assert "q=glm" in page.url
        result = page.locator("li.entry a.title", has_text="GLM-4.7").first
        await result.click()
        await page.wait_for_load_state()
        assert await page.locator("h1").inner_text() == "GLM-4.7"


async def test_a_feed_link_parses(links: WebLinks) -> None:
    async with browser_page(links.public_url, 1280) as page:
        await page.goto(links.url("/web/themes/clay"))
        href = await page.get_by_role("link", name="Atom").first.get_attribute("href")
        assert href is not None
        response = await page.request.get(href)
        assert response.status == 200
        feed = feedparser.parse(await response.body())
        assert feed.bozo == 0
        assert any(e.title.startswith("GLM-4.7") for e in feed.entries)


async def test_a_forged_signature_gets_403(links: WebLinks) -> None:
    async with browser_page(links.public_url, 1280) as page:
        good = links.url("/web/reports/2026-02")
        forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        response = await page.goto(forged)
        assert response is not None
        assert response.status == 403
        text = await page.locator("body").inner_text()
        assert text.startswith("403 Forbidden")
        assert "GLM" not in text
        assert "Clay" not in text
        response = await page.goto(links.public_url + "/web/")
        assert response is not None
        assert response.status == 403
