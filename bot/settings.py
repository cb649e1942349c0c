"""Typed settings, loaded once at the entry point and passed down.

Sources, highest first: environment variables ``DIGESTBOT_*``, then an optional TOML file named by
``--config`` or ``DIGESTBOT_CONFIG``, then defaults. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.discord.settings import DiscordSettings
from channels.lark.settings import LarkSettings

#: Platforms whose settings live in their own package: ``DIGESTBOT_<NAME>_*`` validate there.
PLATFORM_SETTINGS: dict[str, type[BaseSettings]] = {
    "lark": LarkSettings,
    "discord": DiscordSettings,
}


class SettingsError(Exception):
    """A bad or contradictory setting; the message is one line naming it."""


def default_database_url() -> str:
    """SQLite in the user's data directory (``$XDG_DATA_HOME/digestbot/digestbot.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'digestbot' / 'digestbot.db'}"


class Settings(BaseSettings):
    """Every setting digestbot reads. See the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="DIGESTBOT_", extra="forbid", frozen=True)

    database_url: str = Field(default_factory=default_database_url)
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    lark: LarkSettings | None = None
    discord: DiscordSettings | None = None
    admins: str = ""
    reports_dir: Path | None = None
    timezone: str = "UTC"
    http_host: str = "0.0.0.0"
    http_port: int | None = Field(default=None, ge=0, le=65535)
    max_report_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    digest_size: int = Field(default=5, ge=1, le=20)
    post_empty_digest: bool = False
    misfire_grace_hours: float = Field(default=12.0, ge=0)
    leader_takeover_seconds: float = Field(default=30.0, gt=0)
    telegram_global_rate: float = Field(default=30.0, gt=0)
    telegram_chat_interval: float = Field(default=1.0, ge=0)
    telegram_group_per_minute: int = Field(default=20, gt=0)
    slack_channel_interval: float = Field(default=1.0, ge=0)
    send_max_attempts: int = Field(default=5, ge=1)
    console: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown IANA timezone {value!r}, e.g. UTC or Europe/Berlin"
            ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("expected sqlite:///PATH or postgresql://USER@HOST/DB")
        if value.startswith("postgres:"):
            value = "postgresql:" + value.removeprefix("postgres:")
        return value

    @field_validator("admins")
    @classmethod
    def _admin_list(cls, value: str) -> str:
        for entry in filter(None, (e.strip() for e in value.split(","))):
            platform, _, user = entry.partition(":")
            if platform not in ("telegram", "slack", "console", *PLATFORM_SETTINGS) or not user:
                raise ValueError(
                    f"{entry!r} is not PLATFORM:USER_ID, e.g. telegram:123,slack:U0ABC"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.slack_bot_token and not (self.slack_app_token or self.slack_signing_secret):
            raise ValueError(
                "DIGESTBOT_SLACK_BOT_TOKEN needs DIGESTBOT_SLACK_APP_TOKEN (Socket Mode) "
                "or DIGESTBOT_SLACK_SIGNING_SECRET (HTTP mode)"
            )
        if (self.slack_app_token or self.slack_signing_secret) and not self.slack_bot_token:
            raise ValueError("Slack settings are present but DIGESTBOT_SLACK_BOT_TOKEN is missing")
        if self.telegram_webhook_url and not self.telegram_token:
            raise ValueError("DIGESTBOT_TELEGRAM_WEBHOOK_URL needs DIGESTBOT_TELEGRAM_TOKEN")
        if self.telegram_webhook_url and not self.telegram_webhook_url.startswith("https://"):
            raise ValueError("DIGESTBOT_TELEGRAM_WEBHOOK_URL must be an https:// URL")
        return self

    @property
    def admin_ids(self) -> frozenset[tuple[str, str]]:
        pairs = (e.strip().partition(":") for e in self.admins.split(",") if e.strip())
        return frozenset((p, u) for p, _, u in pairs)

    @property
    def any_chat_platform(self) -> bool:
        """Whether a chat platform (not the console) is configured."""
        return bool(self.telegram_token or self.slack_bot_token or self.lark or self.discord)

    @property
    def wants_console(self) -> bool:
        if self.console is not None:
            return self.console
        return not self.any_chat_platform

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def load_settings(config: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and validate settings, raising :class:`SettingsError` with one line on failure."""
    environ = os.environ if env is None else env
    path = config or environ.get("DIGESTBOT_CONFIG")
    file_values: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
        file_values = {str(k).lower().removeprefix("digestbot_"): v for k, v in raw.items()}
    env_values = {
        key.removeprefix("DIGESTBOT_").lower(): value
        for key, value in environ.items()
        if key.startswith("DIGESTBOT_")
        and key not in ("DIGESTBOT_CONFIG",)
        and not key.startswith("DIGESTBOT_TEST_")
    }
    values: dict[str, Any] = {**file_values, **env_values}
    for name in PLATFORM_SETTINGS:
        prefix = f"{name}_"
        nested = {
            k.removeprefix(prefix): values.pop(k) for k in list(values) if k.startswith(prefix)
        }
        if nested:
            values[name] = nested
    try:
        # Validate an explicit mapping, so the environment is read here and nowhere else.
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = err.get("loc") or ()
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        message = "is not a known setting (see the README's settings table)"
    if not loc:
        return message
    if str(loc[0]) in PLATFORM_SETTINGS and len(loc) == 1 and err.get("type") == "model_type":
        message = "is not a setting; use DIGESTBOT_" + str(loc[0]).upper() + "_… settings"
    return f"DIGESTBOT_{'_'.join(str(part) for part in loc).upper()}: {message}"
