"""The files in deploy/ are checked as far as this machine allows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.commands.dispatch import default_commands
from channels.slack import ALIASES, NAMESPACE, SCOPES, SLACK_BUILTINS

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_slack_manifest_declares_the_namespace_aliases_buttons_and_home() -> None:
    manifest = yaml.safe_load((DEPLOY / "slack-manifest.yaml").read_text(encoding="utf-8"))
    declared = [c["command"].lstrip("/") for c in manifest["features"]["slash_commands"]]
    # One namespaced command, then exactly the aliases the adapter routes: served commands
    # that are none of Slack's built-ins.
    assert declared == [NAMESPACE, *ALIASES]
    served = set(default_commands().names())
    assert set(ALIASES) <= served
    assert not set(declared) & SLACK_BUILTINS
    assert {"topic", "search", "status"} <= SLACK_BUILTINS & served
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "app_mentions:read", "files:read", "im:history"} <= scopes
    assert "im:write" in scopes  # Home tab presses are answered in the app's direct chat
    assert {"links:read", "links:write"} <= scopes  # unfurls
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "app_home_opened", "link_shared"} <= events
    domains = manifest["features"]["unfurl_domains"]
    assert "arxiv.org" in domains
    assert len(domains) <= 5  # Slack's limit
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].endswith("/slack/events")
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_slack_manifest_is_ready_for_oauth_distribution() -> None:
    manifest = yaml.safe_load((DEPLOY / "slack-manifest.yaml").read_text(encoding="utf-8"))
    oauth = manifest["oauth_config"]
    assert [u.rsplit("/", 2)[-2:] for u in oauth["redirect_urls"]] == [["slack", "oauth_redirect"]]
    # An install asks for exactly the scopes the manifest declares.
    assert sorted(oauth["scopes"]["bot"]) == sorted(SCOPES)
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_uninstalled", "tokens_revoked"} <= events


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
    # The HTTP server keeps at most half the descriptors for connections: 1,024 is too few.
    limits = [
        line.split("=", 1)[1] for line in text.splitlines() if line.startswith("LimitNOFILE=")
    ]
    assert limits
    assert int(limits[0].split(":")[0]) >= 16384
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
