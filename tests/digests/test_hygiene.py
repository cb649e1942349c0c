"""Text hygiene in one place: the parser, every chat renderer and the bot's own lines drop the
same invisible characters, and keep emoji sequences whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from channels.console.render import render_console
from channels.discord.render import render_discord
from channels.lark.render import render_lark
from channels.slack.render import render_slack
from channels.telegram.render import render_telegram_parts
from digests.hygiene import clean_text
from digests.message import Actions, Button, Heading, Message, Paragraph, Span
from digests.parser import ReportError, parse_report

REPO = Path(__file__).resolve().parents[2]

# Each of these shows nothing in a chat, or turns text around, or hides inside a name.
INVISIBLE = {
    "hangul filler": "\u3164",
    "halfwidth hangul filler": "\uffa0",
    "tag letter": "\U000e0041",
    "cancel tag": "\U000e007f",
    "annotation anchor": "\ufff9",
    "annotation terminator": "\ufffb",
    "soft hyphen": "\u00ad",
    "mongolian vowel separator": "\u180e",
    "combining grapheme joiner": "\u034f",
    "braille blank": "\u2800",
    "function application": "\u2061",
    "invisible plus": "\u2064",
    "lone zero-width joiner": "\u200d",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "zero-width space": "\u200b",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
}
EMOJI = {
    "technologist (ZWJ)": "👨\u200d💻",
    "rainbow flag (VS16 + ZWJ)": "🏳\ufe0f\u200d🌈",
    "heart on fire": "❤\ufe0f\u200d🔥",
    "skin tone + ZWJ": "🧑\U0001f3fd\u200d🚀",
    "flag of England (tags)": "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
    "keycap": "1\ufe0f\u20e3",
}


@pytest.mark.parametrize("name", INVISIBLE)
def test_every_invisible_character_is_dropped(name: str) -> None:
    ch = INVISIBLE[name]
    assert clean_text(f"Open{ch}AI o{ch}3") == "OpenAI o3"


@pytest.mark.parametrize("name", EMOJI)
def test_emoji_sequences_are_kept_whole(name: str) -> None:
    seq = EMOJI[name]
    assert clean_text(f"team {seq} ok") == f"team {seq} ok"


def test_a_joiner_between_letters_or_after_a_flag_is_dropped() -> None:
    assert clean_text("a\u200db 👨\u200d") == "ab 👨"
    assert clean_text("🏴\U000e0041") == "🏴"  # tags outside a complete flag sequence


def _hostile(ch: str) -> Message:
    return Message(
        (
            Heading(f"Model{ch} X"),
            Paragraph((Span(f"run{ch} now "), Span(f"b{ch}old", bold=True))),
            Actions((Button(f"More{ch}", command="/model X"),)),
        )
    )


def _rendered(message: Message) -> dict[str, str]:
    return {
        "telegram": json.dumps(
            [
                (p.text, [[b.label for b in row] for row in p.rows])
                for p in render_telegram_parts(message)
            ],
            ensure_ascii=False,
        ),
        "slack": json.dumps(render_slack(message), ensure_ascii=False),
        "lark": json.dumps(render_lark(message), ensure_ascii=False),
        "discord": json.dumps(render_discord(message), ensure_ascii=False),
        "console": render_console(message),
    }


@pytest.mark.parametrize("name", INVISIBLE)
def test_every_renderer_drops_them_from_whatever_it_renders(name: str) -> None:
    ch = INVISIBLE[name]
    for platform, text in _rendered(_hostile(ch)).items():
        assert ch not in text, (platform, name)
        assert "Model X" in text, platform


def test_every_renderer_keeps_emoji_sequences() -> None:
    for seq in EMOJI.values():
        for platform, text in _rendered(_hostile(seq)).items():
            assert f"Model{seq} X" in text, platform


def _report(*rows: str) -> str:
    head = "| 模型名称 | 核心技术创新 (Mechanism) |\n| --- | --- |"
    return "---\nperiod: 2026-01\n---\n\n# Log 2026-01\n\n" + "\n".join([head, *rows]) + "\n"


def test_the_parser_drops_them_and_keeps_emoji() -> None:
    row = "| X\u3164-1\u00ad | **Hook**：run \U000e0041\ufff9it\u2800 now 👨\u200d💻 \u200dend |"
    report = parse_report(_report(row))
    [item] = report.items
    assert item.title == "X-1"
    assert item.parts[0].text == "run it now 👨\u200d💻 end"


def test_an_item_titled_only_with_invisible_characters_is_a_warning() -> None:
    report = parse_report(_report("| \u3164 | **Hook**：hidden |", "| Y-2 | **Hook**：seen |"))
    assert [i.title for i in report.items] == ["Y-2"]
    assert [w.line for w in report.warnings if "not placed" in w.message] == [9]
    with pytest.raises(ReportError):
        parse_report(_report("| \u3164\u2800 | **Hook**：hidden |"))


def test_the_bots_own_lines_echoing_an_argument_are_cleaned(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")},
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
    }
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "ingest", str(REPO / "digests" / "samples")],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=120,
        check=True,
    )
    for fmt in ("telegram", "slack"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot.cli",
                "ask",
                "/model zz\u3164\u202eqq\u2800",
                "--format",
                fmt,
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "zzqq" in done.stdout, done.stdout
        for ch in ("\u3164", "\u202e", "\u2800"):
            assert ch not in done.stdout, (fmt, done.stdout)
