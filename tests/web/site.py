"""Test helpers for the web face: a store with reports in it, and a gateway serving it."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.gateway import Gateway
from bot.settings import Settings, load_settings
from bot.store.ingest import ingest_file
from bot.store.store import Store

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "digests" / "samples"
SEED = REPO.parent / "shared" / "reports" / "2026-01.md"
SECRET = "test-web-secret-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(url: str, *extra: Path) -> None:
    """Ingest the bundled samples, the real report when it is here, and ``extra`` reports."""
    store = Store.open(url)
    try:
        paths = [*sorted(SAMPLES.glob("*.md")), *([SEED] if SEED.exists() else []), *extra]
        for path in paths:
            ingest_file(store, path, 5 * 1024 * 1024, "test")
    finally:
        store.close()


def web_settings(url: str, port: int, access: str = "signed") -> Settings:
    return load_settings(
        env={
            "DIGESTBOT_DATABASE_URL": url,
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_HTTP_PORT": str(port),
            "DIGESTBOT_CONSOLE": "false",
            "DIGESTBOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "DIGESTBOT_WEB_SECRET": SECRET,
            "DIGESTBOT_WEB_ACCESS": access,
        }
    )


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """The real gateway (no chat channel) with its HTTP server up."""
    gateway = Gateway(settings, stdout=io.StringIO())
    task = asyncio.create_task(gateway.run())
    try:
        for _ in range(400):
            if gateway.http is not None and gateway.http._runner is not None:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
        yield gateway
    finally:
        gateway.stopping.set()
        await asyncio.wait_for(task, 30)
