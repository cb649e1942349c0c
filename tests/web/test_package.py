"""A non-editable install carries the web face's templates and stylesheet."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.web.site import REPO


@pytest.mark.slow
def test_the_wheel_ships_the_templates(tmp_path: Path) -> None:
    # Built from a copy: setuptools leaves a build/ folder next to the sources.
    source = tmp_path / "src"
    for name in ("bot", "channels", "digests"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("digestbot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {p.name for p in (REPO / "bot" / "web" / "templates").glob("*.html")}
    assert templates >= {"base.html", "report.html", "item.html", "theme.html", "search.html"}
    assert {f"bot/web/templates/{t}" for t in templates} <= names
    assert "bot/web/static/web.css" in names
