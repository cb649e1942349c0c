"""`digestbot run` on a fresh machine: the console, the samples, settings, health and metrics."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.gateway import Gateway
from bot.logs import Redactor
from bot.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}, **env},
        cwd=REPO,
        timeout=120,
    )


def test_console_on_a_fresh_database_uses_the_samples(tmp_path: Path) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    done = _run(["run"], env, stdin="/model GLM-4.7\n/themes\n/search 蒸馏\n")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum("ingested the bundled sample reports" in line for line in lines) == 1
    assert "GLM-4.7" in done.stdout
    assert "clay" in done.stdout
    assert "Traceback" not in done.stderr
    assert done.stderr == ""  # no log lines on the console unless asked for
    again = _run(["run"], env, stdin="/latest\n")
    assert again.returncode == 0
    assert "ingested the bundled sample reports" not in again.stdout


def test_default_database_lives_in_the_data_directory(tmp_path: Path) -> None:
    done = _run(["run"], {"XDG_DATA_HOME": str(tmp_path)}, stdin="/themes\n")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "digestbot" / "digestbot.db").exists()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DIGESTBOT_TIMEZONE": "Mars/Base"}, "DIGESTBOT_TIMEZONE"),
        ({"DIGESTBOT_HTTP_PORT": "http"}, "DIGESTBOT_HTTP_PORT"),
        ({"DIGESTBOT_ADMINS": "telegram"}, "DIGESTBOT_ADMINS"),
        ({"DIGESTBOT_SLACK_BOT_TOKEN": "xoxb-1"}, "DIGESTBOT_SLACK_APP_TOKEN"),
        ({"DIGESTBOT_DATABASE_URL": "mysql://x"}, "DIGESTBOT_DATABASE_URL"),
        (
            {
                "DIGESTBOT_TELEGRAM_TOKEN": "1:x",
                "DIGESTBOT_TELEGRAM_WEBHOOK_URL": "http://insecure",
            },
            "DIGESTBOT_TELEGRAM_WEBHOOK_URL",
        ),
        ({"DIGESTBOT_NO_SUCH_THING": "1"}, "DIGESTBOT_NO_SUCH_THING"),
    ],
)
def test_bad_setting_stops_run_with_one_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env}
    done = _run(["run"], env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert named in done.stderr
    assert "Traceback" not in done.stderr


def test_config_file_and_environment(tmp_path: Path) -> None:
    config = tmp_path / "digestbot.toml"
    config.write_text('timezone = "Asia/Shanghai"\ndigest_size = 3\n', encoding="utf-8")
    settings = load_settings(config, env={"DIGESTBOT_DIGEST_SIZE": "4"})
    assert settings.timezone == "Asia/Shanghai"
    assert settings.digest_size == 4
    config.write_text("timezone = [broken", encoding="utf-8")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config, env={})


def test_tokens_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(Redactor(["s3cr3t-signing"]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "calling https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe"
        )
        logger.warning("secret is %s and xoxb-1111-2222-abcdef", "s3cr3t-signing")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in text
    assert "s3cr3t-signing" not in text
    assert "xoxb-1111" not in text
    assert text.count("***") == 3


async def test_health_and_metrics(tmp_path: Path) -> None:
    settings = load_settings(
        env={
            "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
            "DIGESTBOT_HTTP_PORT": "0",
            "DIGESTBOT_HTTP_HOST": "127.0.0.1",
            "DIGESTBOT_CONSOLE": "false",
        }
    )
    gateway = Gateway(settings, stdout=io.StringIO())
    task = asyncio.create_task(gateway.run())
    try:
        for _ in range(200):
            if gateway.http is not None and gateway.http.port:
                break
            await asyncio.sleep(0.05)
        assert gateway.http is not None
        base = f"http://127.0.0.1:{gateway.http.port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        health = await resp.json()
                        status = resp.status
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            assert status == 200
            assert health["ok"] is True
            assert health["database"] is True
            async with http.get(f"{base}/metrics") as resp:
                body = await resp.text()
            assert resp.status == 200
            assert "# HELP digestbot_commands_total Commands answered" in body
            assert "digestbot_outbox_pending 0.0" in body
            assert "digestbot_chats_deactivated 0.0" in body
    finally:
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


async def test_reports_dir_is_ingested_and_watched(tmp_path: Path) -> None:
    from bot.store.store import Store

    samples = REPO / "digests" / "samples"
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "2025-12.md").write_bytes((samples / "2025-12.md").read_bytes())
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    settings = load_settings(
        env={
            "DIGESTBOT_DATABASE_URL": url,
            "DIGESTBOT_CONSOLE": "false",
            "DIGESTBOT_REPORTS_DIR": str(reports),
        }
    )
    gateway = Gateway(settings, stdout=io.StringIO(), watch_seconds=0.2)
    task = asyncio.create_task(gateway.run())
    store = Store.open(url)

    async def periods() -> list[str]:
        return sorted(r.period for r in await asyncio.to_thread(store.reports))

    try:
        for _ in range(200):
            if await periods() == ["2025-12"]:
                break  # the folder's report (and no bundled samples: this is not the console)
            await asyncio.sleep(0.05)
        await asyncio.to_thread(
            (reports / "2026-03.md").write_bytes,
            (samples / "2026-02.md").read_bytes().replace(b"2026-02", b"2026-03"),
        )
        for _ in range(200):
            if "2026-03" in await periods():
                break
            await asyncio.sleep(0.05)
        assert await periods() == ["2025-12", "2026-03"]
    finally:
        store.close()
        gateway.stopping.set()
        assert await asyncio.wait_for(task, 30) == 0


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    env = {
        "DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}",
        "DIGESTBOT_LOG_FORMAT": "json",
        "DIGESTBOT_LOG_LEVEL": "INFO",  # the console alone logs warnings only by default
    }
    done = _run(["run"], env, stdin="/themes\n")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines
    events = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "event"} <= set(e) for e in events)
    assert any(e["event"].startswith("channel console started") for e in events)


@pytest.mark.parametrize("fmt", ["text", "telegram", "slack"])
def test_ask_renders_each_format_without_the_chat_sdks(tmp_path: Path, fmt: str) -> None:
    env = {"DIGESTBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'ask.db'}"}
    assert _run(["ingest", str(REPO / "digests" / "samples")], env).returncode == 0
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        f"code = main(['ask', '/model glm 4.7', '--format', '{fmt}'])\n"
        "sdks = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('telegram', 'slack_sdk', 'slack_bolt', 'aiohttp'))\n"
        "print('SDKS', sdks, code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_")}, **env},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("SDKS [] 0")
    out = done.stdout
    if fmt == "telegram":
        assert "<b>GLM-4.7</b>" in out
    elif fmt == "slack":
        payloads = json.loads(out[: out.rindex("SDKS")])
        assert payloads[0]["blocks"][0] == {
            "type": "header",
            "text": {"type": "plain_text", "text": "GLM-4.7", "emoji": True},
        }
        assert payloads[0]["text"].startswith("GLM-4.7")
    else:
        assert out.startswith("GLM-4.7\n")


async def test_command_metrics_have_few_labels(tmp_path: Path) -> None:
    from bot.commands.dispatch import Dispatcher
    from bot.commands.services import Services
    from bot.metrics import Metrics
    from bot.store.store import Store
    from channels.base import Incoming

    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    metrics = Metrics()
    handler = Dispatcher(Services(store=store), metrics=metrics)
    for text in ("/themes", "/themes@digestbot_bot", "/start", "/zzz-random-1", "/zzz-random-2"):
        await handler.on_command(Incoming("console", "c", "c", text, chat_kind="console"))
    store.close()
    body = metrics.render().decode()
    assert 'digestbot_commands_total{command="themes",platform="console"} 2.0' in body
    assert 'digestbot_commands_total{command="help",platform="console"} 1.0' in body
    assert 'digestbot_commands_total{command="other",platform="console"} 2.0' in body
    assert "zzz" not in body
