"""Pictures in chat, end to end: the real gateway against the local Telegram and Slack fakes.

A card or the highlights with a figure show it: Telegram as the message's link preview above the
text, Slack as an image block with its alt text (and as a link when Slack cannot fetch it).
``DIGESTBOT_IMAGES=false`` turns both off.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.gateway import Gateway
from bot.settings import load_settings
from bot.store.store import Store
from tests.fakes import wait_for
from tests.fakes.slack import FakeSlack, event_body, mention_event, signed_headers
from tests.fakes.telegram import FakeTelegram
from tests.stored import ingest_samples

SECRET = "pictures-signing-secret"
RADAR_FEB = "https://raw.githubusercontent.com/example/digestbot-assets/main/radar-2026-02.png"


@dataclass
class Running:
    telegram: FakeTelegram
    slack: FakeSlack
    base: str
    db_url: str


async def _run(sqlite_url: str, images: str) -> AsyncIterator[Running]:

    async with FakeTelegram(max_poll_wait=0.2) as tg, FakeSlack() as sl:
        env = {
            "DIGESTBOT_DATABASE_URL": sqlite_url,
            "DIGESTBOT_TELEGRAM_TOKEN": tg.token,
            "DIGESTBOT_TELEGRAM_API_URL": tg.base_url,
            "DIGESTBOT_TELEGRAM_FILE_URL": tg.base_file_url,
            "DIGESTBOT_SLACK_BOT_TOKEN": sl.bot_token,
            "DIGESTBOT_SLACK_SIGNING_SECRET": SECRET,
            "DIGESTBOT_SLACK_API_URL": sl.api_url,
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_HTTP_PORT": "0",
            "DIGESTBOT_IMAGES": images,
        }
        settings = load_settings(env=env)
        store = Store.open(sqlite_url)
        ingest_samples(store)
        store.close()
        gateway = Gateway(settings, stdout=io.StringIO())
        task = asyncio.create_task(gateway.run())
        await wait_for(
            lambda: gateway.http is not None and gateway.http.port != 0 and bool(tg.commands),
            within=30,
        )
        assert gateway.http is not None
        yield Running(tg, sl, f"http://127.0.0.1:{gateway.http.port}", sqlite_url)
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


@pytest.fixture
async def running(sqlite_url: str) -> AsyncIterator[Running]:
    async for r in _run(sqlite_url, "true"):
        yield r


@pytest.fixture
async def without_images(sqlite_url: str) -> AsyncIterator[Running]:
    async for r in _run(sqlite_url, "false"):
        yield r


def preview_of(options: dict[str, Any]) -> dict[str, Any]:
    raw = options.get("link_preview_options") or {}
    return json.loads(raw) if isinstance(raw, str) else dict(raw)


async def ask_telegram(r: Running, chat: int, text: str) -> list[Any]:
    before = len(r.telegram.sent)
    r.telegram.user_message(chat, chat, text)
    await wait_for(lambda: len(r.telegram.sent) > before, within=15)
    await asyncio.sleep(0.3)  # every part of the reply
    return [s for s in r.telegram.sent[before:] if str(s.chat_id) == str(chat)]


async def mention(r: Running, text: str, event_id: str) -> list[dict[str, Any]]:
    import aiohttp

    body = event_body(mention_event(f"<@UBOT> {text}", channel="C0PIX"), event_id=event_id)
    headers = signed_headers(SECRET, body)
    async with aiohttp.ClientSession() as http:
        # the Slack channel answers 503 "not started" for a moment after the HTTP server is up
        async with asyncio.timeout(15):
            while True:
                async with http.post(f"{r.base}/slack/events", data=body, headers=headers) as resp:
                    if resp.status != 503:
                        assert resp.status == 200
                        break
                await asyncio.sleep(0.1)
    await wait_for(lambda: [p for p in r.slack.sent if p.channel == "C0PIX"], within=15)
    return [b for p in r.slack.sent if p.channel == "C0PIX" for b in p.blocks]


async def test_telegram_shows_the_radar_above_the_highlights(running: Running) -> None:
    (sent,) = await ask_telegram(running, 901, "/highlights")
    preview = preview_of(sent.options)
    assert preview.get("url") == RADAR_FEB
    assert preview.get("show_above_text") is True
    assert preview.get("is_disabled") in (None, False)
    assert "Highlights · 2026-02" in sent.plain


async def test_telegram_card_without_figure_has_no_preview(running: Running) -> None:
    (sent,) = await ask_telegram(running, 902, "/model GLM-4.7")
    assert preview_of(sent.options).get("is_disabled") is True


async def test_slack_shows_the_radar_as_an_image_block(running: Running) -> None:
    blocks = await mention(running, "highlights 2026-02", "EvPix1")
    images = [b for b in blocks if b["type"] == "image"]
    assert images == [
        {
            "type": "image",
            "image_url": RADAR_FEB,
            "alt_text": images[0]["alt_text"],
        }
    ]
    assert images[0]["alt_text"].startswith("Summary of February 2026 industry radar")


async def test_slack_image_it_cannot_fetch_is_sent_as_a_link(running: Running) -> None:
    running.slack.unreachable_images.add(RADAR_FEB)
    blocks = await mention(running, "highlights", "EvPix2")
    assert not [b for b in blocks if b["type"] == "image"]
    assert any(RADAR_FEB in b.get("text", {}).get("text", "") for b in blocks)


async def test_images_setting_off(without_images: Running) -> None:
    (sent,) = await ask_telegram(without_images, 903, "/highlights")
    assert preview_of(sent.options).get("is_disabled") is True
    assert RADAR_FEB in str(sent.text)  # still there, as a link
    blocks = await mention(without_images, "highlights", "EvPix3")
    assert not [b for b in blocks if b["type"] == "image"]


async def test_telegram_long_card_previews_its_figure_on_the_first_part_only(
    running: Running,
) -> None:
    from digests import parse_report

    long_text = "；".join(f"第 {n} 条观察：长上下文训练在这一步更稳定" for n in range(60))
    report = (
        "---\nperiod: 2026-05\n---\n\n### Models (The Clay)\n\n| Model | Mechanism | Value |\n"
        "| --- | --- | --- |\n"
        f"| [Long-1](https://example.org/long) | **[Infra] Figure first**: short. "
        f"![Long-1 diagram](https://example.org/long-1.png) <br><br> **Notes**: {long_text} | "
        f"**More**: {long_text} <br><br> **Even more**: {long_text} |\n"
    )
    store = Store.open(running.db_url)
    store.ingest(parse_report(report, "2026-05.md"), report)
    store.close()
    # The whole card comes a page at a time (/more N): the figure is previewed above the page
    # that holds its part, and never on a later page or message.
    first_page = await ask_telegram(running, 904, "/more /model Long-1")
    second_page = await ask_telegram(running, 904, "/more 2 /model Long-1")
    first, *rest = (preview_of(p.options) for p in first_page)
    assert first.get("url") == "https://example.org/long-1.png"
    assert first.get("show_above_text") is True
    later = rest + [preview_of(p.options) for p in second_page]
    assert later
    assert all(p.get("is_disabled") is True for p in later)
