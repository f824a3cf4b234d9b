"""Settings from the environment (prefix GUONGSANG_) and an optional .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ADMIN_CHANNELS = ("telegram", "zalo", "console")


class Settings(BaseSettings):
    """Everything the bot reads from its environment; defaults run with nothing set."""

    model_config = SettingsConfigDict(
        env_prefix="GUONGSANG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("./data")
    database_url: str | None = None
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    # With it, `serve` takes Telegram's updates at /webhook/telegram (Telegram allows 1-256
    # characters of A-Z, a-z, 0-9, _ and -).
    telegram_webhook_secret: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$"
    )
    # For invite links made without a token at hand (the CLI asks Telegram's getMe otherwise).
    telegram_bot_username: str | None = None
    # Zalo's Bot API: `{zalo_api_url}/bot{token}/{method}`. Polled by `run` when the token is
    # set; with a webhook secret, `serve` takes Zalo's updates at /webhook/zalo instead.
    zalo_token: str | None = None
    zalo_api_url: str = "https://bot-api.zaloplatforms.com"
    zalo_webhook_secret: str | None = Field(default=None, min_length=8, max_length=256)
    # Zalo's quotas for messages the bot starts are undocumented; stay well below Telegram's.
    zalo_broadcast_rate: float = Field(default=10.0, gt=0)
    config: Path | None = None
    admins: str = ""
    # Files larger than this are refused before they are downloaded.
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    timezone: str = "Asia/Ho_Chi_Minh"
    # Where the web app is reachable from outside: links in posts, photo URLs, webhooks.
    public_url: str = "http://127.0.0.1:8080"
    # Signs photo URLs; set a long random value in production (the default is for trying out).
    secret_key: str = "guongsang-development-secret-change-me"
    # Broadcast limits: messages per second overall, per second per chat, per minute per group.
    broadcast_rate: float = Field(default=25.0, gt=0)
    broadcast_chat_rate: float = Field(default=1.0, gt=0)
    broadcast_group_per_minute: int = Field(default=20, gt=0)
    # One person's messages: a burst of this many, then this many a second; the rest are
    # refused with one polite message, so one flood cannot slow the bot for everyone.
    user_message_burst: int = Field(default=30, gt=0)
    user_message_rate: float = Field(default=10.0, gt=0)
    # Seconds after which a delivery claimed by a worker that stopped answering is taken back.
    delivery_lease_seconds: float = Field(default=30.0, gt=0)
    # Worker processes sending for one bot (`serve --workers N` sets it in each): each takes
    # its share of the platform's overall and per-group limits, which count the bot's sends,
    # not any one process's.
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator("telegram_api_url", "zalo_api_url", "public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("admins")
    @classmethod
    def _check_admins(cls, value: str) -> str:
        for item in _split(value):
            channel, sep, ident = item.partition(":")
            if not sep or channel not in ADMIN_CHANNELS or not ident:
                raise ValueError(
                    f"GUONGSANG_ADMINS: '{item}' phải có dạng telegram:<id>, zalo:<id> "
                    "hoặc console:<tên>"
                )
        return value

    @property
    def admin_identities(self) -> set[tuple[str, str]]:
        """The (channel, id) pairs named in GUONGSANG_ADMINS."""
        return {tuple(item.split(":", 1)) for item in _split(self.admins)}  # type: ignore[misc]

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'guongsang.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        """Where stored copies of photos and documents live."""
        return self.data_dir / "media"


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
