"""Settings from the environment and a ``.env`` file (pydantic-settings), for every command.

Every setting is documented in the README's configuration table and in ``.env.example``. The bot
token is a secret: it is held as ``SecretStr`` so it never appears in a repr, a log line or an
error message.

Where the ``.env`` file is (:func:`find_env_file`): the file ``DUBAN_ENV_FILE`` names, else
``.env`` in the working directory, else none. The environment wins over the file.

Relative paths (``DUBAN_TASKS``, ``DUBAN_DATA_DIR``, a ``sqlite:///`` ``DATABASE_URL``) are
resolved against the folder of that ``.env`` file, or the working directory when there is none
(:func:`load_settings`), so a command finds the same files from any working directory.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from importlib.resources import files
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schedules.text import N_, Text, TextError

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_FILE_BASE_URL = "https://api.telegram.org/file/bot"
ENV_FILE_VARIABLE = "DUBAN_ENV_FILE"
SQLITE_PREFIX = "sqlite:///"

# Environment variable of each setting, for messages.
VARIABLES = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "telegram_bot_username": "TELEGRAM_BOT_USERNAME",
    "telegram_api_base_url": "TELEGRAM_API_BASE_URL",
    "telegram_file_base_url": "TELEGRAM_FILE_BASE_URL",
    "database_url": "DATABASE_URL",
    "data_dir": "DUBAN_DATA_DIR",
    "tz": "DUBAN_TZ",
    "admins": "DUBAN_ADMINS",
    "tasks_path": "DUBAN_TASKS",
    "invite_ttl_days": "DUBAN_INVITE_TTL_DAYS",
    "dispatch_interval_seconds": "DUBAN_DISPATCH_INTERVAL",
    "startup_retries": "DUBAN_STARTUP_RETRIES",
    "lease_seconds": "DUBAN_LEASE_SECONDS",
    "clock_offset_seconds": "DUBAN_CLOCK_OFFSET",
    "webhook_url": "DUBAN_WEBHOOK_URL",
    "webhook_listen": "DUBAN_WEBHOOK_LISTEN",
    "webhook_secret": "DUBAN_WEBHOOK_SECRET",
}
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1:8443"
WEBHOOK_PORTS = (443, 80, 88, 8443)
"""The only ports Telegram posts webhook updates to (Bot API, setWebhook)."""
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What Telegram accepts as a webhook's secret token (setWebhook ``secret_token``)."""


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8443`` for IPv6, ``:8443`` for 127.0.0.1) as (host, port).

    Raises:
        TextError: not a host and a port 1-65535.
    """
    host, colon, port = value.strip().rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not colon or not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise TextError(N_("must be HOST:PORT, e.g. 127.0.0.1:8443 (the address the reverse "
                           "proxy forwards to); got {value!r}"), value=value)
    return host, int(port)


def check_webhook_url(value: str) -> str:
    """The public HTTPS URL Telegram posts updates to.

    Raises:
        TextError: not an ``https://host/...`` URL (Telegram posts to HTTPS only).
    """
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise TextError(N_("must be the public https:// URL Telegram posts updates to, e.g. "
                           "https://bot.example.org/duban (Telegram uses HTTPS only); got "
                           "{value!r}"), value=value)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and port not in WEBHOOK_PORTS:
        raise TextError(N_("Telegram posts only to the ports 443, 80, 88 and 8443; the URL "
                           "{value!r} names another (the proxy listens on the public port and "
                           "forwards to DUBAN_WEBHOOK_LISTEN)"), value=value)
    return value.strip()


def shipped_tasks_path() -> Path:
    """The timetable shipped with duban (package data, found from any working directory).

    In a checkout it is ``data/tasks.yaml`` (``bot/timetable/tasks.yaml`` links to it); in an
    installed package it is the copy inside ``bot/timetable/``.
    """
    return Path(str(files("bot") / "timetable" / "tasks.yaml")).resolve()


def default_data_dir() -> Path:
    """Where the SQLite file lives by default: ``var`` (relative: see :func:`load_settings`)."""
    return Path("var")


class ConfigurationError(Exception):
    """The configuration cannot be read; ``text`` says which variable and how to fix it."""

    def __init__(self, template: str, **params: object) -> None:
        self.text = Text(template, params)
        super().__init__(str(self.text))


def _alias(field: str) -> AliasChoices:
    return AliasChoices(VARIABLES[field], field)


class Settings(BaseSettings):
    """The bot's configuration; see the README for each variable."""

    model_config = SettingsConfigDict(env_file=None, env_file_encoding="utf-8",
                                      extra="ignore", populate_by_name=True)

    telegram_bot_token: SecretStr | None = Field(default=None,
                                                 validation_alias=_alias("telegram_bot_token"))
    telegram_bot_username: str | None = Field(default=None,
                                              validation_alias=_alias("telegram_bot_username"))
    telegram_api_base_url: str = Field(default=DEFAULT_API_BASE_URL,
                                       validation_alias=_alias("telegram_api_base_url"))
    telegram_file_base_url: str | None = Field(default=None,
                                               validation_alias=_alias("telegram_file_base_url"))
    database_url: str | None = Field(default=None, validation_alias=_alias("database_url"))
    data_dir: Path = Field(default_factory=default_data_dir, validation_alias=_alias("data_dir"))
    tz: str = Field(default="Asia/Shanghai", validation_alias=_alias("tz"))
    admins: Annotated[tuple[int, ...], NoDecode] = Field(default=(),
                                                         validation_alias=_alias("admins"))
    tasks_path: Path = Field(default_factory=shipped_tasks_path,
                             validation_alias=_alias("tasks_path"))
    invite_ttl_days: int = Field(default=7, ge=1, le=365,
                                 validation_alias=_alias("invite_ttl_days"))
    dispatch_interval_seconds: float = Field(default=60.0, gt=0,
                                             validation_alias=_alias("dispatch_interval_seconds"))
    startup_retries: int = Field(default=20, ge=0, le=1000,
                                 validation_alias=_alias("startup_retries"))
    lease_seconds: float = Field(default=30.0, ge=5, le=3600,
                                 validation_alias=_alias("lease_seconds"))
    """How long a dispatcher's claim on a reminder holds unless renewed (docs/reminders.md)."""
    clock_offset_seconds: float = Field(default=0.0,
                                        validation_alias=_alias("clock_offset_seconds"))
    """Seconds added to the system clock (a test of an instance whose clock is wrong)."""
    webhook_url: str | None = Field(default=None, validation_alias=_alias("webhook_url"))
    webhook_listen: str = Field(default=DEFAULT_WEBHOOK_LISTEN,
                                validation_alias=_alias("webhook_listen"))
    webhook_secret: SecretStr | None = Field(default=None,
                                             validation_alias=_alias("webhook_secret"))
    _env_file_used: Path | None = PrivateAttr(default=None)

    @field_validator("telegram_bot_username", "database_url", "telegram_file_base_url",
                     "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("tasks_path", "data_dir", mode="before")
    @classmethod
    def _empty_path_is_default(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str) and not value.strip():
            return shipped_tasks_path() if info.field_name == "tasks_path" else default_data_dir()
        return value

    @field_validator("telegram_bot_username")
    @classmethod
    def _no_at(cls, value: str | None) -> str | None:
        return value.strip().lstrip("@") if value else value

    @field_validator("admins", mode="before")
    @classmethod
    def _parse_admins(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            try:
                return tuple(int(p) for p in parts)
            except ValueError as exc:
                raise TextError(N_("must be Telegram user ids separated by commas, e.g. "
                                   "12345,67890 (send /start to the bot to learn yours); got "
                                   "{value!r}"), value=value) from exc
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("webhook_url")
    @classmethod
    def _https_url(cls, value: str | None) -> str | None:
        return check_webhook_url(value) if value is not None else None

    @field_validator("webhook_listen", mode="before")
    @classmethod
    def _host_and_port(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return DEFAULT_WEBHOOK_LISTEN
            parse_listen(value)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_TOKEN.fullmatch(value.get_secret_value()):
            raise TextError(N_("must be 1-256 letters, digits, '_' or '-' (what Telegram "
                               "accepts as a secret token); leave it unset and duban derives "
                               "one from the bot token"))
        return value

    @field_validator("tz")
    @classmethod
    def _known_tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise TextError(N_("unknown time zone {value!r}; use an IANA name such as "
                               "Asia/Shanghai"), value=value) from exc
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
        return f"{SQLITE_PREFIX}{self.data_dir / 'duban.sqlite3'}"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None for another database (or an in-memory one)."""
        url = self.resolved_database_url
        if not url.startswith(SQLITE_PREFIX) or url == SQLITE_PREFIX:
            return None
        path = url[len(SQLITE_PREFIX):].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    @property
    def resolved_file_base_url(self) -> str:
        """The file download base URL, derived from the API base URL when not given."""
        if self.telegram_file_base_url:
            return self.telegram_file_base_url
        base = self.telegram_api_base_url
        if base.endswith("/bot"):
            return base[: -len("/bot")] + "/file/bot"
        return DEFAULT_FILE_BASE_URL


def find_env_file(cwd: Path | None = None) -> Path | None:
    """The ``.env`` file every command reads: ``DUBAN_ENV_FILE``, else ``./.env``, else None.

    Raises:
        ConfigurationError: ``DUBAN_ENV_FILE`` names a file that does not exist or cannot be
            read.
    """
    named = os.environ.get(ENV_FILE_VARIABLE, "").strip()
    if named:
        path = Path(named).expanduser().absolute()
        for folder in reversed(path.parents):  # a folder on the way this user may not enter
            if os.access(folder, os.F_OK) and not os.access(folder, os.X_OK):
                _check_readable(folder)
        if not path.is_file():
            raise ConfigurationError(N_("{variable} names {path}, which is not a file"),
                                     variable=ENV_FILE_VARIABLE, path=path)
        _check_readable(path)
        return path
    candidate = (cwd or Path.cwd()) / ".env"
    try:
        found = candidate.is_file()
    except OSError:  # a working directory this user may not look into
        return None
    if found:
        _check_readable(candidate)
        return candidate
    return None


def _check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        raise ConfigurationError(
            N_("cannot read {path}: permission denied (it belongs to {owner}, mode {mode}; "
               "duban runs as user {user}); run duban as that user (/usr/local/bin/duban does) "
               "or make the file readable by this one"),
            path=path, owner=_owner(path), mode=_mode(path), user=_user())


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _owner(path: Path) -> str:
    try:
        return path.owner()
    except (KeyError, OSError):
        return str(path.stat().st_uid)


def _mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)[2:].rjust(4, "0")


def load_settings() -> Settings:
    """The settings of every ``duban`` command: the environment over the ``.env`` file.

    Relative paths are made absolute against the ``.env`` file's folder, or the working
    directory when no file is in use.

    Raises:
        ConfigurationError: ``DUBAN_ENV_FILE`` is wrong.
        pydantic.ValidationError: a setting has a bad value.
    """
    env_file = find_env_file()
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    base = env_file.parent if env_file is not None else Path.cwd()
    changes: dict[str, object] = {
        "tasks_path": _absolute(settings.tasks_path, base),
        "data_dir": _absolute(settings.data_dir, base),
    }
    url = settings.database_url
    if url and url.startswith(SQLITE_PREFIX) and url != SQLITE_PREFIX:
        file_part = url[len(SQLITE_PREFIX):]
        if file_part and not file_part.startswith("/") and not file_part.startswith(":memory:"):
            changes["database_url"] = SQLITE_PREFIX + str(base / file_part)
    resolved = settings.model_copy(update=changes)
    resolved._env_file_used = env_file
    return resolved


def _absolute(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else base / path


def env_file_of(settings: Settings) -> Path | None:
    """The ``.env`` file :func:`load_settings` read, if any."""
    return settings._env_file_used
