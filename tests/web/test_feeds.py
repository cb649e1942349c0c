"""Atom and RSS feeds, parsed by feedparser: valid, with stable ids, dates and working links."""

from __future__ import annotations

import dataclasses
import html

import feedparser
import pytest

from tests.web.conftest import Site


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
    first = feedparser.parse((await site.get("/web/feeds/clay.atom"))[1])
    second = feedparser.parse((await site.fetch(later.url("/web/feeds/clay.atom")))[1])
    assert [e.id for e in first.entries] == [e.id for e in second.entries]
    assert [e.updated for e in first.entries] == [e.updated for e in second.entries]
    again = feedparser.parse((await site.get("/web/feeds/clay.atom"))[1])
    assert [e.link for e in again.entries] == [e.link for e in first.entries]


async def test_unknown_feeds_are_404_and_unsigned_403(site: Site) -> None:
    assert (await site.get("/web/feeds/nosuchtheme.atom"))[0] == 404
    assert (await site.get("/web/feeds/clay.json"))[0] == 404
    status, body, _ = await site.fetch(site.base + "/web/feeds/all.atom")
    assert status == 403
    assert "<feed" not in body
