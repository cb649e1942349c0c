"""Feishu/Lark settings: ``DIGESTBOT_LARK_*``, composed into the gateway's settings."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

FEISHU_API_URL = "https://open.feishu.cn"
LARK_API_URL = "https://open.larksuite.com"


class LarkSettings(BaseModel):
    """One Feishu (China) or Lark (international) custom app with the bot ability.

    With ``lark_verification_token`` set, events arrive over HTTP (the event callback URL, on the
    gateway's HTTP server at ``lark_events_path``); without it, over the long connection
    (``lark_oapi.ws``), which needs no public URL. See the README's settings table.
    """

    lark_app_id: str | None = None
    lark_app_secret: SecretStr | None = None
    lark_verification_token: SecretStr | None = None
    lark_encrypt_key: SecretStr | None = None
    lark_api_url: str = FEISHU_API_URL
    lark_events_path: str = "/lark/events"
    #: Feishu allows 5 messages/s to one user or group (shared by the group's bots).
    lark_chat_interval: float = Field(default=0.5, ge=0)
    #: im/v1/messages allows 1000 calls/min and 50/s per app: stay under the minute's rate.
    lark_global_rate: float = Field(default=15.0, gt=0)
    #: How old (seconds) a signed HTTP event may be before it is refused as a replay.
    lark_max_event_age: float = Field(default=300.0, gt=0)

    @field_validator("lark_api_url")
    @classmethod
    def _lark_origin(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError(f"expected an https:// origin such as {FEISHU_API_URL}")
        return value

    @field_validator("lark_events_path")
    @classmethod
    def _lark_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("expected a path starting with /, e.g. /lark/events")
        return value

    @model_validator(mode="after")
    def _lark_consistent(self) -> LarkSettings:
        others = (self.lark_app_secret, self.lark_verification_token, self.lark_encrypt_key)
        if self.lark_app_id is None and any(v is not None for v in others):
            raise ValueError("Lark settings are present but DIGESTBOT_LARK_APP_ID is missing")
        if self.lark_app_id is not None and self.lark_app_secret is None:
            raise ValueError("DIGESTBOT_LARK_APP_ID needs DIGESTBOT_LARK_APP_SECRET")
        if self.lark_app_id is not None and not self.lark_app_id.strip():
            raise ValueError("DIGESTBOT_LARK_APP_ID is empty; it looks like cli_a1b2c3")
        if self.lark_encrypt_key is not None and self.lark_verification_token is None:
            raise ValueError(
                "DIGESTBOT_LARK_ENCRYPT_KEY is for HTTP mode, which needs "
                "DIGESTBOT_LARK_VERIFICATION_TOKEN too"
            )
        return self
