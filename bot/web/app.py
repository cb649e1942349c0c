"""The web face's aiohttp handlers: pages and feeds, each behind the signature check.

Every response of these routes carries a Content-Security-Policy without script (``default-src
'none'``), ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` (signed links
must not leak to image hosts) and no framing. A request without a valid signature (unless access
is public) gets 403 and a one-line text, never anything of a report.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from bot.store.items import DatedItem
from bot.store.search import Finder
from bot.store.store import Store
from bot.web import links as paths
from bot.web.feeds import build_feed
from bot.web.links import WebLinks
from bot.web.markdown import inline_html, safe_href
from bot.web.queries import PERIODS_PER_PAGE, WebQueries
from digests.items import Item, Part

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
FEED_TYPES = {"atom": "application/atom+xml", "rss": "application/rss+xml"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _sections(item: Item) -> list[tuple[str, list[Part]]]:
    groups: dict[str, list[Part]] = {}
    for part in item.parts:
        groups.setdefault(part.section, []).append(part)
    return list(groups.items())


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
    )
    return env


class WebFace:
    """Pages and feeds over a store. ``routes()`` gives them to the gateway's HTTP server."""

    def __init__(self, store: Store, finder: Finder, links: WebLinks) -> None:
        self.queries = WebQueries(store)
        self.finder = finder
        self.links = links
        self.env = _environment()
        self.css = resources.files("bot.web").joinpath("static", "web.css").read_bytes()

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

    def _guarded(self, handler: Callable[[web.Request, int], Awaitable[web.Response]]) -> Handler:
        @functools.wraps(handler)
        async def check(request: web.Request) -> web.StreamResponse:
            exp = self.links.check(
                request.rel_url.raw_path, request.query.get("exp"), request.query.get("sig")
            )
            if exp is None:
                return _secure(web.Response(status=403, text=FORBIDDEN))
            try:
                response = await handler(request, exp)
            except web.HTTPException as exc:
                response = web.Response(status=exc.status, text=exc.text or exc.reason)
            response.headers["Cache-Control"] = (
                "private, no-store" if self.links.signed else "public, max-age=300"
            )
            return _secure(response)

        return check

    def _page(self, template: str, exp: int, **context: Any) -> str:
        """A page whose links are signed with the expiry of the request that asked for it."""
        links = self.links

        def href(path: str, **params: str) -> str:
            return links.url(path, exp, **params)

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

    async def _css(self, _request: web.Request) -> web.Response:
        response = web.Response(body=self.css, content_type="text/css", charset="utf-8")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return _secure(response)

    async def _archive(self, _request: web.Request, exp: int) -> web.Response:
        def render() -> str:
            reports, themes = self.queries.archive()
            return self._page("archive.html", exp, reports=reports, themes=themes)

        return await self._html(render, "")

    async def _report(self, request: web.Request, exp: int) -> web.Response:
        period = request.match_info["period"]

        def render() -> str | None:
            page = self.queries.report(period)
            if page is None:
                return None
            themes: dict[str, list[DatedItem]] = {}
            for row in page.items:
                themes.setdefault(row.item.theme, []).append(row)
            return self._page("report.html", exp, page=page, themes=themes)

        return await self._html(render, f"No report for {period[:20]}. The archive lists them.")

    async def _item(self, request: web.Request, exp: int) -> web.Response:
        kind, name = request.match_info["kind"], request.match_info["name"]

        def render() -> str | None:
            versions, periods = self.queries.versions(kind, name)
            if not versions:
                return None
            return self._page("item.html", exp, versions=versions, periods=periods)

        return await self._html(render, "No such item. Search for it on the search page.")

    async def _theme(self, request: web.Request, exp: int) -> web.Response:
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
                exp,
                slug=slug,
                title=title,
                periods=periods,
                groups=list(groups.items()),
                page=page,
                pages=pages,
            )

        return await self._html(render, f"No theme {slug[:40]} on page {page}.")

    async def _search(self, request: web.Request, exp: int) -> web.Response:
        query = " ".join(request.query.get("q", "").split())
        if len(query) > MAX_QUERY:
            raise web.HTTPBadRequest(text=f"Search text is at most {MAX_QUERY} characters.\n")
        hidden = [(k, request.query[k]) for k in ("exp", "sig") if k in request.query]

        def render() -> str:
            found = self.finder.search(query, limit=20) if query else []
            return self._page(
                "search.html",
                exp,
                query=query,
                results=found,
                hidden=hidden,
                form_action=self.links.public_url + paths.PREFIX + "/search",
            )

        return await self._html(render, "")

    async def _feed(self, request: web.Request, exp: int) -> web.Response:
        name = request.match_info["name"]
        slug, _, fmt = name.rpartition(".")
        if fmt not in FEED_TYPES or not slug:
            raise web.HTTPNotFound(text="Feeds are /web/feeds/all.atom, all.rss, THEME.atom.\n")
        theme = None if slug == "all" else slug

        def render() -> bytes | None:
            title = "digestbot: everything"
            if theme is not None:
                found = self.queries.theme_title(theme)
                if found is None:
                    return None
                title = f"digestbot: {found}"
            rows = self.queries.feed(theme)
            links = self.links
            page = paths.theme_path(theme) if theme else paths.PREFIX + "/"
            return build_feed(
                rows,
                fmt=fmt,
                title=title,
                public_url=links.public_url,
                feed_id=slug,
                self_url=links.url(paths.feed_path(theme, fmt), exp),
                page_url=links.url(page, exp),
                item_url=lambda e: links.url(paths.item_path(e.kind, e.name_norm), exp),
            )

        body = await asyncio.to_thread(render)
        if body is None:
            raise web.HTTPNotFound(text=f"No theme {slug[:40]}. The archive lists the themes.\n")
        return web.Response(body=body, content_type=FEED_TYPES[fmt], charset="utf-8")


def _page_number(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise web.HTTPBadRequest(text=f"page must be a whole number from 1, not {raw[:20]!r}.\n")
    return int(raw)


def _secure(response: web.Response) -> web.Response:
    response.headers.update(SECURITY_HEADERS)
    return response
