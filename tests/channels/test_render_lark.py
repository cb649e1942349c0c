"""The Lark card renderer: pure, no SDK, no network."""

from __future__ import annotations

import json
import re
from html import unescape

from hypothesis import given, settings

from channels.lark.render import (
    MAX_CARD_BYTES,
    MAX_ELEMENT_CHARS,
    MAX_ELEMENTS,
    card_bytes,
    escape,
    render_lark,
)
from digests.message import (
    BulletList,
    Context,
    Divider,
    Heading,
    Image,
    Message,
    Paragraph,
    Quote,
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


def assert_card(card: dict) -> None:
    assert card_bytes(card) <= MAX_CARD_BYTES
    assert len(card["elements"]) <= MAX_ELEMENTS
    for element in card["elements"]:
        assert element["tag"] in ("markdown", "hr", "note", "action")
        if element["tag"] == "action":  # a row of buttons, each with its label
            assert element["actions"]
            assert all(b["tag"] == "button" and b["text"]["content"] for b in element["actions"])
        if element["tag"] == "markdown":
            assert element["content"].strip()
            assert len(element["content"]) <= MAX_ELEMENT_CHARS
            # Report text never becomes markup: no raw tag can open.
            assert "<" not in element["content"]
    header = card.get("header")
    if header is not None:
        assert 0 < len(header["title"]["content"]) <= 100


def test_card_layout() -> None:
    message = Message(
        (
            Heading("GLM-4.7 & co"),
            Paragraph(
                (
                    Span("bold", bold=True),
                    Span(" it", italic=True),
                    Span("x", url="https://x.org/a(b)"),
                )
            ),
            BulletList(((Span("one"),), (Span("two"),))),
            Quote((Span("q1\nq2"),)),
            Image("https://x.org/i.png", "chart"),
            Divider(),
            Context((Span("2026-01 · /model GLM-4.7"),)),
        )
    )
    (card,) = render_lark(message)
    assert card["header"] == {
        "title": {"tag": "plain_text", "content": "GLM-4.7 & co"},
        "template": "blue",
    }
    assert card["elements"] == [
        {"tag": "markdown", "content": "**bold** *it*[x](https://x.org/a%28b%29)"},
        {"tag": "markdown", "content": "• one\n• two"},
        {"tag": "markdown", "content": "┃ q1\n┃ q2"},
        {"tag": "markdown", "content": "🖼 [chart](https://x.org/i.png)"},
        {"tag": "hr"},
        {"tag": "note", "elements": [{"tag": "plain_text", "content": "2026-01 · /model GLM-4.7"}]},
    ]


def test_report_text_cannot_mention_or_style() -> None:
    assert escape("<at id=all></at> **x** [a](b) _y_ ~z~ `c` \\") == (
        "&lt;at id=all&gt;&lt;/at&gt; &#42;&#42;x&#42;&#42; &#91;a&#93;(b) &#95;y&#95; "
        "&#126;z&#126; &#96;c&#96; &#92;"
    )


def test_report_links_are_http_only_and_mentions_are_defused() -> None:
    rendered = [render_lark(m) for m in pinging_messages()]
    texts = []
    for cards in rendered:
        for card in cards:
            assert_card(card)
        content = json.dumps(cards, ensure_ascii=False)
        links = re.findall(r"\]\(([^)]*)\)", content)
        assert_web_links_only(links)
        shown = unescape(content)  # what the card shows: entities are characters
        assert_no_live_mention(shown)
        texts.append(shown)
    card, good, digest = texts
    assert_markdown_hygiene(card, good, digest)


def test_links_outside_the_web_are_text() -> None:
    [card] = render_lark(NOT_WEB)
    assert card["elements"] == [{"tag": "markdown", "content": "x m **j**"}]


def test_long_message_splits_into_cards_within_limits() -> None:
    items = []
    for i in range(30):
        items += [Heading(f"第 {i} 项"), Paragraph((Span("蒸馏与强化学习 " * 200),)), Divider()]
    cards = render_lark(Message(tuple(items)))
    assert len(cards) > 1
    for card in cards:
        assert_card(card)
    text = json.dumps(cards, ensure_ascii=False)
    assert all(f"第 {i} 项" in text for i in range(30))


def test_empty_message_renders_nothing() -> None:
    assert render_lark(Message((Paragraph((Span("  "),)),))) == []


@settings(max_examples=60, deadline=None)
@given(message_st)
def test_any_message_renders_within_limits(message: Message) -> None:
    for card in render_lark(message):
        assert_card(card)
