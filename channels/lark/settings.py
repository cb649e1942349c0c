"""Feishu/Lark settings: ``DIGESTBOT_LARK_*``. Typed here, read only at the entry point."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

FEISHU_API_URL = "https://open.feishu.cn"
LARK_API_URL = "https://open.larksuite.com"


class LarkSettings(BaseSettings):
    """One Feishu (China) or Lark (international) custom app with the bot ability.

    With ``verification_token`` set, events arrive over HTTP (the event callback URL, on the
    gateway's HTTP server at ``events_path``); without it, over the long connection
    (``lark_oapi.ws``), which needs no public URL.
    """

    model_config = SettingsConfigDict(env_prefix="DIGESTBOT_LARK_", extra="forbid", frozen=True)

    app_id: str = Field(min_length=1)
    app_secret: SecretStr
    verification_token: SecretStr | None = None
    encrypt_key: SecretStr | None = None
    api_url: str = FEISHU_API_URL
    events_path: str = "/lark/events"
    #: Feishu allows 5 messages/s to one user or group (shared by the group's bots).
    chat_interval: float = Field(default=0.5, ge=0)
    #: im/v1/messages allows 1000 calls/min and 50/s per app: stay under the minute's rate.
    global_rate: float = Field(default=15.0, gt=0)
    #: How old (seconds) a signed HTTP event may be before it is refused as a replay.
    max_event_age: float = Field(default=300.0, gt=0)

    @field_validator("api_url")
    @classmethod
    def _origin(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError(f"expected an https:// origin such as {FEISHU_API_URL}")
        return value

    @field_validator("events_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("expected a path starting with /, e.g. /lark/events")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LarkSettings:
        if self.encrypt_key is not None and self.verification_token is None:
            raise ValueError(
                "DIGESTBOT_LARK_ENCRYPT_KEY is for HTTP mode, which needs "
                "DIGESTBOT_LARK_VERIFICATION_TOKEN too"
            )
        return self

    @property
    def http_mode(self) -> bool:
        return self.verification_token is not None

    def secrets(self) -> list[str]:
        """Values the logs must never show."""
        values = [self.app_secret, self.verification_token, self.encrypt_key]
        return [v.get_secret_value() for v in values if v is not None]
