"""What ``duban check`` looks at besides the timetable: the settings file, the token, the
database and the webhook's port; and the settings-file warnings every command prints.

Each finding is a :class:`Finding`: a problem (``duban check`` exits 1) or a note (said, exit 0).
Nothing here writes: no database is created, no port kept, the token is never printed.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from bot.configuration import CliError, database_error, url_hint
from bot.envfile import Finding, env_file_findings, note, problem
from bot.i18n import Translator
from bot.oserrors import listen_error
from bot.settings import Settings, env_file_of, parse_listen
from schedules.text import N_

__all__ = ["Finding", "check_database", "check_token", "check_webhook_port",
           "env_file_findings"]

TOKEN_SHAPE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}")
"""What a bot token from @BotFather looks like: the bot's id, a colon, 35 characters."""


def check_token(settings: Settings) -> Finding:
    """Whether the bot token is there and looks like one; the token itself is never shown."""
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    source = env_file_of(settings)
    where = str(source) if source is not None else "-"
    if not token.strip():
        return note(N_("TELEGRAM_BOT_TOKEN: not set yet (settings file: {file}); 'duban run' "
                        "needs it: create a bot with @BotFather (/newbot) and put its token "
                        "there"), file=where)
    if not TOKEN_SHAPE.fullmatch(token.strip()):
        return problem(N_("TELEGRAM_BOT_TOKEN: does not look like a bot token (digits, ':', "
                           "then about 35 letters, digits, '_' or '-'); copy it again from "
                           "@BotFather (/mybots → API Token)"))
    return note(N_("TELEGRAM_BOT_TOKEN: set (not shown)"))


def _nearest_folder(path: Path) -> Path:
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_database(settings: Settings, t: Translator) -> Finding:
    """Whether the database can be reached, and its schema revision; nothing is created."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.configuration import safe_url
    from storage import Store, head_revision, known_revision

    url = settings.resolved_database_url
    try:
        url_hint(url, t)
    except CliError as exc:
        return Finding(exc.lines[0], True)
    sqlite = settings.sqlite_path
    if sqlite is not None and not sqlite.exists():
        folder = _nearest_folder(sqlite)
        if not os.access(folder, os.W_OK | os.X_OK):
            return problem(N_("Database {path}: not made yet, and this user may not write "
                               "in {folder}; set DUBAN_DATA_DIR to a folder it owns"),
                            path=sqlite.absolute(), folder=folder)
        return note(N_("Database {path}: not made yet ('duban db upgrade' makes it)"),
                     path=sqlite.absolute())
    where = str(sqlite.absolute()) if sqlite is not None else safe_url(url)
    try:
        store = Store(url)
        try:
            current = store.current_revision()
        finally:
            store.close()
    except (SQLAlchemyError, ImportError, ValueError, OSError) as exc:
        return Finding(database_error(exc, url, t).lines[0], True)
    if current is None:
        return note(N_("Database {where}: reachable, no tables yet ('duban db upgrade' makes "
                        "them)"), where=where)
    if not known_revision(current):
        return problem(N_("Database {where}: schema revision {current} is newer than this "
                           "duban knows ({head}); see docs/deploy.md, \"Rollback\""),
                        where=where, current=current, head=head_revision())
    if current != head_revision():
        return note(N_("Database {where}: reachable, schema revision {current}; 'duban db "
                        "upgrade' brings it to {head}"), where=where, current=current,
                     head=head_revision())
    return note(N_("Database {where}: reachable, schema revision {current} (the newest)"),
                 where=where, current=current)


def check_webhook_port(settings: Settings, bot_running: bool) -> Finding | None:
    """Webhook mode: whether the listening address can be bound now (it is let go at once).

    ``bot_running``: a ``duban run`` holds the database, so a taken port is most likely its own.
    """
    if not settings.webhook_url:
        return None
    host, port = parse_listen(settings.webhook_listen)
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        if bot_running:
            return note(N_("Webhook: {listen} is in use, by the running bot it seems"),
                         listen=settings.webhook_listen)
        return problem(N_("Webhook: cannot listen on {listen}: {error}; choose another "
                           "DUBAN_WEBHOOK_LISTEN or stop the program that uses it"),
                        listen=settings.webhook_listen, error=listen_error(exc))
    return note(N_("Webhook: {url}, listening on {listen} (free now)"),
                 url=settings.webhook_url, listen=settings.webhook_listen)
