"""Pages and feeds cheap to poll (conditional GETs, gzip), faithful text, and odd signatures."""

from __future__ import annotations

import gzip
import re
from html import unescape
from pathlib import Path

import aiohttp
import pytest

from bot.store.ingest import ingest_file
from bot.store.store import Store
from tests.web.conftest import Site, serve
from tests.web.site import SAMPLES, fill

PATHS = ["/web/", "/web/reports/2026-02", "/web/items/insight/crucialinsight", "/web/themes/clay"]
FEEDS = ["/web/feeds/all.atom", "/web/feeds/clay.rss", "/web/feeds/themes.opml"]


async def test_the_report_page_reads_text_as_chat_does(site: Site) -> None:
    status, html, _ = await site.get("/web/reports/2030-01")
    assert status == 200
    assert "math A → B and P[Love]" in html  # LaTeX read as Unicode, as in chat
    assert "$\\rightarrow$" not in html
    assert "a price of $5 and $10" in html  # prices are no math
    assert "hidden marks in redrow-versed and isolate" in html  # bidi and zero-width dropped
    for mark in ("\u202e", "\u202c", "\u200b", "\u2066", "\u2069"):
        assert mark not in html
    assert "👨\u200d💻" in html  # an emoji's joiner stays


@pytest.mark.parametrize("path", PATHS + FEEDS + ["/web/search?q=glm"])
async def test_a_conditional_get_of_an_unchanged_page_is_304(site: Site, path: str) -> None:
    path, _, q = path.partition("?q=")
    url = site.links.url(path, **({"q": q} if q else {}))
    async with site.http.get(url) as resp:
        assert resp.status == 200
        etag, modified = resp.headers["ETag"], resp.headers["Last-Modified"]
        assert etag.startswith('W/"')
        assert resp.headers["Cache-Control"] == "private, no-cache"
        body = await resp.read()
    assert body
    async with site.http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
        assert resp.headers["ETag"] == etag
        assert await resp.read() == b""
        assert resp.headers["Content-Security-Policy"]
    async with site.http.get(url, headers={"If-Modified-Since": modified}) as resp:
        assert resp.status == 304
    # A stale ETag gets the whole page again; so does another link to the same page.
    async with site.http.get(url, headers={"If-None-Match": 'W/"old"'}) as resp:
        assert resp.status == 200
        assert await resp.read() == body
    async with site.http.get(
        url, headers={"If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}
    ) as r:
        assert r.status == 200


async def test_a_change_of_the_data_makes_pages_and_feeds_new(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'poll.db'}"
    fill(url)
    async for site in serve(url):
        links = {p: site.links.url(p) for p in PATHS + FEEDS}
        tags = {}
        for path, link in links.items():
            async with site.http.get(link) as resp:
                tags[path] = resp.headers["ETag"]
        changed = tmp_path / "2026-02.md"
        changed.write_text(
            (SAMPLES / "2026-02.md").read_text().replace("三种思考模式", "四种思考模式", 1)
        )
        store = Store.open(url)
        try:
            ingest_file(store, changed, 5 * 1024 * 1024, "test")
        finally:
            store.close()
        for path, link in links.items():
            async with site.http.get(link, headers={"If-None-Match": tags[path]}) as resp:
                assert resp.status == 200, path
                assert resp.headers["ETag"] != tags[path]


async def test_pages_and_feeds_are_gzipped_for_clients_that_take_it(site: Site) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as raw:
        for path in ("/web/reports/2026-02", "/web/feeds/all.atom", "/web/"):
            url = site.links.url(path)
            async with raw.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Encoding"] == "gzip"
                assert "Accept-Encoding" in resp.headers["Vary"]
                packed = await resp.read()
            async with raw.get(url, headers={"Accept-Encoding": "identity"}) as resp:
                assert "Content-Encoding" not in resp.headers
                plain = await resp.read()
            assert gzip.decompress(packed) == plain
            assert len(packed) < len(plain) / 2
        async with raw.get(
            site.base + "/web/static/web.css", headers={"Accept-Encoding": "gzip"}
        ) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            etag = r.headers["ETag"]
        async with raw.get(site.base + "/web/static/web.css", headers={"If-None-Match": etag}) as r:
            assert r.status == 304


@pytest.mark.parametrize(
    "query",
    [
        "exp=%C2%B2&sig=x",  # ², which str.isdigit takes and int() refuses
        "exp=%D9%A3&sig=x",  # an Arabic-Indic 3
        "exp=9999999999&sig=%C3%A9",  # é: compare_digest raises on non-ASCII text
        "exp=9999999999&sig=" + "%F0%9F%98%80" * 10,
        "token=%C3%A9.%C3%A9",
        "token=abc.%C3%A9",
        "token=" + "a" * 500,
    ],
)
async def test_odd_signatures_are_a_clean_403(site: Site, query: str) -> None:
    for path in ("/web/", "/web/feeds/all.atom"):
        status, body, resp = await site.fetch(f"{site.base}{path}?{query}")
        assert status == 403, (path, query)
        assert body.startswith("403 Forbidden")
        assert "Traceback" not in body
        assert resp.headers["Cache-Control"] == "no-store"


async def test_an_odd_page_number_is_a_clean_400(site: Site) -> None:
    status, body, _ = await site.get("/web/themes/clay", page="²")
    assert status == 400
    assert "page must be a whole number" in body


async def test_every_item_links_a_place_of_its_report(site: Site) -> None:
    """Each item's page links its month's report at the row, bullet or line it was read from."""
    for path in (
        "/web/items/model/glm47",
        "/web/items/insight/crucialinsight",
        "/web/items/radar/industryradar",
    ):
        status, html, _ = await site.get(path)
        assert status == 200
        found = re.findall(r'href="([^"#]+/web/reports/[^"#]+)#(L\d+)"', html)
        assert found, path
        for link, anchor in found:
            status, report, _ = await site.fetch(unescape(link))
            assert status == 200
            assert f'id="{anchor}"' in report, (path, anchor)
    # Line marks are the report's alone: an item's own text carries none.
    status, html, _ = await site.get("/web/items/model/glm47")
    assert 'id="L' not in html
