"""Screenshots of a report page at phone and desktop widths, for the README.

Run: ``python -m tests.web.screenshots [--out docs/screenshots]``. Starts the real gateway on a
fresh SQLite file with the bundled samples (and the real report when ``../shared/reports`` has
it), opens a report at its models table in Chromium at 390 px and 1280 px, and writes
``report-phone.png`` and ``report-desktop.png``. CJK text needs a CJK font on the machine
(Debian: ``apt-get install fonts-noto-cjk fonts-noto-color-emoji``); images on other hosts are
not fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from bot.web.links import WebLinks
from tests.web.browser import browser_page, missing
from tests.web.site import REPO, SEED, fill, free_port, running_gateway, web_settings

SHOTS = {"report-phone.png": (390, 844), "report-desktop.png": (1280, 900)}


async def shoot(out: Path, period: str) -> list[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'shots.db'}"
        fill(url)
        port = free_port()
        settings = web_settings(url, port)
        links = WebLinks.from_settings(settings)
        assert links is not None
        written = []
        async with running_gateway(settings):
            for name, (width, height) in SHOTS.items():
                async with browser_page(links.public_url, width, height) as page:
                    # The first table (the models), where phone and desktop differ most.
                    await page.goto(links.url(f"/web/reports/{period}") + "#clay")
                    path = out / name
                    await page.screenshot(path=str(path))
                    written.append(path)
        return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--period", default="2026-01" if SEED.exists() else "2026-02")
    args = parser.parse_args()
    reason = missing()
    if reason:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(args.out, args.period)):
        print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
