"""The web face's aiohttp handlers: pages and feeds, each behind the access check.

Every response of these routes carries a Content-Security-Policy without script (``default-src
'none'``), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (signed links
must not leak to image hosts) and no framing. A request without a valid signature or token
(unless access is public) gets 403 and a one-line text, never anything of a report.

Pages and feeds are cheap to poll: each carries a weak ``ETag`` (the data's version, the code's
and the URL) and ``Last-Modified`` (the data's newest change), a conditional GET that matches is
answered 304 before anything is rendered, and bodies are gzipped for clients that accept it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources
from typing import Any

from aiohttp import web
from aiohttp.web_response import ContentCoding
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from bot.clock import utcnow
from bot.store.feeds import DataVersion, FeedEntry, data_version, feed_entries, feed_themes
from bot.store.items import DatedItem
from bot.store.search import Finder
from bot.store.store import Store
from bot.store.webtokens import live_token
from bot.web import links as paths
from bot.web.feeds import build_feed, build_opml
from bot.web.links import Access, WebLinks
from bot.web.markdown import inline_html, line_anchor, safe_href
from bot.web.queries import PERIODS_PER_PAGE, WebQueries
from digests.items import MONTHLY_KINDS, Item, Part

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: http: data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
FORBIDDEN = (
    "403 Forbidden: this link is not signed, is forged or has expired. "
    "Ask the bot again for a fresh link (every card carries one).\n"
)
MAX_QUERY = 200
FEED_TYPES = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "opml": "text/x-opml",
}
#: The OPML of every theme's feed: ``/web/feeds/themes.opml``.
OPML_NAME = "themes"
#: Bodies smaller than this are sent as they are (gzip would save next to nothing).
COMPRESS_FROM = 512

_MONTHLY = frozenset(kind.value for kind in MONTHLY_KINDS)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Page = Callable[[web.Request, Access], Awaitable[web.Response]]


def _sections(item: Item) -> list[tuple[str, list[Part]]]:
    groups: dict[str, list[Part]] = {}
    for part in item.parts:
        groups.setdefault(part.section, []).append(part)
    return list(groups.items())


def report_anchor(item: Item) -> str:
    """Where an item stands in its month's report: the row or bullet it was read from."""
    return line_anchor(item.line) if item.line else item.theme


def version_anchor(item: Item) -> str:
    """The fragment of an item's page for one of its months (each month's own for highlights)."""
    return f"#v-{item.period}" if item.kind in MONTHLY_KINDS else ""


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bot.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = lambda text: Markup(inline_html(str(text)))
    env.filters["safe_url"] = lambda url: safe_href(url or "")
    env.filters["safe_image"] = lambda url: safe_href(url or "")
    env.filters["sections"] = _sections
    env.globals.update(
        archive_path=paths.PREFIX + "/",
        search_path=paths.PREFIX + "/search",
        report_path=paths.report_path,
        item_path=paths.path_of_item,
        theme_path=paths.theme_path,
        feed_path=paths.feed_path,
        opml_path=paths.PREFIX + f"/feeds/{OPML_NAME}.opml",
        report_anchor=report_anchor,
        version_anchor=version_anchor,
    )
    return env


def _code_tag() -> str:
    """What the pages' code is: a new template or stylesheet makes new ETags."""
    digest = hashlib.sha256()
    for folder in ("templates", "static"):
        for entry in sorted(resources.files("bot.web").joinpath(folder).iterdir(), key=str):
            if entry.is_file():
                digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()[:16]


class WebFace:
    """Pages and feeds over a store. ``routes()`` gives them to the gateway's HTTP server."""

    def __init__(self, store: Store, finder: Finder, links: WebLinks) -> None:
        self.store = store
        self.queries = WebQueries(store)
        self.finder = finder
        self.links = links
        self.env = _environment()
        self.css = resources.files("bot.web").joinpath("static", "web.css").read_bytes()
        self.code = _code_tag()
        self.css_etag = f'"{hashlib.sha256(self.css).hexdigest()[:24]}"'

    def routes(self) -> list[web.RouteDef]:
        p = paths.PREFIX
        guard = self._guarded
        return [
            web.get(f"{p}/static/web.css", self._css),
            web.get(f"{p}/", guard(self._archive)),
            web.get(f"{p}/reports/{{period}}", guard(self._report)),
            web.get(f"{p}/items/{{kind}}/{{name}}", guard(self._item)),
            web.get(f"{p}/themes/{{slug}}", guard(self._theme)),
            web.get(f"{p}/search", guard(self._search)),
            web.get(f"{p}/feeds/{{name}}", guard(self._feed)),
        ]

    # -- the guard --------------------------------------------------------------------------

    def _admit(self, request: web.Request) -> tuple[Access | None, DataVersion | None]:
        """How the request may come in (None: it may not), and the data's version. One
        connection: a token is looked up (and its last use noted) with the version read."""
        query = request.query
        token = query.get("token") if self.links.signed else None
        access: Access | None
        if token is not None:
            token_id = self.links.token_id(token)
            if token_id is None:
                return None, None
            with self.store.engine.begin() as conn:
                if live_token(conn, token_id, utcnow()) is None:
                    return None, None
                return Access(token=token), data_version(conn)
        if self.links.signed:
            exp = self.links.check(request.rel_url.raw_path, query.get("exp"), query.get("sig"))
            if exp is None:
                return None, None
            access = Access(exp=exp)
        else:
            access = Access()
        with self.store.engine.connect() as conn:
            return access, data_version(conn)

    def _guarded(self, handler: Page) -> Handler:
        @functools.wraps(handler)
        async def check(request: web.Request) -> web.StreamResponse:
            access, version = await asyncio.to_thread(self._admit, request)
            if access is None or version is None:
                forbidden = web.Response(status=403, text=FORBIDDEN)
                forbidden.headers["Cache-Control"] = "no-store"
                return _secure(forbidden)
            cache = "private, no-cache" if self.links.signed else "public, max-age=300"
            etag = self._etag(request, version)
            modified = version.modified.replace(microsecond=0)
            if _fresh(request, etag, modified):
                not_modified = web.Response(status=304)
                _validators(not_modified, etag, modified, cache)
                return _secure(not_modified)
            try:
                response = await handler(request, access)
            except web.HTTPException as exc:
                response = web.Response(status=exc.status, text=exc.text or exc.reason)
            if response.status == 200:
                _validators(response, etag, modified, cache)
                _compress(request, response)
            else:
                response.headers["Cache-Control"] = "no-store"
            return _secure(response)

        return check

    def _etag(self, request: web.Request, version: DataVersion) -> str:
        # The URL carries the access (expiry and signature, or token) and the query.
        seed = f"{self.code}\n{version.tag}\n{request.rel_url.raw_path_qs}"
        return f'W/"{hashlib.sha256(seed.encode()).hexdigest()[:24]}"'

    def _page(self, template: str, access: Access, **context: Any) -> str:
        """A page whose links are made the way the request came in (its expiry, its token)."""
        links = self.links

        def href(path: str, **params: str) -> str:
            return links.link(path, access, **params)

        return self.env.get_template(template).render(
            href=href,
            static=lambda name: f"{links.public_url}{paths.PREFIX}/static/{name}",
            **context,
        )

    async def _html(self, render: Callable[[], str | None], missing: str) -> web.Response:
        body = await asyncio.to_thread(render)
        if body is None:
            raise web.HTTPNotFound(text=missing)
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    # -- pages ------------------------------------------------------------------------------

    async def _css(self, request: web.Request) -> web.StreamResponse:
        cache = "public, max-age=3600"
        if _matches(request, self.css_etag):
            not_modified = web.Response(status=304)
            not_modified.headers.update({"ETag": self.css_etag, "Cache-Control": cache})
            return _secure(not_modified)
        response = web.Response(body=self.css, content_type="text/css", charset="utf-8")
        response.headers.update({"ETag": self.css_etag, "Cache-Control": cache})
        _compress(request, response)
        return _secure(response)

    async def _archive(self, _request: web.Request, access: Access) -> web.Response:
        def render() -> str:
            reports, themes = self.queries.archive()
            return self._page("archive.html", access, reports=reports, themes=themes)

        return await self._html(render, "")

    async def _report(self, request: web.Request, access: Access) -> web.Response:
        period = request.match_info["period"]

        def render() -> str | None:
            page = self.queries.report(period)
            if page is None:
                return None
            themes: dict[str, list[DatedItem]] = {}
            for row in page.items:
                themes.setdefault(row.item.theme, []).append(row)
            return self._page("report.html", access, page=page, themes=themes)

        return await self._html(render, f"No report for {period[:20]}. The archive lists them.")

    async def _item(self, request: web.Request, access: Access) -> web.Response:
        kind, name = request.match_info["kind"], request.match_info["name"]

        def render() -> str | None:
            versions, periods = self.queries.versions(kind, name)
            if not versions:
                return None
            return self._page("item.html", access, versions=versions, periods=periods)

        return await self._html(render, "No such item. Search for it on the search page.")

    async def _theme(self, request: web.Request, access: Access) -> web.Response:
        slug = request.match_info["slug"]
        page = _page_number(request.query.get("page", "1"))

        def render() -> str | None:
            title, periods, rows = self.queries.theme(slug, page)
            if title is None:
                return None
            groups: dict[str, list[DatedItem]] = {}
            for row in rows:
                groups.setdefault(row.item.period, []).append(row)
            pages = -(-len(periods) // PERIODS_PER_PAGE)
            return self._page(
                "theme.html",
                access,
                slug=slug,
                title=title,
                periods=periods,
                groups=list(groups.items()),
                page=page,
                pages=pages,
            )

        return await self._html(render, f"No theme {slug[:40]} on page {page}.")

    async def _search(self, request: web.Request, access: Access) -> web.Response:
        query = " ".join(request.query.get("q", "").split())
        if len(query) > MAX_QUERY:
            raise web.HTTPBadRequest(text=f"Search text is at most {MAX_QUERY} characters.\n")
        hidden = [(k, request.query[k]) for k in ("exp", "sig", "token") if k in request.query]

        def render() -> str:
            found = self.finder.search(query, limit=20) if query else []
            return self._page(
                "search.html",
                access,
                query=query,
                results=found,
                hidden=hidden,
                form_action=self.links.public_url + paths.PREFIX + "/search",
            )

        return await self._html(render, "")

    async def _feed(self, request: web.Request, access: Access) -> web.Response:
        name = request.match_info["name"]
        slug, _, fmt = name.rpartition(".")
        if fmt not in FEED_TYPES or not slug or (fmt == "opml") != (slug == OPML_NAME):
            raise web.HTTPNotFound(
                text="Feeds are /web/feeds/all.atom, all.rss, THEME.atom, THEME.rss; "
                f"every theme's feed is in /web/feeds/{OPML_NAME}.opml.\n"
            )
        body = await asyncio.to_thread(
            self._opml if fmt == "opml" else functools.partial(self._feed_body, slug, fmt),
            access,
        )
        if body is None:
            raise web.HTTPNotFound(text=f"No theme {slug[:40]}. The archive lists the themes.\n")
        return web.Response(body=body, content_type=FEED_TYPES[fmt], charset="utf-8")

    def _feed_body(self, slug: str, fmt: str, access: Access) -> bytes | None:
        theme = None if slug == "all" else slug
        title = "digestbot: everything"
        if theme is not None:
            found = self.queries.theme_title(theme)
            if found is None:
                return None
            title = f"digestbot: {found}"
        with self.store.engine.connect() as conn:
            rows = feed_entries(conn, theme)
        links = self.links
        page = paths.theme_path(theme) if theme else paths.PREFIX + "/"

        def item_url(entry: FeedEntry) -> str:
            url = links.link(paths.item_path(entry.kind, entry.name_norm), access)
            return url + (f"#v-{entry.period}" if entry.kind in _MONTHLY else "")

        return build_feed(
            rows,
            fmt=fmt,
            title=title,
            public_url=links.public_url,
            feed_id=slug,
            self_url=links.link(paths.feed_path(theme, fmt), access),
            page_url=links.link(page, access),
            item_url=item_url,
        )

    def _opml(self, access: Access) -> bytes:
        with self.store.engine.connect() as conn:
            themes = feed_themes(conn)
        links = self.links
        return build_opml(
            "digestbot: every theme's feed",
            [
                (
                    title,
                    links.link(paths.feed_path(slug, "atom"), access),
                    links.link(paths.theme_path(slug), access),
                )
                for slug, title in themes
            ],
        )


def _page_number(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise web.HTTPBadRequest(text=f"page must be a whole number from 1, not {raw[:20]!r}.\n")
    return int(raw)


def _matches(request: web.Request, etag: str) -> bool:
    """If-None-Match names ``etag`` (or ``*``); weak comparison, as RFC 9110 has it for GET."""
    try:
        wanted = request.if_none_match
    except ValueError:
        return False
    if not wanted:
        return False
    value = etag.removeprefix("W/").strip('"')
    return any(tag.value in (value, "*") for tag in wanted)


def _fresh(request: web.Request, etag: str, modified: datetime) -> bool:
    """A conditional GET whose copy is current: its ETag matches, or (without If-None-Match)
    nothing changed since its If-Modified-Since."""
    if request.headers.get("If-None-Match"):
        return _matches(request, etag)
    try:
        since = request.if_modified_since
    except ValueError:
        return False
    return since is not None and modified <= since


def _validators(response: web.Response, etag: str, modified: datetime, cache: str) -> None:
    response.headers["ETag"] = etag
    response.last_modified = modified
    response.headers["Cache-Control"] = cache
    response.headers["Vary"] = "Accept-Encoding"


def _compress(request: web.Request, response: web.Response) -> None:
    """gzip when the client takes it and the body is worth it."""
    body = response.body
    if not isinstance(body, bytes) or len(body) < COMPRESS_FROM:
        return
    accepted = request.headers.get("Accept-Encoding", "").lower()
    if "gzip" in accepted:
        response.enable_compression(ContentCoding.gzip)
        response.headers["Vary"] = "Accept-Encoding"


def _secure(response: web.Response) -> web.Response:
    response.headers.update(SECURITY_HEADERS)
    return response
