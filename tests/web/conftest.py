"""Fixtures for the web face: one database of reports per module, and a server over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.settings import Settings
from bot.store.search import Finder
from bot.store.store import Store
from bot.web import routes
from bot.web.links import WebLinks
from tests.web.site import fill, free_port, web_settings

HOSTILE = Path(__file__).with_name("hostile.md")


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file with the samples, the real report (when here) and a hostile report."""
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}"
    fill(url, HOSTILE)
    return url


@dataclass
class Site:
    http: aiohttp.ClientSession
    links: WebLinks
    settings: Settings
    base: str

    async def get(self, path: str, **params: str) -> tuple[int, str, aiohttp.ClientResponse]:
        """GET a signed link to ``path`` (with ``params``): status, text, response."""
        return await self.fetch(self.links.url(path, **params))

    async def fetch(self, url: str) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.http.get(url, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp


async def serve(url: str, access: str = "signed") -> AsyncIterator[Site]:
    port = free_port()
    settings = web_settings(url, port, access)
    store = Store.open(url)
    app = web.Application()
    app.add_routes(routes(store, Finder(store), settings))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    links = WebLinks.from_settings(settings)
    assert links is not None
    try:
        async with aiohttp.ClientSession() as http:
            yield Site(http, links, settings, f"http://127.0.0.1:{port}")
    finally:
        await server.close()
        store.close()


@pytest.fixture
async def site(site_url: str) -> AsyncIterator[Site]:
    """The web face with signed links (the default)."""
    async for s in serve(site_url):
        yield s


@pytest.fixture
async def public_site(site_url: str) -> AsyncIterator[Site]:
    async for s in serve(site_url, "public"):
        yield s
