"""Lark and Discord settings: typed in their packages, loaded with the rest, one clear line."""

from __future__ import annotations

import json

import pytest

from bot.settings import SettingsError, load_settings


def test_lark_and_discord_settings_load_from_the_environment() -> None:
    settings = load_settings(
        env={
            "DIGESTBOT_LARK_APP_ID": "cli_x",
            "DIGESTBOT_LARK_APP_SECRET": "s",
            "DIGESTBOT_LARK_API_URL": "https://open.larksuite.com/",
            "DIGESTBOT_DISCORD_TOKEN": "t",
            "DIGESTBOT_DISCORD_GUILD_ID": "42",
            "DIGESTBOT_ADMINS": "lark:ou_1,discord:2",
        }
    )
    assert settings.lark_app_id == "cli_x"  # type: ignore[attr-defined]
    assert settings.lark_api_url == "https://open.larksuite.com"  # type: ignore[attr-defined]
    assert settings.lark_verification_token is None  # type: ignore[attr-defined]
    assert settings.discord_guild_id == 42  # type: ignore[attr-defined]
    assert settings.admin_ids == {("lark", "ou_1"), ("discord", "2")}
    assert [s.name for s in settings.platforms()] == ["lark", "discord"]
    assert not settings.local_only
    assert "s" in settings.secrets()
    assert "t" in settings.secrets()


def test_no_platform_settings_means_neither_runs() -> None:
    settings = load_settings(env={})
    assert [s.name for s in settings.platforms()] == ["console"]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"DIGESTBOT_LARK_APP_ID": "cli_x"},
            "DIGESTBOT_LARK_APP_ID needs DIGESTBOT_LARK_APP_SECRET",
        ),
        ({"DIGESTBOT_LARK_APP_SECRET": "s"}, "DIGESTBOT_LARK_APP_ID is missing"),
        ({"DIGESTBOT_DISCORD_GUILD_ID": "42"}, "needs DIGESTBOT_DISCORD_TOKEN"),
        ({"DIGESTBOT_ADMINS": "lark:123"}, "'lark:123' is not PLATFORM:USER_ID"),
        (
            {"DIGESTBOT_DISCORD_TOKEN": "t", "DIGESTBOT_DISCORD_GUILD_ID": "x"},
            "DIGESTBOT_DISCORD_GUILD_ID",
        ),
        (
            {"DIGESTBOT_DISCORD_TOKEN": "t", "DIGESTBOT_DISCORD_COLOUR": "x"},
            "DIGESTBOT_DISCORD_COLOUR: is not a known setting",
        ),
        (
            {
                "DIGESTBOT_LARK_APP_ID": "a",
                "DIGESTBOT_LARK_APP_SECRET": "b",
                "DIGESTBOT_LARK_ENCRYPT_KEY": "k",
            },
            "needs DIGESTBOT_LARK_VERIFICATION_TOKEN",
        ),
        (
            {"DIGESTBOT_DISCORD_TOKEN": "t", "DIGESTBOT_DISCORD_API_URL": "http://evil.example"},
            "DIGESTBOT_DISCORD_API_URL",
        ),
    ],
)
def test_a_bad_platform_setting_is_one_line_naming_it(env: dict[str, str], line: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env=env)
    assert line in str(info.value)
    assert "\n" not in str(info.value)


def test_the_core_imports_neither_sdk_until_a_platform_is_configured() -> None:
    import subprocess
    import sys

    code = (
        "import sys, bot.cli, bot.gateway, channels.lark, channels.discord, "
        "channels.lark.render, channels.discord.render; "
        "print(sorted(m for m in ('lark_oapi', 'discord') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_ask_formats_include_lark_cards_and_discord_embeds() -> None:
    from bot.cli import render_for
    from digests.message import Message

    assert json.loads(render_for("lark", Message.text("x")))[0]["elements"] == [
        {"tag": "markdown", "content": "x"}
    ]
    assert (
        json.loads(render_for("discord", Message.text("x")))[0]["embeds"][0]["description"] == "x"
    )
