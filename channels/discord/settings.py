"""Discord settings: ``DIGESTBOT_DISCORD_*``. Typed here, read only at the entry point."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DISCORD_API_URL = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


class DiscordSettings(BaseSettings):
    """One Discord application's bot user."""

    model_config = SettingsConfigDict(env_prefix="DIGESTBOT_DISCORD_", extra="forbid", frozen=True)

    token: SecretStr
    #: Sync the slash commands to this guild only: they appear at once (global ones can take
    #: up to an hour), for trying the bot out.
    guild_id: int | None = Field(default=None, gt=0)
    api_url: str = DISCORD_API_URL
    gateway_url: str = DISCORD_GATEWAY_URL
    #: Discord allows about 5 messages per 5 s to one channel; discord.py also waits out its
    #: own buckets, this paces the outbox so they are rarely hit.
    channel_interval: float = Field(default=1.0, ge=0)
    #: The global limit is 50 requests/s per bot; leave room for interaction answers.
    global_rate: float = Field(default=40.0, gt=0)

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError(f"expected an https:// URL such as {DISCORD_API_URL}")
        return value

    @field_validator("gateway_url")
    @classmethod
    def _gateway(cls, value: str) -> str:
        if not value.startswith(("wss://", "ws://127.0.0.1", "ws://localhost")):
            raise ValueError(f"expected a wss:// URL such as {DISCORD_GATEWAY_URL}")
        return value

    def secrets(self) -> list[str]:
        return [self.token.get_secret_value()]
