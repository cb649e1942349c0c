"""Typed settings, loaded once at the entry point and passed down.

Sources, highest first: environment variables ``DIGESTBOT_*``, then an optional TOML file named by
``--config`` or ``DIGESTBOT_CONFIG``, then defaults. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.platforms import specs
from channels.base import PlatformSpec
from digests.errors import DigestbotError


class SettingsError(DigestbotError):
    """A bad or contradictory setting; the message is one line naming it."""


def default_database_url() -> str:
    """SQLite in the user's data directory (``$XDG_DATA_HOME/digestbot/digestbot.db``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'digestbot' / 'digestbot.db'}"


class CoreSettings(BaseSettings):
    """The settings of the gateway itself; each platform adds its own (see :data:`Settings`)."""

    # allow_inf_nan=False: "inf" or "nan" in a number setting is a mistake, not a limit (issue 16).
    model_config = SettingsConfigDict(
        env_prefix="DIGESTBOT_", extra="forbid", frozen=True, allow_inf_nan=False
    )

    database_url: str = Field(default_factory=default_database_url)
    #: PostgreSQL: seconds a statement may run before the server cancels it.
    database_statement_timeout: float = Field(default=30.0, ge=1, le=3600)
    #: Seconds a command may take (a database gone silent): then it is answered "the database
    #: is not answering" rather than never.
    command_timeout: float = Field(default=30.0, ge=1, le=600)
    admins: str = ""
    reports_dir: Path | None = None
    timezone: str = "UTC"
    language: Literal["en", "zh"] = "en"
    http_host: str = "0.0.0.0"
    http_port: int | None = Field(default=None, ge=0, le=65535)
    #: Seconds a connection has to send a request's headers (from opening, or from its previous
    #: answer); one that sends nothing, or half a request, is closed after that (issue 30).
    http_header_timeout: float = Field(default=15.0, gt=0, le=600)
    #: Open HTTP connections at most (and at most half the process's file descriptors): past it,
    #: the oldest idle connection is closed to let a new one in.
    http_max_connections: int = Field(default=512, ge=8, le=100_000)
    max_report_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    digest_size: int = Field(default=5, ge=1, le=20)
    post_empty_digest: bool = False
    #: /top counts the votes of every chat; false: each chat sees only its own.
    share_votes: bool = True
    #: Figures in chat: Telegram link previews above the text, Slack image blocks.
    images: bool = True
    #: At most a year: a run missed longer ago than that is not worth making up (and a grace
    #: of 1e12 hours is no duration Python can hold).
    misfire_grace_hours: float = Field(default=12.0, ge=0, le=366 * 24)
    leader_takeover_seconds: float = Field(default=30.0, gt=0, le=86400)
    #: How long the leader keeps the delivery ids of updates and events answered already
    #: (at most ten years: a cutoff before year 1 would not be a date).
    dedup_keep_days: float = Field(default=7.0, gt=0, le=3650)
    #: How long finished outbox rows and deliveries no digest reads any more are kept; at least
    #: the misfire grace, so a run made late on start-up still finds its row.
    history_keep_days: float = Field(default=90.0, gt=0, le=3650)
    send_max_attempts: int = Field(default=5, ge=1)
    send_maybe_attempts: int = Field(default=1, ge=0, le=1)
    public_url: str | None = None
    web_secret: SecretStr | None = None
    web_access: Literal["signed", "public"] = "signed"
    web_link_days: float = Field(default=30.0, gt=0, le=3650)

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
        known = {spec.name: spec for spec in specs()}
        example = ",".join(
            s.admin_example for s in known.values() if s.admin_example and not s.local
        )
        for entry in filter(None, (e.strip() for e in value.split(","))):
            platform, _, user = entry.partition(":")
            spec = known.get(platform)
            if spec is None or not re.fullmatch(spec.admin_id, user):
                raise ValueError(f"{entry!r} is not PLATFORM:USER_ID, e.g. {example}")
        return value

    @model_validator(mode="after")
    def _web_face(self) -> CoreSettings:
        if self.public_url is not None:
            if not self.public_url.startswith(("https://", "http://")):
                raise ValueError("DIGESTBOT_PUBLIC_URL must be an http:// or https:// URL")
            secret = self.web_secret.get_secret_value() if self.web_secret else ""
            if self.web_access == "signed" and len(secret) < 16:
                raise ValueError(
                    "DIGESTBOT_PUBLIC_URL with signed links needs DIGESTBOT_WEB_SECRET "
                    "(16 characters or more), or DIGESTBOT_WEB_ACCESS=public"
                )
        return self

    @property
    def admin_ids(self) -> frozenset[tuple[str, str]]:
        pairs = (e.strip().partition(":") for e in self.admins.split(",") if e.strip())
        return frozenset((p, u) for p, _, u in pairs)

    def platforms(self) -> list[PlatformSpec]:
        """The platforms to run: every configured one; the local ones when nothing else is."""
        said = {s.name: s.configured(self) for s in specs()}
        chosen = [s for s in specs() if said[s.name]]
        if not any(not s.local for s in chosen):
            # A local channel runs when no chat platform does, unless its setting says no.
            chosen += [s for s in specs() if s.local and said[s.name] is None]
        return chosen

    @property
    def local_only(self) -> bool:
        """Only local channels (the console) run: no chat platform is configured."""
        return all(s.local for s in self.platforms())

    def secrets(self) -> list[str]:
        """Every secret in the settings, for redaction from logs."""
        found = [v for s in specs() for v in s.secrets(self) if v]
        if self.web_secret is not None:
            found.append(self.web_secret.get_secret_value())
        return found

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")


def _compose() -> type[CoreSettings]:
    bases: tuple[type[Any], ...] = (CoreSettings, *(spec.settings for spec in specs()))
    composed: type[CoreSettings] = create_model("Settings", __base__=bases, __module__=__name__)
    return composed


if TYPE_CHECKING:
    Settings = CoreSettings
else:
    #: Every setting digestbot reads: the gateway's and every registered platform's.
    Settings = _compose()


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
        except IsADirectoryError:
            raise SettingsError(f"config file {path} is a folder; name a TOML file") from None
        except OSError as exc:
            raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SettingsError(f"config file {path} is not text (expected TOML)") from None
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
    values = {**file_values, **env_values}
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
    return f"DIGESTBOT_{str(loc[0]).upper()}: {message}"
