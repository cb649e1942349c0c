"""Atom and RSS feeds, parsed by feedparser: valid, with stable ids, dates and working links."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path
from xml.etree import ElementTree

import feedparser
import pytest

from bot.store.ingest import ingest_file
from bot.store.store import Store
from tests.web.conftest import Site, serve
from tests.web.site import SAMPLES, fill


@pytest.mark.parametrize("fmt", ["atom", "rss"])
@pytest.mark.parametrize("theme", ["all", "clay", "hands"])
async def test_feeds_parse_and_their_links_open(site: Site, fmt: str, theme: str) -> None:
    status, body, resp = await site.get(f"/web/feeds/{theme}.{fmt}")
    assert status == 200
    assert resp.content_type == ("application/atom+xml" if fmt == "atom" else "application/rss+xml")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    feed = feedparser.parse(body)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == ("atom10" if fmt == "atom" else "rss20")
    assert 0 < len(feed.entries) <= 50
    ids = [e.id for e in feed.entries]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("tag:127.0.0.1,2026:item/") for i in ids)
    for entry in feed.entries:
        assert entry.title
        assert entry.link.startswith(site.base + "/web/items/")
        # Atom entries carry updated (and published); RSS items pubDate.
        assert entry.published_parsed if fmt == "rss" else entry.updated_parsed
        if theme != "all":
            assert entry.tags[0].term == theme
    periods = [e.id.split("/")[1] for e in feed.entries]
    assert periods == sorted(periods, reverse=True)  # newest month first
    status, page, _ = await site.fetch(feed.entries[0].link)
    assert status == 200
    assert f"<h1>{feed.entries[0].title.rsplit(' (', 1)[0]}</h1>" in html.unescape(page)


async def test_feed_ids_and_dates_do_not_depend_on_the_link(site: Site) -> None:
    """Two links with other expiries give the same ids and dates (links differ only by sig)."""
    later = dataclasses.replace(site.links, clock=lambda: site.links.clock() + 3600)
    exp = site.links.expiry()  # one expiry for both fetches (a second may pass between)
    first = feedparser.parse((await site.fetch(site.links.url("/web/feeds/clay.atom", exp)))[1])
    second = feedparser.parse((await site.fetch(later.url("/web/feeds/clay.atom")))[1])
    assert [e.id for e in first.entries] == [e.id for e in second.entries]
    assert [e.updated for e in first.entries] == [e.updated for e in second.entries]
    again = feedparser.parse((await site.fetch(site.links.url("/web/feeds/clay.atom", exp)))[1])
    assert [e.link for e in again.entries] == [e.link for e in first.entries]


async def test_unknown_feeds_are_404_and_unsigned_403(site: Site) -> None:
    assert (await site.get("/web/feeds/nosuchtheme.atom"))[0] == 404
    assert (await site.get("/web/feeds/clay.json"))[0] == 404
    status, body, _ = await site.fetch(site.base + "/web/feeds/all.atom")
    assert status == 403
    assert "<feed" not in body


@pytest.mark.parametrize("fmt", ["atom", "rss"])
async def test_feeds_follow_feed_readers_conventions(site: Site, fmt: str) -> None:
    status, body, _ = await site.get(f"/web/feeds/clay.{fmt}")
    assert status == 200
    feed = feedparser.parse(body)
    assert feed.bozo == 0
    # The channel links the page it mirrors (the theme's page), not the feed itself.
    assert feed.feed.link.startswith(site.base + "/web/themes/clay?")
    if fmt == "atom":
        assert '<content type="html">' in body
        assert feed.feed.author == "digestbot"
    for entry in feed.entries:
        assert entry.author == "digestbot"
        [content] = entry.content if fmt == "atom" else [entry.summary_detail]
        assert content.type == "text/html"
        value = content.value if fmt == "atom" else entry.summary
        assert "<" in value  # real markup a reader renders, not escaped text shown as is
        assert "&lt;a href" not in value
        # Dated by the report (no front matter date in the samples: the period's first day).
        period = entry.id.split("/")[1]
        published = entry.published_parsed
        assert f"{published.tm_year:04d}-{published.tm_mon:02d}" == period
        assert published.tm_mday == 1
        if fmt == "atom":
            assert entry.updated_parsed == published  # never changed since its upload


async def test_hostile_feed_content_is_sanitized_html(site: Site) -> None:
    status, body, _ = await site.get("/web/feeds/all.atom")
    assert status == 200
    feed = feedparser.parse(body)
    [evil] = [e for e in feed.entries if "Evil-Model" in e.title]
    # feedparser would strip scripts itself; read what we sent instead.
    raw = body.split("Evil-Model", 1)[1].split("</entry>", 1)[0]
    content = html.unescape(raw.split('<content type="html">', 1)[1].split("</content>", 1)[0])
    assert "<iframe" not in content
    assert "&lt;iframe" in content  # raw HTML of the report shown as text, as on the pages
    assert "javascript:" not in re.sub(r">[^<]*<", "><", content)
    assert evil.link.startswith(site.base + "/web/items/model/")


async def test_an_entry_is_updated_when_its_text_changed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'changed.db'}"
    fill(url)
    source = (SAMPLES / "2026-02.md").read_text()
    changed = tmp_path / "2026-02.md"
    changed.write_text(
        source.replace("type: Monthly Report\n", "date: 2026-03-02\n").replace(
            "三种思考模式", "四种思考模式", 1
        )
    )
    store = Store.open(url)
    try:
        ingest_file(store, changed, 5 * 1024 * 1024, "test")
    finally:
        store.close()
    async for s in serve(url):
        feed = feedparser.parse((await s.get("/web/feeds/clay.atom"))[1])
        glm = next(e for e in feed.entries if e.title.startswith("GLM-4.7"))
        other = next(e for e in feed.entries if e.id.split("/")[1] == "2026-02" and e is not glm)
        # The front matter's date dates the month's entries.
        assert glm.published.startswith("2026-03-02")
        assert other.published.startswith("2026-03-02")
        assert other.updated == other.published  # unchanged text: not updated
        assert glm.updated_parsed > glm.published_parsed  # its text changed after
        old = next(e for e in feed.entries if e.id.split("/")[1] == "2025-12")
        assert old.published.startswith("2025-12-01")


async def test_opml_lists_every_theme_feed(site: Site) -> None:
    status, body, resp = await site.get("/web/feeds/themes.opml")
    assert status == 200
    assert resp.content_type == "text/x-opml"
    root = ElementTree.fromstring(body)
    outlines = root.findall("./body/outline")
    slugs = {o.get("xmlUrl", "").split("/web/feeds/")[1].split(".atom")[0] for o in outlines}
    assert {"clay", "chisel", "hands", "highlights"} <= slugs
    for outline in outlines:
        assert outline.get("type") == "rss"
        assert outline.get("text")
        assert "/web/themes/" in outline.get("htmlUrl", "")
        status, feed_body, _ = await site.fetch(outline.get("xmlUrl", ""))
        assert status == 200
        assert feedparser.parse(feed_body).bozo == 0
    assert (await site.get("/web/feeds/clay.opml"))[0] == 404
    assert (await site.get("/web/feeds/themes.json"))[0] == 404
