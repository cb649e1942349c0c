"""Lark and Discord settings: typed in their packages, loaded with the rest, one clear line."""

from __future__ import annotations

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
    assert settings.lark is not None
    assert settings.lark.api_url == "https://open.larksuite.com"
    assert not settings.lark.http_mode
    assert settings.discord is not None
    assert settings.discord.guild_id == 42
    assert settings.admin_ids == {("lark", "ou_1"), ("discord", "2")}
    assert not settings.wants_console


def test_no_platform_settings_means_none() -> None:
    settings = load_settings(env={})
    assert settings.lark is None
    assert settings.discord is None


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"DIGESTBOT_LARK_APP_ID": "cli_x"}, "DIGESTBOT_LARK_APP_SECRET: Field required"),
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
