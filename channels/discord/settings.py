"""Discord settings: ``DIGESTBOT_DISCORD_*``, composed into the gateway's settings."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

DISCORD_API_URL = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


class DiscordSettings(BaseModel):
    """One Discord application's bot user. See the README's settings table."""

    discord_token: SecretStr | None = None
    #: Sync the slash commands to this guild only: they appear at once, for trying the bot out.
    discord_guild_id: int | None = Field(default=None, gt=0)
    discord_api_url: str = DISCORD_API_URL
    discord_gateway_url: str = DISCORD_GATEWAY_URL
    #: Discord allows about 5 messages per 5 s to one channel; discord.py also waits out its
    #: own buckets, this paces the outbox so they are rarely hit.
    discord_channel_interval: float = Field(default=1.0, ge=0)
    #: The global limit is 50 requests/s per bot; leave room for interaction answers.
    discord_global_rate: float = Field(default=40.0, gt=0)

    @field_validator("discord_api_url")
    @classmethod
    def _discord_api(cls, value: str) -> str:
        value = value.rstrip("/")
        if not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError(f"expected an https:// URL such as {DISCORD_API_URL}")
        return value

    @field_validator("discord_gateway_url")
    @classmethod
    def _discord_gateway(cls, value: str) -> str:
        if not value.startswith(("wss://", "ws://127.0.0.1", "ws://localhost")):
            raise ValueError(f"expected a wss:// URL such as {DISCORD_GATEWAY_URL}")
        return value

    @model_validator(mode="after")
    def _discord_consistent(self) -> DiscordSettings:
        if self.discord_guild_id is not None and self.discord_token is None:
            raise ValueError("DIGESTBOT_DISCORD_GUILD_ID needs DIGESTBOT_DISCORD_TOKEN")
        return self
