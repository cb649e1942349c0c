"""Figures in the renderers: Telegram's link preview options, Slack's image blocks."""

from __future__ import annotations

from channels.slack.render import has_images, images_as_links, render_slack
from channels.telegram.render import render_telegram, telegram_send_kwargs
from digests import parse_report
from digests.cards import card
from digests.message import Heading, Image, Message, Paragraph, Span
from tests.channels.checks import assert_slack_payload, assert_telegram_html

REPORT = """---
period: 2026-04
---

### Models (The Clay)

| Model | Mechanism | Capability |
| --- | --- | --- |
| [Orca-7](https://example.org/orca) | **[Infra] Sliding window**: linear cost. ![Orca-7 architecture](https://example.org/arch.png) | **Long files**: 256k tokens. ![](https://example.org/bench.png) |
"""


def orca() -> Message:
    return card(parse_report(REPORT).items[0])


def test_telegram_preview_is_the_first_figure_above_the_text() -> None:
    kwargs = telegram_send_kwargs(orca())
    assert kwargs == {
        "parse_mode": "HTML",
        "disable_web_page_preview": False,
        "preview_url": "https://example.org/arch.png",
        "show_above_text": True,
        "prefer_large_media": True,
    }
    # every figure stays linked in the text
    html = "".join(render_telegram(orca()))
    assert 'href="https://example.org/arch.png"' in html
    assert 'href="https://example.org/bench.png"' in html
    for page in render_telegram(orca()):
        assert_telegram_html(page)


def test_telegram_without_images_or_without_a_fetchable_figure() -> None:
    assert telegram_send_kwargs(orca(), images=False) == {
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    odd = Message((Heading("x"), Paragraph((Span("y"),)), Image("tg://resolve?x", "a tg link")))
    assert "preview_url" not in telegram_send_kwargs(odd)


def test_slack_image_blocks_follow_their_part_with_alt_text() -> None:
    (payload,) = render_slack(orca())
    assert_slack_payload(payload)
    kinds = [b["type"] for b in payload["blocks"]]
    images = [b for b in payload["blocks"] if b["type"] == "image"]
    assert [(i["image_url"], i["alt_text"]) for i in images] == [
        ("https://example.org/arch.png", "Orca-7 architecture"),
        ("https://example.org/bench.png", "Orca-7 · Long files"),  # no alt: the part names it
    ]
    # each image right after the section of its part
    first = kinds.index("image")
    assert "linear cost" in payload["blocks"][first - 1]["text"]["text"]
    assert has_images(payload)
    linked = images_as_links(payload)
    assert not has_images(linked)
    assert_slack_payload(linked)
    assert len(linked["blocks"]) == len(payload["blocks"])
