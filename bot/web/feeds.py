"""Atom and RSS feeds of the newest items (of a theme, or of everything), built with feedgen.

Ids are tag URIs made of the public host, the period and the item's key, so they never change
when a secret, an expiry or a database id does; dates are when the item last changed; links open
the item's page (signed with the feed link's own expiry in private mode).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from feedgen.feed import FeedGenerator

from bot.store.items import FeedEntry
from bot.web.markdown import inline_html, safe_href

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def tag_uri(public_url: str, specific: str) -> str:
    """``tag:bot.example.com,2026:item/2026-01/model:glm47`` (RFC 4151)."""
    host = urlsplit(public_url).hostname or "localhost"
    return f"tag:{host},2026:{quote(specific, safe='/:-._~')}"


def _aware(when: datetime) -> datetime:
    # SQLite hands back naive datetimes; the store writes them in UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def build_feed(
    rows: Sequence[FeedEntry],
    *,
    fmt: str,
    title: str,
    public_url: str,
    feed_id: str,
    self_url: str,
    page_url: str,
    item_url: Callable[[FeedEntry], str],
) -> bytes:
    """The feed document (``fmt`` is ``atom`` or ``rss``) as UTF-8 bytes."""
    fg = FeedGenerator()
    fg.id(tag_uri(public_url, f"feed/{feed_id}"))
    fg.title(title)
    fg.link(href=page_url, rel="alternate")
    fg.link(href=self_url, rel="self")
    fg.description(f"{title}: the newest items of the monthly report, newest month first.")
    fg.language("zh")
    fg.generator("digestbot")
    fg.updated(max((_aware(r.updated_at) for r in rows), default=EPOCH))
    for item in rows:
        entry = fg.add_entry(order="append")
        entry.id(tag_uri(public_url, f"item/{item.period}/{item.key}"))
        entry.guid(entry.id(), permalink=False)
        entry.title(f"{item.title} ({item.period})")
        entry.link(href=item_url(item))
        when = _aware(item.updated_at)
        entry.updated(when)
        entry.published(when)
        entry.category(term=item.theme)
        body = inline_html(item.summary) if item.summary.strip() else ""
        source = safe_href(item.url or "")
        if source:
            link = html.escape(source)
            body += f' <a href="{link}">{link}</a>' if body else ""
        entry.description(body or item.title)
    if fmt == "atom":
        return bytes(fg.atom_str(pretty=False))
    return bytes(fg.rss_str(pretty=False))
