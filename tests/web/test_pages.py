"""The web face's pages through HTTP: signatures, content, escaping and security headers."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser

import feedparser
import pytest

from bot.settings import SettingsError, load_settings
from bot.store.store import Store
from bot.store.webtokens import person_token, revoke_token
from bot.web.links import WebLinks
from tests.web.conftest import Site, serve
from tests.web.site import SEED, fill

NEWEST_SAMPLE = "2026-02"


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def assert_secure_headers(resp: object) -> None:
    headers = resp.headers  # type: ignore[attr-defined]
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp  # so scripts fall back to 'none'
    assert "unsafe-inline" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


async def test_archive_lists_every_month_with_counts(site: Site) -> None:
    status, html, resp = await site.get("/web/")
    assert status == 200
    assert_secure_headers(resp)
    assert resp.headers["Cache-Control"] == "private, no-cache"  # kept, revalidated (304)
    for period in ("2025-12", "2026-02", "2030-01"):
        assert f">{period}</a>" in html
    if SEED.exists():
        assert "8 models, 23 papers, 1 radar, 7 topics" in html
    # Links on the page open without another signature from the bot.
    links = re.findall(r'href="([^"]+/web/reports/2026-02[^"]*)"', html)
    assert links
    status, report, _ = await site.fetch(links[0].replace("&amp;", "&"))
    assert status == 200
    assert "GLM-4.7" in report


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda url: url.split("?")[0], id="missing"),
        pytest.param(
            lambda url: url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"), id="forged"
        ),
        pytest.param(lambda url: url.replace("exp=", "exp=1"), id="longer-expiry"),
        pytest.param(
            lambda url: url.replace("/reports/2026-02", "/reports/2025-12"), id="other-path"
        ),
    ],
)
async def test_a_bad_signature_gets_403_and_nothing_of_the_report(
    site: Site, tamper: object
) -> None:
    good = site.links.url(f"/web/reports/{NEWEST_SAMPLE}")
    bad = tamper(good)  # type: ignore[operator]
    assert bad != good
    status, body, resp = await site.fetch(bad)
    assert status == 403
    assert_secure_headers(resp)
    assert "GLM" not in body
    assert "Clay" not in body
    assert "2026" not in body
    assert body.startswith("403 Forbidden")


async def test_an_expired_link_gets_403(site: Site) -> None:
    past = dataclasses.replace(site.links, clock=lambda: 1_000_000.0)
    url = past.url("/web/")  # valid signature, expired long ago
    status, body, _ = await site.fetch(url)
    assert status == 403
    assert "2026" not in body
    assert (await site.fetch(site.links.url("/web/")))[0] == 200


async def test_feeds_and_search_need_a_signature_too(site: Site) -> None:
    for path in (
        "/web/feeds/all.atom",
        "/web/feeds/clay.rss",
        "/web/search",
        "/web/themes/clay",
        "/web/items/model/glm47",
    ):
        status, body, _ = await site.fetch(site.base + path + "?q=glm")
        assert status == 403, path
        assert "GLM" not in body


async def test_public_access_needs_no_signature(public_site: Site) -> None:
    status, html, resp = await public_site.fetch(public_site.base + f"/web/reports/{NEWEST_SAMPLE}")
    assert status == 200
    assert "GLM-4.7" in html
    assert "sig=" not in html
    assert resp.headers["Cache-Control"] == "public, max-age=300"


async def test_report_page_has_anchors_cards_and_figures(site: Site) -> None:
    status, html, _ = await site.get(f"/web/reports/{NEWEST_SAMPLE}")
    assert status == 200
    tags = tags_of(html)
    ids = {a.get("id") for _, a in tags}
    assert {"clay", "chisel", "hands"} <= ids  # section anchors named by theme
    assert 'href="#clay"' in html  # the table of contents and the heading's own anchor
    cells = [a for t, a in tags if t == "td"]
    assert cells
    assert all(a.get("data-label") for a in cells)
    assert any(a.get("data-label") == "核心技术创新 (Mechanism)" for a in cells)
    images = [a["src"] for t, a in tags if t == "img"]
    assert any(src and src.startswith("https://") for src in images)  # figures inline
    assert not any("style" in a for _, a in tags)  # the CSP allows no inline style


async def test_report_text_never_executes(site: Site) -> None:
    status, html, _ = await site.get("/web/reports/2030-01")
    assert status == 200
    tags = tags_of(html)
    names = {t for t, _ in tags}
    assert "script" not in names
    assert "iframe" not in names
    assert "style" not in names
    for _tag, attrs in tags:
        assert not any(name.startswith("on") for name in attrs), attrs
        for key in ("href", "src", "action"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("http://", "https://", "#")), value
    assert "&lt;script&gt;alert('cell')&lt;/script&gt;" in html  # shown, as text
    assert "mailto:" not in html  # only http(s) links, as in chat: the text alone stays
    assert "safe mail and" in html
    assert 'href="https://example.com/ok"' in html
    assert "javascript:" not in re.sub(r">[^<]*<", "><", html)  # nowhere but in shown text
    assert "ftp://" not in "".join(str(a.get("href")) for _, a in tags)


async def test_report_links_other_than_http_are_plain_text(site: Site) -> None:
    # tg://, slack://, file: and mailto: are no links on a page either (the rule of every chat)
    for path in ("/web/reports/2030-01", "/web/items/model/pingmodel"):
        status, html, _ = await site.get(path)
        assert status == 200
        hrefs = [a["href"] for t, a in tags_of(html) if t == "a" and a.get("href")]
        assert hrefs
        assert all(h.startswith(("http://", "https://", "#", "/web/")) for h in hrefs), hrefs
        # (markdown-it already leaves file:, javascript: and data: links unparsed, as text)
        assert "x and chat and tg://resolve?domain=b and [file](file:///etc/passwd) @c" in html
        assert (
            '<a href="https://example.com/ping-ok" rel="nofollow noopener noreferrer">ok</a>'
            in html
        )
    assert "resolve?domain=evil" not in html  # the item's own link is dropped with its target


async def test_item_page_shows_every_month(site: Site) -> None:
    status, html, _ = await site.get("/web/items/model/kimik2thinking")
    assert status == 200
    assert "<h1>Kimi-K2-Thinking</h1>" in html
    for period in ("2026-02", "2025-12"):
        assert f'id="v-{period}"' in html
    assert html.index('id="v-2026-02"') < html.index('id="v-2025-12"')  # newest first
    # Each month links the very row of its report the item was read from, and it is there.
    rows = re.findall(r'href="([^"#]+/web/reports/2025-12[^"#]*)#(L\d+)"', html)
    assert rows
    status, report, _ = await site.fetch(unescape(rows[0][0]))
    assert status == 200
    assert f'<tr id="{rows[0][1]}">' in report
    assert "Kimi-K2-Thinking" in report.split(f'<tr id="{rows[0][1]}">')[1].split("</tr>")[0]
    status, _, _ = await site.get("/web/items/model/no-such-model")
    assert status == 404


async def test_a_paper_under_two_titles_has_one_page_at_both_addresses(site: Site) -> None:
    if not SEED.exists():
        pytest.skip("../shared/reports/2026-01.md is not on this machine")
    # 2026-02 calls arXiv 2511.10643 "GAD: Black-Box On-Policy Distillation of Large Language
    # Models", 2026-01 "GAD Black-Box On-Policy Distillation": one item, whichever name is asked
    for name in (
        "gadblackboxonpolicydistillationoflargelanguagemodels",
        "gadblackboxonpolicydistillation",
    ):
        status, html, _ = await site.get(f"/web/items/paper/{name}")
        assert status == 200
        assert 'id="v-2026-02"' in html
        assert 'id="v-2026-01"' in html


async def test_hostile_item_page_is_escaped(site: Site) -> None:
    status, html, _ = await site.get("/web/themes/clay")
    assert status == 200
    hrefs = [a["href"] for t, a in tags_of(html) if t == "a" and a.get("href")]
    evil = [h for h in hrefs if "/web/items/model/" in h and "evil" in h]
    assert evil
    status, item, _ = await site.fetch(evil[0])
    assert status == 200
    tags = tags_of(item)
    assert "script" not in {t for t, _ in tags}
    assert not any(k.startswith("on") for _, a in tags for k in a)
    assert "&lt;iframe" in item


async def test_theme_page_pages_through_months(site: Site) -> None:
    status, html, _ = await site.get("/web/themes/clay")
    assert status == 200
    assert "GLM-4.7" in html
    assert "/subscribe clay" in html
    assert 'type="application/atom+xml"' in html
    status, body, _ = await site.get("/web/themes/clay", page="abc")
    assert status == 400
    assert "page must be a whole number" in body
    status, _, _ = await site.get("/web/themes/nosuchtheme")
    assert status == 404


async def test_search_page_uses_the_search_of_the_chat_command(site: Site) -> None:
    status, html, _ = await site.get("/web/search", q="glm")
    assert status == 200
    assert ">GLM-4.7</a>" in html
    form = [a for t, a in tags_of(html) if t == "input" and a.get("type") == "hidden"]
    assert {a["name"] for a in form} == {"exp", "sig"}  # the form's submissions stay signed
    status, html, _ = await site.get("/web/search", q="蒸馏")
    assert status == 200
    assert "best matches" in html
    status, html, _ = await site.get("/web/search", q="zzqqxx")
    assert "Nothing matches" in html
    status, _body, _ = await site.get("/web/search", q="x" * 500)
    assert status == 400


async def test_stylesheet_is_served_to_anyone(site: Site) -> None:
    async with site.http.get(site.base + "/web/static/web.css") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/css"
        assert "@media (max-width: 760px)" in await resp.text()


def test_the_web_face_needs_a_secret_unless_public() -> None:
    with pytest.raises(SettingsError, match="DIGESTBOT_WEB_SECRET"):
        load_settings(env={"DIGESTBOT_PUBLIC_URL": "https://bot.example.com"})
    with pytest.raises(SettingsError, match="DIGESTBOT_PUBLIC_URL"):
        load_settings(
            env={"DIGESTBOT_PUBLIC_URL": "bot.example.com", "DIGESTBOT_WEB_ACCESS": "public"}
        )
    with pytest.raises(SettingsError, match="DIGESTBOT_WEB_ACCESS"):
        load_settings(env={"DIGESTBOT_WEB_ACCESS": "open"})
    public = load_settings(
        env={"DIGESTBOT_PUBLIC_URL": "https://bot.example.com/", "DIGESTBOT_WEB_ACCESS": "public"}
    )
    links = WebLinks.from_settings(public)
    assert links is not None
    assert not links.signed
    assert links.url("/web/") == "https://bot.example.com/web/"
    assert WebLinks.from_settings(load_settings(env={})) is None


@pytest.mark.postgres
async def test_every_page_and_feed_on_postgresql(postgres_url: str) -> None:
    fill(postgres_url)
    async for pg in serve(postgres_url):
        status, html, _ = await pg.get("/web/")
        assert status == 200
        assert ">2025-12</a>" in html
        status, html, _ = await pg.get(f"/web/reports/{NEWEST_SAMPLE}")
        assert status == 200
        assert 'id="clay"' in html
        status, html, _ = await pg.get("/web/items/model/kimik2thinking")
        assert status == 200
        assert 'id="v-2025-12"' in html
        status, html, _ = await pg.get("/web/themes/hands")
        assert status == 200
        status, html, _ = await pg.get("/web/search", q="glm")
        assert ">GLM-4.7</a>" in html
        status, body, _ = await pg.get("/web/feeds/clay.atom")
        feed = feedparser.parse(body)
        assert feed.bozo == 0
        assert feed.entries
        assert feed.entries[0].published.startswith(feed.entries[0].id.split("/")[1])
        assert (await pg.fetch(pg.base + "/web/"))[0] == 403
        # A personal token on PostgreSQL: it opens, answers 304, and dies when revoked.
        store = Store.open(postgres_url)
        try:
            with store.engine.begin() as conn:
                token = person_token(conn, "slack", "U9", datetime.now(UTC))
            link = pg.links.url("/web/feeds/all.rss", token=pg.links.token_value(token.id))
            async with pg.http.get(link) as resp:
                assert resp.status == 200
                etag = resp.headers["ETag"]
            async with pg.http.get(link, headers={"If-None-Match": etag}) as resp:
                assert resp.status == 304
            with store.engine.begin() as conn:
                assert revoke_token(conn, token.id) is not None
            assert (await pg.fetch(link))[0] == 403
        finally:
            store.close()
