"""Settings from the environment or a ``.env`` file (pydantic-settings).

Every setting is documented in the README's configuration table. The bot token is a secret: it is
held as ``SecretStr`` so it never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_FILE_BASE_URL = "https://api.telegram.org/file/bot"


def default_data_dir() -> Path:
    """Where the SQLite file lives by default: ``./var`` beside the working directory."""
    return Path("var")


class Settings(BaseSettings):
    """The bot's configuration; see the README for each variable."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8",
                                      extra="ignore", populate_by_name=True)

    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "telegram_bot_token"))
    telegram_api_base_url: str = Field(
        default=DEFAULT_API_BASE_URL,
        validation_alias=AliasChoices("TELEGRAM_API_BASE_URL", "telegram_api_base_url"))
    telegram_file_base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TELEGRAM_FILE_BASE_URL", "telegram_file_base_url"))
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url"))
    data_dir: Path = Field(default_factory=default_data_dir,
                           validation_alias=AliasChoices("DUBAN_DATA_DIR", "data_dir"))
    tz: str = Field(default="Asia/Shanghai", validation_alias=AliasChoices("DUBAN_TZ", "tz"))
    admins: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(), validation_alias=AliasChoices("DUBAN_ADMINS", "admins"))
    tasks_path: Path = Field(default=Path("data/tasks.yaml"),
                             validation_alias=AliasChoices("DUBAN_TASKS", "tasks_path"))
    invite_ttl_days: int = Field(default=7, ge=1, le=365,
                                 validation_alias=AliasChoices("DUBAN_INVITE_TTL_DAYS",
                                                               "invite_ttl_days"))
    dispatch_interval_seconds: float = Field(
        default=60.0, gt=0, validation_alias=AliasChoices("DUBAN_DISPATCH_INTERVAL",
                                                          "dispatch_interval_seconds"))

    @field_validator("admins", mode="before")
    @classmethod
    def _parse_admins(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            try:
                return tuple(int(p) for p in parts)
            except ValueError as exc:
                raise ValueError("DUBAN_ADMINS must be Telegram user ids separated by commas, "
                                 f"e.g. '12345,67890'; got {value!r}") from exc
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("tz")
    @classmethod
    def _known_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"DUBAN_TZ: unknown time zone {value!r}; use an IANA name such as "
                             "Asia/Shanghai") from exc
        return value

    @property
    def zone(self) -> dt.tzinfo:
        """The configured time zone."""
        return ZoneInfo(self.tz)

    @property
    def resolved_database_url(self) -> str:
        """``DATABASE_URL`` or the default SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'duban.sqlite3'}"

    @property
    def resolved_file_base_url(self) -> str:
        """The file download base URL, derived from the API base URL when not given."""
        if self.telegram_file_base_url:
            return self.telegram_file_base_url
        base = self.telegram_api_base_url
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return DEFAULT_FILE_BASE_URL
