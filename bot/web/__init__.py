"""The web face: the reports as pages and feeds on the gateway's HTTP server.

On when ``DIGESTBOT_PUBLIC_URL`` is set. Pages and feeds live under ``/web/`` and need a signed
link (:mod:`bot.web.links`) unless ``DIGESTBOT_WEB_ACCESS=public``. This module stays light:
``digestbot ask`` imports it to put "Open on the web" links on cards, without aiohttp or Jinja2.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.web.links import WebLinks

if TYPE_CHECKING:
    from aiohttp import web

    from bot.settings import Settings
    from bot.store.search import Finder
    from bot.store.store import Store

log = logging.getLogger(__name__)


def routes(store: Store, finder: Finder, settings: Settings) -> list[web.RouteDef]:
    """The web face's routes for the gateway's HTTP server; none when it is off."""
    links = WebLinks.from_settings(settings)
    if links is None:
        return []
    from bot.web.app import WebFace

    access = "signed links" if links.signed else "public access"
    log.info("web pages and feeds at %s/web/ (%s)", links.public_url, access)
    return WebFace(store, finder, links).routes()


__all__ = ["WebLinks", "routes"]
