"""The Discord embed renderer: pure, no discord.py, no network."""

from __future__ import annotations

import re

from hypothesis import given, settings

from channels.discord.render import (
    MAX_DESCRIPTION,
    MAX_EMBEDS,
    MAX_FOOTER,
    MAX_MESSAGE_CHARS,
    MAX_TITLE,
    embed_chars,
    escape,
    render_discord,
)
from digests.message import (
    BulletList,
    Context,
    Divider,
    Heading,
    Image,
    Message,
    Paragraph,
    Span,
)
from tests.channels.checks import (
    NOT_WEB,
    assert_markdown_hygiene,
    assert_no_live_mention,
    assert_web_links_only,
    message_st,
)
from tests.channels.sample_items import pinging_messages


def assert_payload(payload: dict) -> None:
    embeds = payload["embeds"]
    assert 0 < len(embeds) <= MAX_EMBEDS
    assert sum(embed_chars(e) for e in embeds) <= MAX_MESSAGE_CHARS
    assert "content" not in payload
    for embed in embeds:
        assert len(embed.get("title", "")) <= MAX_TITLE
        assert len(embed.get("description", "")) <= MAX_DESCRIPTION
        assert len(embed.get("footer", {}).get("text", "")) <= MAX_FOOTER
        assert embed_chars(embed) > 0 or "image" in embed
        if "image" in embed:
            assert embed["image"]["url"].startswith(("http://", "https://"))


def test_one_embed_per_item_with_title_and_footer() -> None:
    message = Message(
        (
            Heading("GLM-4.7"),
            Paragraph((Span("open weights", bold=True), Span(" link", url="https://x.org/a(b)"))),
            BulletList(((Span("one"),),)),
            Context((Span("2026-01"),)),
            Divider(),
            Heading("Kimi-K2"),
            Paragraph((Span("- not a list, #not a heading"),)),
        )
    )
    (payload,) = render_discord(message)
    first, second = payload["embeds"]
    assert first["title"] == "GLM-4.7"
    assert first["description"] == "**open weights**[link](https://x.org/a%28b%29)\n\n• one"
    assert first["footer"] == {"text": "2026-01"}
    assert second["title"] == "Kimi-K2"
    assert second["description"] == "\\- not a list, #not a heading"


def test_report_text_cannot_ping_or_style() -> None:
    assert escape("@everyone <@123> **x** `c` ~y~ |z|") == (
        "\\@\u2060everyone \\<\\@\u2060123\\> \\*\\*x\\*\\* \\`c\\` \\~y\\~ \\|z\\|"
    )
    assert escape("# h\n> q") == "\\# h\n\\> q"


def test_report_links_are_http_only_and_mentions_are_defused() -> None:
    rendered = [render_discord(m) for m in pinging_messages()]
    texts = []
    for payloads in rendered:
        embeds = [e for p in payloads for e in p["embeds"]]
        for payload in payloads:
            assert_payload(payload)
        fields = [e.get("title", "") for e in embeds] + [
            e.get("footer", {}).get("text", "") for e in embeds
        ]
        description = "\n".join(e.get("description", "") for e in embeds)
        links = re.findall(r"(?<!\\)\]\(([^)]*)\)", description)
        assert_web_links_only(links)
        # markdown shows a backslash-escaped character as itself
        shown = re.sub(r"\\(.)", r"\1", description)
        assert_no_live_mention(shown + "".join(fields))
        texts.append(shown)
    card, good, digest = texts
    assert_markdown_hygiene(card, good, digest)


def test_links_outside_the_web_are_text() -> None:
    [payload] = render_discord(NOT_WEB)
    assert payload["embeds"][0]["description"] == "x m **j**"


def test_long_digest_splits_within_limits() -> None:
    blocks = []
    for i in range(25):
        blocks += [Heading(f"item {i}"), Paragraph((Span("蒸馏 " * 900),)), Divider()]
    payloads = render_discord(Message(tuple(blocks)))
    assert len(payloads) > 2
    for payload in payloads:
        assert_payload(payload)
    titles = [e.get("title") for p in payloads for e in p["embeds"]]
    assert all(f"item {i}" in titles for i in range(25))


@settings(max_examples=60, deadline=None)
@given(message_st)
def test_any_message_renders_within_limits(message: Message) -> None:
    for payload in render_discord(message):
        assert_payload(payload)


def test_code_spans_are_not_backslash_escaped() -> None:
    (payload,) = render_discord(Message((Paragraph((Span("a<b> `x`", code=True),)),)))
    assert payload["embeds"][0]["description"] == "`a<b> ˋxˋ`"


def test_an_items_first_figure_is_the_embed_image_unless_images_are_off() -> None:
    message = Message(
        (
            Heading("Radar"),
            Image("https://x.org/radar.png", "the radar"),
            Image("https://x.org/second.png", "second"),
            Divider(),
            Heading("Next"),
        )
    )
    (payload,) = render_discord(message)
    first = payload["embeds"][0]
    assert first["image"] == {"url": "https://x.org/radar.png"}
    assert "radar.png" not in first["description"]
    assert "second.png" in first["description"]
    (plain,) = render_discord(message, images=False)
    assert "image" not in plain["embeds"][0]
    assert "radar.png" in plain["embeds"][0]["description"]
