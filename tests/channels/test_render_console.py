from __future__ import annotations

import re

from hypothesis import given, settings

from channels.console.render import BOLD, RESET, display_width, render_console
from digests.cards import model_card
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
from tests.channels.checks import NOT_WEB, message_st
from tests.channels.sample_items import hostile_model, long_model, pinging_messages
from tests.golden import check_golden

MESSAGE = Message(
    (
        Heading("模型 Title"),
        Paragraph((Span("bold", bold=True), Span(" and "), Span("site", url="https://x.org"))),
        BulletList(((Span("one"),), (Span("two\nlines"),))),
        Quote((Span("q1\nq2"),), expandable=True),
        Image("https://x.org/i.png", "chart"),
        Divider(),
        Context((Span("ctx"),)),
    )
)


def test_plain_structure() -> None:
    assert render_console(MESSAGE) == (
        "模型 Title\n" + "═" * 10 + "\n\nbold and site (https://x.org)\n\n• one\n• two\n  lines\n\n"
        "│ q1\n│ q2\n\n[image: chart] https://x.org/i.png\n\n" + "─" * 40 + "\n\nctx"
    )


def test_color_only_when_asked() -> None:
    assert "\x1b" not in render_console(MESSAGE)
    colored = render_console(MESSAGE, color=True)
    assert f"{BOLD}bold{RESET}" in colored
    assert f"{BOLD}模型 Title{RESET}" in colored


def test_link_whose_text_is_its_url_is_not_repeated() -> None:
    message = Message((Paragraph((Span("https://x.org", url="https://x.org"),)),))
    assert render_console(message) == "https://x.org"


def test_only_http_links_show_their_url() -> None:
    card, _, digest = (render_console(m) for m in pinging_messages())
    assert "• Hook: x and [y](javascript:alert(1)) and chat and mail, hi @channel" in card
    assert "see ok (https://example.com/ok)" in card
    assert "resolve?domain=a" not in card
    assert "slack:" not in card
    assert "mailto:" not in card
    assert "Ping-Model\n" in digest
    assert "Good-Model (https://example.com/good)" in digest
    assert render_console(NOT_WEB) == "x m j"


def test_report_control_characters_are_dropped() -> None:
    text = render_console(model_card(hostile_model()), color=False)
    assert "\x1b" not in text
    assert "\x00" not in text
    assert "\x07" not in text
    assert "<!channel>" in text  # the console shows text as written


def test_display_width_counts_wide_characters() -> None:
    assert display_width("ab") == 2
    assert display_width("中文") == 4
    assert display_width("🚀") == 2


def test_long_card_golden() -> None:
    check_golden("long_model.console.txt", render_console(model_card(long_model())))


@settings(max_examples=100, deadline=None)
@given(message_st)
def test_any_message_is_clean_text(message: Message) -> None:
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", render_console(message))
