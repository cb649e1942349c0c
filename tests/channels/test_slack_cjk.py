"""Bold next to Chinese in Slack: over every card of the real report, no mrkdwn style marker
touches a CJK character (Slack would show the marker instead of the style)."""

from __future__ import annotations

import re
from pathlib import Path

from channels.slack.render import render_slack
from channels.slack.rich import CJK
from digests import cards, parse_report
from digests.message import Message, Paragraph, Span

MARKERS = "*_`~"
TOUCHING = re.compile(rf"(?:{CJK.pattern})[{MARKERS}]|[{MARKERS}](?:{CJK.pattern})")


def mrkdwn_texts(message: Message) -> list[str]:
    texts = []
    for payload in render_slack(message):
        for block in payload["blocks"]:
            if block["type"] == "section":
                texts.append(block["text"]["text"])
            elif block["type"] == "context":
                texts += [e["text"] for e in block["elements"]]
    return texts


def rich_leaves(message: Message) -> list[dict]:
    leaves = []
    for payload in render_slack(message):
        stack = [b for b in payload["blocks"] if b["type"] == "rich_text"][::-1]
        while stack:
            element = stack.pop()
            if "elements" in element:
                stack.extend(element["elements"][::-1])
            else:
                leaves.append(element)
    return leaves


def test_no_marker_touches_cjk_in_any_card_of_the_real_report(seed_path: Path) -> None:
    report = parse_report(seed_path.read_bytes(), str(seed_path))
    bold_cjk = 0
    for item in report.items:
        for message in (cards.card(item), Message(cards.digest_entry(item))):
            for text in mrkdwn_texts(message):
                assert not TOUCHING.search(text), (item.title, TOUCHING.search(text), text)
            bold_cjk += sum(
                1
                for leaf in rich_leaves(message)
                if leaf.get("style", {}).get("bold") and CJK.search(leaf["text"])
            )
    # The styles are kept, not dropped: bold Chinese travels in rich_text elements.
    assert bold_cjk >= 26


def test_the_issue_example_is_bold_without_markers() -> None:
    message = Message((Paragraph((Span("视为"), Span("可缓存", bold=True), Span("的"))),))
    assert mrkdwn_texts(message) == []
    assert rich_leaves(message) == [
        {"type": "text", "text": "视为"},
        {"type": "text", "text": "可缓存", "style": {"bold": True}},
        {"type": "text", "text": "的"},
    ]


def test_latin_bold_between_spaces_stays_mrkdwn() -> None:
    message = Message((Paragraph((Span("a "), Span("bold", bold=True), Span(" word"))),))
    assert mrkdwn_texts(message) == ["a *bold* word"]
