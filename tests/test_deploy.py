"""The files in deploy/ are checked as far as this machine allows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.commands.dispatch import default_commands

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_slack_manifest_names_every_command_the_bot_serves() -> None:
    manifest = yaml.safe_load((DEPLOY / "slack-manifest.yaml").read_text(encoding="utf-8"))
    declared = {c["command"].lstrip("/") for c in manifest["features"]["slash_commands"]}
    served = {spec.name for spec in default_commands()}
    assert served == declared
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "app_mentions:read", "files:read", "im:history"} <= scopes
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im"} <= events


def test_compose_file_has_gateway_and_postgres() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "gateway"} <= set(services)
    gateway = services["gateway"]
    assert gateway["environment"]["DIGESTBOT_DATABASE_URL"].startswith("postgresql://")
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pgdata" in compose["volumes"]
    scaled = [name for name, s in services.items() if "scale" in s.get("profiles", [])]
    assert {"gateway-2", "proxy"} <= set(scaled)


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert text.count("FROM ") >= 2
    assert "\nUSER digestbot" in text
    assert "HEALTHCHECK" in text
    assert "/healthz" in text
    assert "digestbot db upgrade" in text


def test_env_example_names_only_known_settings() -> None:
    from bot.settings import Settings

    known = {f"DIGESTBOT_{name.upper()}" for name in Settings.model_fields}
    names = set()
    for line in (DEPLOY / "digestbot.env.example").read_text(encoding="utf-8").splitlines():
        line = line.lstrip("# ").strip()
        if line.startswith("DIGESTBOT_") and "=" in line:
            names.add(line.split("=", 1)[0])
    assert names
    assert names <= known


def test_systemd_unit() -> None:
    unit = DEPLOY / "digestbot.service"
    text = unit.read_text(encoding="utf-8")
    assert "ExecStart=" in text
    assert "digestbot run" in text
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here; the unit's text was checked")
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
    # The unit names a binary under /opt that this machine does not have; anything else fails.
    problems = [
        line
        for line in done.stderr.splitlines()
        if line.strip() and "/opt/digestbot" not in line and "digestbot.env" not in line
    ]
    assert problems == []
