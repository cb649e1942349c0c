from __future__ import annotations

import re
from html import unescape

import pytest
from hypothesis import given, settings

from channels.layout import utf16_len
from channels.telegram.render import render_telegram, telegram_send_kwargs
from digests.cards import digest_message, model_card
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
    PINGS_AS_READ,
    assert_no_live_mention,
    assert_telegram_html,
    assert_web_links_only,
    message_st,
    reads,
)
from tests.channels.sample_items import HOSTILE, hostile_model, long_model, paper, pinging_messages
from tests.golden import check_golden

MARKER = re.compile(r"\n\n<i>\((\d+)/(\d+)\)</i>$")


def test_styles_links_and_blocks() -> None:
    message = Message(
        (
            Heading("Title"),
            Paragraph((Span("b", bold=True), Span("i", italic=True), Span("c", code=True))),
            Paragraph((Span("link", bold=True, url="https://x.org/?a=1&b=2"),)),
            BulletList(((Span("one"),), (Span("two"),))),
            Quote((Span("folded"),), expandable=True),
            Quote((Span("plain"),)),
            Image("https://x.org/i.png", "chart"),
            Divider(),
            Context((Span("ctx"), Span("it", italic=True))),
        )
    )
    (html,) = render_telegram(message)
    assert html == (
        "<b>Title</b>\n\n<b>b</b><i>i</i><code>c</code>\n\n"
        '<a href="https://x.org/?a=1&amp;b=2"><b>link</b></a>\n\n'
        "• one\n• two\n\n<blockquote expandable>folded</blockquote>\n\n"
        '<blockquote>plain</blockquote>\n\n🖼 <a href="https://x.org/i.png">chart</a>\n\n'
        "────────\n\n<i>ctxit</i>"
    )


def test_hostile_text_is_escaped() -> None:
    pages = render_telegram(model_card(hostile_model()))
    html = "\n".join(pages)
    for page in pages:
        assert_telegram_html(page)
    assert "&lt;!channel&gt;" in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; &lt;!here&gt; 🚀" in html
    assert 'href="https://example.com/m?x=1&amp;y=&quot;2&quot;"' in html
    assert "中文测试" in html
    assert "\x1b" not in html
    assert "\x00" not in html


def test_unsafe_urls_are_not_linked() -> None:
    (html,) = render_telegram(Message((Paragraph((Span("x", url='javascript:alert("1")'),)),)))
    assert html == "x"
    assert render_telegram(NOT_WEB) == ["x m<b> j</b>"]


def test_report_links_are_http_only_and_mentions_are_defused() -> None:
    rendered = [render_telegram(m) for m in pinging_messages()]
    for page in (page for pages in rendered for page in pages):
        assert_telegram_html(page)
        hrefs = re.findall(r'<a href="([^"]*)"', page)
        assert_web_links_only(hrefs)
        assert_no_live_mention(unescape(page))
    card, good, digest = ("".join(pages) for pages in rendered)
    # tg://, slack://, mailto: and javascript: links keep their text alone; https still links
    assert "<b>Hook</b>: x and [y](javascript:alert(1)) and chat and mail, hi" in card
    assert PINGS_AS_READ + "<b>boss</b>" in reads(card)
    assert "&lt;!here&gt; &lt;!channel&gt; &lt;@\u2060U123&gt;" in card
    assert '<a href="https://example.com/ok">ok</a>' in card
    assert "的 z 与 @\u2060here" in good
    assert "<b>Ping-Model</b>" in digest
    assert '<a href="https://example.com/good"><b>Good-Model</b></a>' in digest


def test_bot_commands_and_addresses_keep_their_at() -> None:
    # Telegram links /digest@digestbot as a command and a@b.org as an address: neither mentions
    # anyone, so no word joiner breaks them.
    (html,) = render_telegram(Message.text("/digest@digestbot clay · a@b.org · @alice"))
    assert html == "/digest@digestbot clay · a@b.org · @\u2060alice"


def test_long_card_splits_with_markers() -> None:
    item = long_model()
    pages = render_telegram(model_card(item))
    assert len(pages) >= 3
    for n, page in enumerate(pages, 1):
        assert_telegram_html(page)
        match = MARKER.search(page)
        assert match
        assert match.groups() == (str(n), str(len(pages)))
    # Nothing lost: every part label appears, in order.
    joined = "".join(pages)
    at = 0
    for part in item.parts:
        at = joined.find(part.label, at)
        assert at != -1, part.label
    check_golden("long_model.telegram.html", "\n\n=====\n\n".join(pages))


def test_short_message_has_no_marker() -> None:
    (html,) = render_telegram(model_card(paper("GAD: Black-Box On-Policy Distillation")))
    assert not MARKER.search(html)


def test_digest_splits_at_item_boundaries() -> None:
    items = [paper(f"Paper {n}: " + "词" * 300, summary="摘要。" * 200) for n in range(12)]
    pages = render_telegram(digest_message("The Chisel", "2026-01", items, remaining=3))
    assert len(pages) > 1
    for page in pages:
        assert_telegram_html(page)
        body = MARKER.sub("", page)
        # Each page ends at the end of an entry (its "More" hint), not in the middle.
        assert body.rstrip().endswith("</i>")
        assert not body.startswith("────────")


def test_emoji_at_split_point_is_kept_whole() -> None:
    text = "a" * 4071 + "🚀" * 40  # the budget runs out inside the emoji run
    pages = render_telegram(Message((Paragraph((Span(text),)),)))
    assert len(pages) == 2
    for page in pages:
        assert_telegram_html(page)
    assert "".join(MARKER.sub("", p) for p in pages) == text


def test_oversized_tagged_block_is_closed_and_reopened() -> None:
    words = " ".join(["粗体word"] * 1500)
    pages = render_telegram(Message((Quote((Span(words, bold=True),), expandable=True),)))
    assert len(pages) > 1
    for page in pages:
        assert_telegram_html(page)
        assert page.startswith("<blockquote expandable><b>")
        assert MARKER.sub("", page).endswith("</b></blockquote>")


def test_limit_is_respected_and_validated() -> None:
    pages = render_telegram(Message.text(HOSTILE * 20), limit=500)
    assert len(pages) > 1
    assert all(utf16_len(p) <= 500 for p in pages)
    with pytest.raises(ValueError, match="limit"):
        render_telegram(Message.text("x"), limit=10)


def test_empty_message_renders_nothing() -> None:
    assert render_telegram(Message((Divider(), Paragraph((Span("  \n"),)), Heading("")))) == []


def test_send_kwargs() -> None:
    assert telegram_send_kwargs(Message.text("x")) == {
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    assert telegram_send_kwargs(Message((), link_preview=True))["disable_web_page_preview"] is False


@settings(max_examples=150, deadline=None)
@given(message_st)
def test_any_message_renders_within_limits(message: Message) -> None:
    pages = render_telegram(message)
    for page in pages:
        assert_telegram_html(page)
    if len(pages) > 1:
        assert all(MARKER.search(p) for p in pages)
