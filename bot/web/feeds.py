"""Atom and RSS feeds of the newest items (of a theme, or of everything), built with feedgen, and
an OPML list of every theme's feed.

Ids are tag URIs made of the public host, the period and the item's key, so they never change
when a secret, an expiry or a database id does. Each entry is dated by its report (published:
the front matter ``date``, else the period's first day) and updated when its text changed
later; its content is HTML (``type="html"``: the summary rendered with the pages' rules, raw
HTML shown as text, http(s) links only) with a link to the source; its link opens the item's page
(made the way the feed link came in: signed with its expiry, or with its personal token). The RSS
channel links the page the feed mirrors (the theme's page, or the archive), not the feed.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

from feedgen.feed import FeedGenerator

from bot.store.feeds import EPOCH, FeedEntry
from bot.web.markdown import inline_html, safe_href

AUTHOR = "digestbot"


def tag_uri(public_url: str, specific: str) -> str:
    """``tag:bot.example.com,2026:item/2026-01/model:glm47`` (RFC 4151)."""
    host = urlsplit(public_url).hostname or "localhost"
    return f"tag:{host},2026:{quote(specific, safe='/:-._~')}"


def entry_html(entry: FeedEntry) -> str:
    """An entry's content: its summary and its source link, as HTML safe to show."""
    body = f"<p>{inline_html(entry.summary)}</p>" if entry.summary.strip() else ""
    source = safe_href(entry.url or "")
    if source:
        link = html.escape(source)
        body += f'<p><a href="{link}">{link}</a></p>'
    return body or f"<p>{html.escape(entry.title)}</p>"


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
    rss = fmt == "rss"
    if rss:  # RSS's <author> must be an e-mail address: Dublin Core names the author instead
        fg.load_extension("dc", atom=False, rss=True)
    fg.id(tag_uri(public_url, f"feed/{feed_id}"))
    fg.title(title)
    fg.author({"name": AUTHOR, "uri": page_url})
    # feedgen takes the last link as RSS's channel <link>: the page the feed mirrors.
    fg.link(href=self_url, rel="self")
    fg.link(href=page_url, rel="alternate")
    fg.description(f"{title}: the newest items of the monthly report, newest month first.")
    fg.language("zh")
    fg.generator("digestbot")
    fg.updated(max((r.updated for r in rows), default=EPOCH))
    for item in rows:
        entry = fg.add_entry(order="append")
        # by name, as ids were before links keyed items: a feed reader's entries stay the same
        month = f"{item.period}:" if item.kind in ("insight", "radar") else ""
        entry.id(tag_uri(public_url, f"item/{item.period}/{item.kind}:{month}{item.name_norm}"))
        entry.guid(entry.id(), permalink=False)
        entry.title(f"{item.title} ({item.period})")
        entry.link(href=item_url(item), rel="alternate")
        if rss:
            entry.dc.dc_creator(AUTHOR)
        else:
            entry.author({"name": AUTHOR})
        entry.published(item.published)
        entry.updated(item.updated)
        entry.category(term=item.theme)
        entry.content(entry_html(item), type="html")
    if fmt == "atom":
        return bytes(fg.atom_str(pretty=False))
    return bytes(fg.rss_str(pretty=False))


def build_opml(title: str, feeds: Sequence[tuple[str, str, str]]) -> bytes:
    """OPML 2.0 of feeds, each (title, feed URL, page URL): a feed reader subscribes to all."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = title
    body = ElementTree.SubElement(root, "body")
    for name, feed_url, page_url in feeds:
        ElementTree.SubElement(
            body, "outline", type="rss", text=name, title=name, xmlUrl=feed_url, htmlUrl=page_url
        )
    return bytes(ElementTree.tostring(root, encoding="utf-8", xml_declaration=True))
