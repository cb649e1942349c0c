"""Chromium for the browser tests and the screenshots: Debian's package, driven by Playwright.

Never downloads a browser: Playwright is pointed at ``/usr/bin/chromium`` (``.ci/run`` installs
it). The page may reach only the server under test; every other request (the report's images on
other hosts) is aborted, so runs are offline and quick.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path(os.environ.get("DIGESTBOT_TEST_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def missing() -> str | None:
    """Why the browser cannot run here, or None when it can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


#: axe-core, installed by ``npm ci --prefix tests/web/node`` (``.ci/run`` does it).
AXE = Path(__file__).with_name("node") / "node_modules" / "axe-core" / "axe.min.js"


def axe_missing() -> str | None:
    """Why the accessibility checks cannot run here, or None when they can."""
    if not AXE.exists():
        return f"{AXE} is missing (npm ci --prefix tests/web/node)"
    return missing()


@asynccontextmanager
async def browser_page(
    origin: str, width: int, height: int = 900, *, bypass_csp: bool = False
) -> AsyncIterator[Any]:
    """A page of a fresh Chromium with a ``width`` x ``height`` viewport, confined to ``origin``.

    ``bypass_csp`` lets a test inject a script of its own (axe-core) into pages whose policy
    allows none.
    """
    from playwright.async_api import Route, async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(
                viewport={"width": width, "height": height}, bypass_csp=bypass_csp
            )
            page = await context.new_page()

            async def only_ours(route: Route) -> None:
                if route.request.url.startswith(origin):
                    await route.continue_()
                else:
                    await route.abort()

            await page.route("**/*", only_ours)
            yield page
            await context.close()
        finally:
            await browser.close()
