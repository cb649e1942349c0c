"""Numbered choices on the console: `digestbot run`, typing a number presses that button."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_console(tmp_path: Path, lines: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")},
            "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}",
        },
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_typing_a_number_presses_the_button(tmp_path: Path) -> None:
    out = run_console(tmp_path, ["/themes", "1", "/digest clay", "2", "2", "/status", "99"])
    assert "[1] Subscribe: chisel" in out
    assert "Type a number to choose." in out
    assert "Subscribed this chat to" in out  # 1 on /themes
    assert "[1] Details: GLM-4.7   [2] 👍   [3] 👎" in out
    assert "Thanks: 👍 noted for “GLM-4.7”." in out
    # the notice kept the digest's choices: 2 again is the same 👍
    assert "You said 👍 to “GLM-4.7” already." in out
    assert "Feedback: 1 👍, 0 👎 on 1 item from 1 chat" in out
    # a number with no such choice is text, answered as text is
    assert "I don't know" in out or "Send /help" in out
