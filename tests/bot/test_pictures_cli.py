"""`digestbot ask` shows where a reply's figure goes, and DIGESTBOT_IMAGES turns figures off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RADAR_DEC = "https://raw.githubusercontent.com/example/digestbot-assets/main/radar-2025-12.png"


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}, **env},
        cwd=REPO,
        timeout=120,
    )


def test_ask_shows_the_radar_with_the_highlights_and_the_setting_turns_it_off(
    tmp_path: Path,
) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'pix.db'}"}
    assert _cli(["ingest", str(REPO / "digests" / "samples")], env).returncode == 0
    done = _cli(["ask", "/highlights Dec 2025", "--format", "telegram"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"[link preview above the text: {RADAR_DEC}]")
    assert "<b>Highlights · 2025-12</b>" in done.stdout
    slack = json.loads(_cli(["ask", "/highlights 2025-12", "--format", "slack"], env).stdout)
    images = [b for p in slack for b in p["blocks"] if b["type"] == "image"]
    assert [i["image_url"] for i in images] == [RADAR_DEC]
    assert images[0]["alt_text"].startswith("Summary of December 2025 industry radar")

    off = {**env, "DIGESTBOT_IMAGES": "false"}
    done = _cli(["ask", "/highlights 2025-12", "--format", "telegram"], off)
    assert "[link preview" not in done.stdout
    assert RADAR_DEC in done.stdout  # the figure is still linked in the text
    slack = json.loads(_cli(["ask", "/highlights 2025-12", "--format", "slack"], off).stdout)
    assert not [b for p in slack for b in p["blocks"] if b["type"] == "image"]
