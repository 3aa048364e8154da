"""Settings, timetable and database shared by ``duban run``, the other commands and the demo.

Each function raises :class:`CliError` with one translated line per thing to fix (what, where,
how), so that every command reports a bad configuration the same way and never with a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot.i18n import Translator
from bot.oserrors import file_mode, file_owner, os_error_text, user_name
from schedules.text import N_, TextError

if TYPE_CHECKING:  # imported where used: `duban --help` needs none of them (bench_cli)
    from bot.settings import Settings
    from schedules.loader import TimetableError
    from schedules.model import Timetable
    from storage import Store

__all__ = ["CliError", "database", "read_settings", "read_timetable", "shipped_tasks_path"]

USAGE = 2  # exit status: the command line is wrong
FAILED = 1  # exit status: the command could not do its work (configuration, files, network)


def shipped_tasks_path() -> Path:
    """:func:`bot.settings.shipped_tasks_path` (imported when asked)."""
    from bot.settings import shipped_tasks_path as shipped

    return shipped()


class CliError(Exception):
    """Something the user must fix, in their language: printed without a traceback.

    Args:
        lines: the message, one line each (already translated).
        status: the exit status: :data:`USAGE` (2) for a wrong command line, :data:`FAILED` (1)
            otherwise.
    """

    def __init__(self, *lines: str, status: int = FAILED) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.status = status


# -- settings ------------------------------------------------------------------------------------

_PYDANTIC_MESSAGES = {
    "int_parsing": N_("expected a whole number, got {value!r}"),
    "float_parsing": N_("expected a number, got {value!r}"),
    "greater_than_equal": N_("must be at least {ge}, got {value!r}"),
    "less_than_equal": N_("must be at most {le}, got {value!r}"),
    "greater_than": N_("must be more than {gt}, got {value!r}"),
    "path_type": N_("expected a file path, got {value!r}"),
}


def read_settings(t: Translator, *, warn: bool = True) -> Settings:
    """The settings from the environment and ``.env`` (:func:`bot.settings.load_settings`).

    Args:
        t: the language of the messages.
        warn: print a warning (stderr) for each line of the settings file that cannot be read
            and each name duban does not know (``duban check`` reports them as problems).

    Raises:
        CliError: one line per bad variable, naming the ``.env`` file it came from.
    """
    import logging

    from pydantic import ValidationError

    from bot.settings import VARIABLES, ConfigurationError, env_file_of, load_settings

    # python-dotenv says "could not parse statement" in English; duban says it translated.
    logging.getLogger("dotenv.main").setLevel(logging.ERROR)
    try:
        settings = load_settings()
        env_file = env_file_of(settings)
        if warn and env_file is not None:
            from bot.envfile import env_file_findings

            for finding in env_file_findings(env_file):
                print(t.gettext("Warning: {problem}").format(problem=finding.line(t)),
                      file=sys.stderr)
        return settings
    except ConfigurationError as exc:
        raise CliError(t.gettext("Invalid configuration: {problem}").format(
            problem=exc.text.translate(t.gettext))) from None
    except ValidationError as exc:
        source = os.environ.get("DUBAN_ENV_FILE") or ".env"
        lines = [t.gettext("Invalid configuration (environment or {file}):").format(file=source)]
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            variable = VARIABLES.get(field, field)
            lines.append(f"  {variable}: {_setting_message(t, error)}")
        raise CliError(*lines) from None


def _setting_message(t: Translator, error: object) -> str:
    details = dict(error)  # type: ignore[call-overload]
    context = details.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, TextError):
        return cause.text.translate(t.gettext)
    template = _PYDANTIC_MESSAGES.get(details["type"])
    if template is None:
        return str(details["msg"])
    return t.gettext(template).format(value=details.get("input"), **context)


def warn_if_env_file_is_readable(t: Translator, settings: Settings) -> None:
    """Warn when the ``.env`` file in use may be read by other users (it holds the token)."""
    from bot.settings import env_file_of

    env_file = env_file_of(settings)
    if env_file is None or settings.telegram_bot_token is None:
        return
    if env_file.stat().st_mode & 0o077:
        print(t.gettext("Warning: {file} holds the bot token and other users may read it (mode "
                        "{mode}): chmod 600 {file}").format(file=env_file,
                                                            mode=file_mode(env_file)),
              file=sys.stderr)


def settings_source(t: Translator, settings: Settings) -> str:
    """Where the settings came from, for messages: the ``.env`` file or the environment only."""
    from bot.settings import env_file_of

    env_file = env_file_of(settings)
    if env_file is None:
        return t.gettext("the environment (no .env file in {cwd})").format(cwd=Path.cwd())
    return t.gettext("the environment and {file}").format(file=env_file)


# -- the timetable -------------------------------------------------------------------------------

def read_timetable(path: Path, t: Translator) -> Timetable:
    """The validated timetable at ``path``.

    Raises:
        CliError: the file is missing (the message names the working directory, ``DUBAN_TASKS``
            and ``--tasks``) or has problems (one ``file:line: field: message`` line each).
    """
    from schedules.loader import TimetableError, load_timetable

    try:
        return load_timetable(path)
    except TimetableError as exc:
        if len(exc.problems) == 1 and not Path(path).exists():
            raise CliError(t.gettext(
                "Timetable file not found: {path} (working directory {cwd}). Give --tasks PATH, "
                "or set DUBAN_TASKS in the environment or the .env file; without either duban "
                "uses the timetable it ships.").format(path=path, cwd=Path.cwd())) from None
        raise CliError(*timetable_problem_lines(exc, t)) from None


def timetable_problem_lines(exc: TimetableError, t: Translator) -> list[str]:
    """Every problem of a refused timetable, translated, one ``file:line: field: message`` each."""
    lines = [t.ngettext("The timetable has {count} problem:",
                        "The timetable has {count} problems:",
                        len(exc.problems)).format(count=len(exc.problems))]
    lines += ["  " + problem.translate(t.gettext) for problem in exc.problems]
    return lines


# -- the database --------------------------------------------------------------------------------

def check_sqlite_location(path: Path, t: Translator, *, create: bool) -> bool:
    """Whether the SQLite file ``path`` exists; with ``create``, make its folder if needed.

    Raises:
        CliError: the folder cannot be made, or the file or folder is not writable by this user:
            the message names the path, its owner and mode, the user, and how to fix it.
    """
    path = path.absolute()
    folder = path.parent
    hint = t.gettext("make it belong to the user that runs duban (chown), or set "
                     "DUBAN_DATA_DIR (or DATABASE_URL) to a folder that user owns, e.g. "
                     "/var/lib/duban (systemd: StateDirectory=duban)")
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(folder, os.W_OK | os.X_OK):
            denied = path if not os.access(path, os.R_OK | os.W_OK) else folder
            raise CliError(t.gettext(
                "Cannot write the database {path}: {denied} belongs to {owner} (mode {mode}) and "
                "user {user} may not write it; {hint}.").format(
                path=path, denied=denied, owner=file_owner(denied), mode=file_mode(denied),
                user=user_name(), hint=hint))
        return True
    if not create:
        return False
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise CliError(t.gettext(
            "Cannot create the database {path}: {folder} belongs to {owner} (mode {mode}) and "
            "user {user} may not write in it; {hint}.").format(
            path=path, folder=existing, owner=file_owner(existing), mode=file_mode(existing),
            user=user_name(), hint=hint))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(os_error_text(t, exc, path)) from None
    return False


def safe_url(url: str) -> str:
    """A database URL with its password masked, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: show its scheme only
        return url.split("://", 1)[0] + "://…"


def database_error(exc: Exception, url: str, t: Translator) -> CliError:
    """One line for a database failure: the URL (password masked), the server's words, a hint."""
    from sqlalchemy.engine import make_url

    original = getattr(exc, "orig", None) or exc
    words = " ".join(str(original).split("\n")[0].split())
    try:
        password = make_url(url).password
    except Exception:
        password = None
    if password:
        words = words.replace(str(password), "***")
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate == "42501" or "permission denied for schema" in words:
        hint = N_("the role may not create tables: make it the database's owner (createdb -O "
                  "ROLE DATABASE, or ALTER DATABASE … OWNER TO ROLE; PostgreSQL 15 and later no "
                  "longer let every role create tables in schema public)")
    elif "role" in words and "does not exist" in words:
        hint = N_("create the role first: createuser ROLE (as the postgres user), then "
                  "createdb -O ROLE DATABASE")
    elif "database" in words and "does not exist" in words:
        hint = N_("create the database first: createdb -O ROLE DATABASE")
    elif "password authentication failed" in words or "no password supplied" in words:
        hint = N_("check the user name and password in DATABASE_URL")
    elif "Connection refused" in words or "failed to resolve host" in words or \
            "timeout" in words.lower():
        hint = N_("check the host and port in DATABASE_URL and that the server is running")
    elif "unable to open database file" in words or "readonly database" in words:
        hint = N_("check that the database file and its folder belong to the user that runs "
                  "duban (DUBAN_DATA_DIR)")
    else:
        hint = N_("check DATABASE_URL")
    return CliError(t.gettext("Cannot use the database {url}: {error}. Hint: {hint}.").format(
        url=safe_url(url), error=words, hint=t.gettext(hint)))


def several_names_error(path: Path, links: int, t: Translator) -> CliError:
    """One line: the SQLite file has hard links, which the one-process lock cannot cover."""
    return CliError(t.gettext(
        "The database {path} has {links} names (hard links): a bot and a restore using two "
        "of them would each write their own WAL file and split it. Keep one name (remove the "
        "other links, e.g. find / -samefile {path}).").format(path=path, links=links))


def permission_error(exc: PermissionError, t: Translator) -> CliError:
    """One line for a file or folder this user may not use: the path, its owner and mode, the
    user duban runs as, and how to fix it (:func:`bot.oserrors.os_error_text`)."""
    if not exc.filename:
        return CliError(t.gettext("Permission denied: {error} (duban runs as user {user}).")
                        .format(error=exc, user=user_name()))
    return CliError(os_error_text(t, exc, action="use"))


def url_hint(url: str, t: Translator) -> None:
    """Refuse the URL spellings SQLAlchemy cannot load here, with the one to use.

    Raises:
        CliError: ``postgres://`` (Heroku's spelling) or ``postgresql://`` without a driver
            (SQLAlchemy would look for psycopg2, which duban does not install).
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("postgres", "postgresql", "postgres+psycopg", "postgresql+psycopg2"):
        rest = url.split("://", 1)[1]
        raise CliError(t.gettext(
            "DATABASE_URL begins with {scheme}://, which duban cannot use: write "
            "postgresql+psycopg://{rest} (the psycopg 3 driver duban installs).").format(
            scheme=scheme, rest=safe_url("postgresql+psycopg://" + rest).split("://", 1)[1]))


def no_database_error(settings: Settings, t: Translator) -> CliError:
    """One line: the configured database does not exist yet, and how to create it."""
    where = (str(settings.sqlite_path.absolute()) if settings.sqlite_path is not None
             else safe_url(settings.resolved_database_url))
    return CliError(t.gettext(
        "There is no duban database at {where} yet. Create it with 'duban db upgrade' (or by "
        "starting the bot, 'duban run'); check DUBAN_DATA_DIR or DATABASE_URL if it should "
        "be elsewhere.").format(where=where))


def newer_schema_error(current: str, url: str, t: Translator) -> CliError:
    """One line: the database was upgraded by a newer duban than this one."""
    from storage import head_revision

    return CliError(t.gettext(
        "The database {url} is at schema revision {current}, which this duban does not know "
        "(its newest is {head}): a newer duban upgraded it. Install that version again, or "
        "restore the backup made before the upgrade (docs/deploy.md, \"Rollback\").").format(
        url=safe_url(url), current=current, head=head_revision()))


@contextmanager
def database(settings: Settings, t: Translator, *, create: bool = False,
             upgrade: bool = False, application_name: str | None = None) -> Iterator[Store]:
    """The configured database as a :class:`storage.Store`, closed afterwards.

    Only ``duban run``, ``duban db upgrade`` (and a restore) create or upgrade a database;
    every other command opens the one that exists and refuses to go on without it.

    Args:
        settings: the settings (``DATABASE_URL`` or the SQLite file in ``DUBAN_DATA_DIR``).
        t: the language of the messages.
        create: make the database (the SQLite file and its folder, or the tables) when there
            is none yet.
        upgrade: bring an older schema to the newest revision.
        application_name: PostgreSQL: the ``application_name`` of the connections.

    Raises:
        CliError: one line: the database cannot be opened or used (:func:`database_error`),
            there is none yet and ``create`` is false, its schema is older and ``upgrade`` is
            false, its schema is newer than this code, or it is half made (an interrupted
            creation of an older duban).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from storage import Store, head_revision, known_revision

    url = settings.resolved_database_url
    url_hint(url, t)
    sqlite = settings.sqlite_path
    if sqlite is not None:
        exists = check_sqlite_location(sqlite, t, create=create)
        if not exists and not create:
            raise no_database_error(settings, t)
    engine_url = url
    if application_name and not url.startswith("sqlite"):
        try:
            engine_url = make_url(url).update_query_dict(
                {"application_name": application_name}).render_as_string(hide_password=False)
        except Exception:  # an unparsable URL: Store says so below
            engine_url = url
    try:
        store = Store(engine_url)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise database_error(exc, url, t) from None
    except PermissionError as exc:
        raise permission_error(exc, t) from None
    try:
        current = store.current_revision()
        if current is None:
            if _has_tables(store):
                raise CliError(t.gettext(
                    "The database {url} has tables but no schema version: its creation was "
                    "interrupted. If it holds no data yet (a new install), delete it (the "
                    "SQLite file, or the tables) and run 'duban db upgrade' again.").format(
                    url=safe_url(url)))
            if not create:
                raise no_database_error(settings, t)
        elif not known_revision(current):
            raise newer_schema_error(current, url, t)
        elif current != head_revision() and not upgrade:
            raise CliError(t.gettext(
                "The database {url} is at schema revision {current}, older than this duban's "
                "{head}: run 'duban db upgrade' first.").format(
                url=safe_url(url), current=current, head=head_revision()))
        if current is None or upgrade:
            store.upgrade()
        yield store
    except SQLAlchemyError as exc:
        raise database_error(exc, url, t) from None
    except PermissionError as exc:
        raise permission_error(exc, t) from None
    finally:
        store.close()


def _has_tables(store: Store) -> bool:
    from sqlalchemy import inspect

    from storage.tables import metadata

    with store.engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
    return bool(present & set(metadata.tables))
