from __future__ import annotations

import json
import re

from hypothesis import given, settings

from channels.slack.render import (
    MAX_MESSAGE_CHARS,
    MAX_SECTION_CHARS,
    escape,
    images_as_links,
    render_slack,
)
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
    assert_slack_payload,
    assert_web_links_only,
    message_st,
    reads,
)
from tests.channels.sample_items import hostile_model, long_model, paper, pinging_messages
from tests.golden import check_golden


def _texts(payloads: list[dict]) -> str:
    return json.dumps(payloads, ensure_ascii=False)


def test_blocks_and_mrkdwn() -> None:
    message = Message(
        (
            Heading("Title & co"),
            Paragraph(
                (
                    Span(" bold ", bold=True),
                    Span("it", italic=True),
                    Span("c", code=True),
                    Span("a|b", url="https://x.org/?q=a|b&c=1"),
                )
            ),
            BulletList(((Span("one"),), (Span("two"),))),
            Quote((Span("line 1\nline 2"),), expandable=True),
            Image("https://x.org/i.png", "chart"),
            Divider(),
            Context((Span("ctx"),)),
        )
    )
    (payload,) = render_slack(message)
    assert payload["unfurl_links"] is False
    assert payload["unfurl_media"] is False
    assert payload["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "Title &amp; co", "emoji": True}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": " *bold* _it_`c`<https://x.org/?q=a%7Cb&amp;c=1|a|b>",
            },
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": "• one\n• two"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "&gt; line 1\n&gt; line 2"}},
        {"type": "image", "image_url": "https://x.org/i.png", "alt_text": "chart"},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "ctx"}]},
    ]
    # images off (DIGESTBOT_IMAGES=false), or Slack could not fetch one: the figure is a link
    link = {"type": "section", "text": {"type": "mrkdwn", "text": "🖼 <https://x.org/i.png|chart>"}}
    assert render_slack(message, images=False)[0]["blocks"][4] == link
    assert images_as_links(payload)["blocks"][4] == link
    assert payload["text"].startswith("Title &amp; co")


def test_escaping_defuses_mentions_and_links() -> None:
    assert escape("<!channel> <@U123> <http://x|y> a & b") == (
        "&lt;!channel&gt; &lt;@\u2060U123&gt; &lt;http://x|y&gt; a &amp; b"
    )
    payloads = render_slack(model_card(hostile_model()))
    for payload in payloads:
        assert_slack_payload(payload)
    dump = _texts(payloads)
    # mrkdwn is parsed: mentions there are escaped. rich_text elements are literal text (a
    # mention or broadcast would be an element of its own type, which we never make).
    mrkdwn = json.dumps(_mrkdwn(payloads), ensure_ascii=False)
    assert "<!channel>" not in mrkdwn
    assert "<!here>" not in mrkdwn
    assert "<@U123>" not in mrkdwn
    assert "&lt;!channel&gt;" in mrkdwn
    assert "&lt;script&gt;" in mrkdwn
    assert "🚀" in dump
    assert "中文测试" in dump
    assert "\\u001b" not in dump
    rich = [b for p in payloads for b in p["blocks"] if b["type"] == "rich_text"]
    assert rich
    assert "<!channel>" in json.dumps(rich, ensure_ascii=False)  # shown as it was written


def test_report_links_are_http_only_and_mentions_are_defused() -> None:
    rendered = [render_slack(m) for m in pinging_messages()]
    for payloads in rendered:
        for payload in payloads:
            assert_slack_payload(payload)
        mrkdwn = "\n".join(_mrkdwn(payloads))
        rich = _leaves([b for p in payloads for b in p["blocks"] if b["type"] == "rich_text"])
        links = re.findall(r"<([^<>|]*)\|", mrkdwn) + [e["url"] for e in rich if "url" in e]
        assert_web_links_only(links)
        assert "<!" not in mrkdwn
        assert "<@" not in mrkdwn
        assert_no_live_mention(mrkdwn + "".join(e["text"] for e in rich))
    card, _, digest = ("\n".join(_mrkdwn(payloads)) for payloads in rendered)
    assert "*Hook*: x and [y](javascript:alert(1)) and chat and mail, hi" in card
    assert PINGS_AS_READ + "*boss*" in reads(card)
    assert "&lt;!here&gt; &lt;!channel&gt; &lt;@\u2060U123&gt;" in card
    assert "<https://example.com/ok|ok>" in card
    # styles next to CJK go as rich_text: its text elements are defused too
    rich = _leaves([b for b in rendered[1][0]["blocks"] if b["type"] == "rich_text"])
    assert [e["text"] for e in rich] == ["Hook", ": ", "视为", "可缓存", "的 z 与 @\u2060here"]
    assert "*<https://example.com/good|Good-Model>*" in digest


def test_links_outside_the_web_are_text() -> None:
    (payload,) = render_slack(NOT_WEB)
    assert payload["blocks"] == [{"type": "section", "text": {"type": "mrkdwn", "text": "x m *j*"}}]


def _leaves(blocks: list[dict]) -> list[dict]:
    """The text and link elements of rich_text blocks, in order."""
    found = []
    for element in blocks:
        found += _leaves(element["elements"]) if "elements" in element else [element]
    return found


def _mrkdwn(payloads: list[dict]) -> list[str]:
    texts = []
    for payload in payloads:
        texts.append(payload["text"])
        for block in payload["blocks"]:
            if block["type"] in ("section", "header"):
                texts.append(block["text"]["text"])
            elif block["type"] == "context":
                texts += [e["text"] for e in block["elements"]]
    return texts


def test_header_is_truncated_without_cutting_an_entity() -> None:
    (payload,) = render_slack(Message((Heading("&" * 200),)))
    text = payload["blocks"][0]["text"]["text"]
    assert len(text) <= 150
    assert text.endswith("&amp;…")


def test_long_section_is_split_at_lines() -> None:
    lines = "\n".join(f"line {n} " + "词" * 90 for n in range(80))
    (payload, *rest) = render_slack(Message((Paragraph((Span(lines),)),)))
    sections = [b["text"]["text"] for p in [payload, *rest] for b in p["blocks"]]
    assert len(sections) > 2
    assert all(len(s) <= MAX_SECTION_CHARS for s in sections)
    assert all(s.startswith("line ") for s in sections)


def test_long_card_splits_into_payloads() -> None:
    payloads = render_slack(model_card(long_model()))
    assert len(payloads) > 1
    for payload in payloads:
        assert_slack_payload(payload)
        total = sum(len(b.get("text", {}).get("text", "")) for b in payload["blocks"])
        assert total <= MAX_MESSAGE_CHARS
    check_golden("long_model.slack.json", json.dumps(payloads, ensure_ascii=False, indent=1))


def test_many_blocks_split_at_dividers() -> None:
    items = [paper(f"Paper {n}") for n in range(20)]  # 1 + 20 * 4 + 1 blocks in all
    payloads = render_slack(digest_message("The Chisel", "2026-01", items, remaining=0))
    assert len(payloads) == 2
    for payload in payloads:
        assert_slack_payload(payload)
        assert payload["blocks"][-1]["type"] == "context"  # ends with an entry's "More" line
        assert payload["blocks"][0]["type"] != "divider"


@settings(max_examples=150, deadline=None)
@given(message_st)
def test_any_message_renders_within_limits(message: Message) -> None:
    for payload in render_slack(message):
        assert_slack_payload(payload)
