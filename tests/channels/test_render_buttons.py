"""Buttons in every renderer: Telegram keyboards, Slack actions, numbered console choices."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.console.render import render_console
from channels.slack.render import render_slack
from channels.telegram.render import render_telegram, render_telegram_parts
from digests.message import (
    Actions,
    Button,
    Divider,
    Message,
    Paragraph,
    Span,
    message_from_json,
    message_to_json,
)
from tests.channels.checks import assert_slack_payload, message_st

ROW = Actions((Button("Details: GLM-4.7", "/model GLM-4.7"), Button("👍", "/feedback 1 up")))
MORE = Actions((Button("More", "/more /model GLM-4.7", "primary"),))


def message(*blocks: object) -> Message:
    return Message(tuple(blocks))  # type: ignore[arg-type]


def test_telegram_keyboard_rows_go_with_their_part() -> None:
    long = Paragraph((Span("词" * 3000),))
    parts = render_telegram_parts(message(long, ROW, Divider(), long, MORE))
    assert len(parts) == 2
    assert [[b.label for b in row] for row in parts[0].rows] == [["Details: GLM-4.7", "👍"]]
    assert [[b.command for b in row] for row in parts[1].rows] == [["/more /model GLM-4.7"]]
    # the text is what it was without buttons
    assert render_telegram(message(long, ROW, Divider(), long, MORE)) == [p.text for p in parts]


def test_telegram_buttons_alone_on_a_page_join_the_part_before() -> None:
    parts = render_telegram_parts(message(Paragraph((Span("text"),)), Divider(), ROW))
    assert len(parts) == 1
    assert len(parts[0].rows) == 1


def test_telegram_long_labels_get_a_row_each() -> None:
    pick = Actions(tuple(Button(f"A long paper title number {n}", f"/paper {n}") for n in range(3)))
    (part,) = render_telegram_parts(message(Paragraph((Span("Which one?"),)), pick))
    assert [len(row) for row in part.rows] == [1, 1, 1]


def test_slack_buttons_carry_their_command_with_unique_ids() -> None:
    (payload,) = render_slack(message(Paragraph((Span("x"),)), ROW, MORE))
    assert_slack_payload(payload)
    actions = [b for b in payload["blocks"] if b["type"] == "actions"]
    elements = [e for block in actions for e in block["elements"]]
    assert [e["value"] for e in elements] == [
        "/model GLM-4.7",
        "/feedback 1 up",
        "/more /model GLM-4.7",
    ]
    assert [e["action_id"] for e in elements] == ["digestbot-0", "digestbot-1", "digestbot-2"]
    assert elements[2]["style"] == "primary"
    assert "style" not in elements[0]


def test_console_numbers_choices_over_the_whole_message() -> None:
    text = render_console(message(Paragraph((Span("x"),)), ROW, Divider(), MORE))
    assert "[1] Details: GLM-4.7   [2] 👍" in text
    assert "[3] More" in text


def test_buttons_and_reply_flags_survive_the_outbox() -> None:
    original = Message(
        (Paragraph((Span("x"),)), ROW, MORE, Actions((Button("Web", "", url="https://x.org/a"),))),
        edit=True,
        notice=True,
        thread=("/model GLM-4.7",),
        web_url="https://digest.example.com/web/items/model/glm47",
        web_label="在网页上打开",
    )
    assert message_from_json(message_to_json(original)) == original


buttons_st = st.builds(
    Actions,
    st.lists(
        st.builds(Button, st.text(min_size=1, max_size=90), st.text(min_size=1, max_size=80)),
        min_size=1,
        max_size=30,
    ).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(message_st, st.lists(buttons_st, max_size=3))
def test_any_message_with_buttons_renders_within_limits(base: Message, rows: list) -> None:
    with_buttons = Message((*base.blocks, *rows))
    for payload in render_slack(with_buttons):
        assert_slack_payload(payload)
    parts = render_telegram_parts(with_buttons)
    shown = [b for part in parts for row in part.rows for b in row]
    if parts:
        assert len(shown) == sum(len(r.buttons) for r in rows)
