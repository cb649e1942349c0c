"""One line for every failure at the edges, through the real command line in subprocesses."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bot.test_run import REPO, _run
from tests.conftest import SAMPLES

pytestmark = pytest.mark.slow


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize("args", [["run"], ["db", "upgrade"], ["reports"], ["ask", "/themes"]])
def test_unreachable_database(args: list[str]) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"postgresql://u@127.0.0.1:{_closed_port()}/x"}
    line = _one_line(_run(args, env))
    assert line.startswith("digestbot: database failed (connection failed")
    assert "DIGESTBOT_DATABASE_URL" in line


def test_read_only_database(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    db.touch()
    # SQLite's own read-only mode: the same failure as a read-only file or file system.
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///file:{db}?mode=ro&uri=true"}
    for args in (["run"], ["db", "upgrade"], ["ingest", str(SAMPLES)]):
        line = _one_line(_run(args, env))
        assert "read-only" in line, line


def test_database_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'afile' / 'db.sqlite'}"}
    line = _one_line(_run(["reports"], env))
    assert (
        line
        == f"digestbot: {tmp_path / 'afile'} is a file where a folder is needed; check the path"
    )


def test_config_that_is_a_folder_or_binary(tmp_path: Path) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    line = _one_line(_run(["--config", str(tmp_path), "reports"], env))
    assert line == f"digestbot: config file {tmp_path} is a folder; name a TOML file"
    binary = tmp_path / "conf.toml"
    binary.write_bytes(bytes(range(256)))
    line = _one_line(_run(["--config", str(binary), "run"], env))
    assert line == f"digestbot: config file {binary} is not text (expected TOML)"


def test_platform_unreachable_at_start(tmp_path: Path) -> None:
    env = {
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "DIGESTBOT_TELEGRAM_TOKEN": "123456:secret-token-value",
        "DIGESTBOT_TELEGRAM_API_URL": f"http://127.0.0.1:{_closed_port()}/bot",
        "DIGESTBOT_HTTP_PORT": "0",
        "DIGESTBOT_LOG_LEVEL": "WARNING",
    }
    line = _one_line(_run(["run"], env))
    assert line.startswith("digestbot: telegram could not start (NetworkError")
    assert "secret-token-value" not in line


def test_missing_reports_dir_is_a_one_line_warning(tmp_path: Path) -> None:
    env = {
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "DIGESTBOT_REPORTS_DIR": str(tmp_path / "nowhere"),
    }
    done = _run(["run"], env, stdin="/help\n")
    assert done.returncode == 0
    warnings = done.stderr.strip().splitlines()
    assert len(warnings) == 1
    assert "WARNING" in warnings[0]
    assert f"DIGESTBOT_REPORTS_DIR {tmp_path / 'nowhere'} is not a folder" in warnings[0]


def test_version_and_run_help() -> None:
    done = _run(["--version"], {})
    assert done.returncode == 0
    assert done.stdout.strip() == "digestbot 0.1.0"
    helped = _run(["run", "--help"], {})
    assert "Run the gateway (the console when no channel is configured)." in helped.stdout
    assert "DIGESTBOT_*" in helped.stdout
    assert "Apply migrations." in _run(["db", "upgrade", "--help"], {}).stdout


def test_ingest_json_without_dry_run_prints_what_was_stored(tmp_path: Path) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    done = _run(["ingest", "--json", str(SAMPLES / "2026-02.md")], env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["stored"] == "new"
    assert out["report"]["period"] == "2026-02"
    assert len(out["items"]) > 0
    again = json.loads(_run(["ingest", "--json", str(SAMPLES / "2026-02.md")], env).stdout)
    assert again["stored"] == "unchanged"


def _on_a_terminal(args: list[str], env: dict[str, str], typed: bytes = b"", code: int = 0) -> str:
    """Run the CLI with stdin, stdout and stderr on a pseudo-terminal; everything it showed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}, **env},
    )
    os.close(slave)
    if typed:
        os.write(master, typed)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=30)
    os.close(master)
    assert proc.returncode == code, seen
    return seen.decode("utf-8", "replace").replace("\r\n", "\n")


def test_console_greets_and_prompts_on_a_terminal(tmp_path: Path) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    shown = _on_a_terminal(["run"], env, typed=b"/themes\n\x04")
    greeting = [line for line in shown.splitlines() if line.startswith("digestbot on the console")]
    assert len(greeting) == 1
    assert "> " in shown
    assert "Themes" in shown


def test_console_greets_in_the_terminals_language(tmp_path: Path) -> None:
    env = {
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "LC_ALL": "",
        "LC_MESSAGES": "",
        "LANG": "zh_CN.UTF-8",
    }
    shown = _on_a_terminal(["run"], env, typed=b"/themes\n\x04")
    greeting = [line for line in shown.splitlines() if line.startswith("digestbot 控制台")]
    assert len(greeting) == 1, shown
    assert "digestbot on the console" not in shown
    assert (
        "输入编号进行选择。" in shown
    )  # /themes offers buttons: the hint to choose is Chinese too


def test_folder_ingest_on_a_terminal_keeps_each_files_line(tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    for sample in SAMPLES.glob("*.md"):
        (folder / sample.name).write_bytes(sample.read_bytes())
    (folder / "empty.md").write_text("")
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    shown = _on_a_terminal(["ingest", str(folder), str(tmp_path / "gone.md")], env, code=1)
    lines = [line.split("\r")[-1] for line in shown.splitlines()]
    assert any(line.startswith(f"{folder / '2025-12.md'}: 2025-12 new month") for line in lines)
    assert any(line.startswith(f"{folder / '2026-02.md'}: 2026-02 new month") for line in lines)
    assert sum("rejected" in line and "empty.md" in line for line in lines) == 1
    assert sum("gone.md: no such file or folder" in line for line in lines) == 1
    assert any(line.startswith("2 files (2 stored, 0 unchanged)") for line in lines)
    assert any(line.rstrip().endswith("2 rejected") for line in lines)
