"""Backing up and restoring duban's database, safe while the bot runs.

Use::

    backup_database("sqlite:////var/lib/duban/duban.sqlite3", Path("/backups/duban.sqlite3"))
    restore_database(url, Path("/backups/duban.sqlite3"), replace=True)   # bot stopped

* SQLite: SQLite's online backup API (``sqlite3.Connection.backup``) copies a consistent
  snapshot page by page while the bot goes on writing; the source is opened read-only, so a
  backup run as another user (root) leaves no file behind that the service cannot open. The
  copy is one self-contained file (rollback journal, not WAL), checked with ``quick_check``.
  Restore copies the backup into the configured file with the same API, through SQLite's
  locks, so a stale ``-wal`` file of the old database cannot mix with it.
* PostgreSQL: ``pg_dump --format=custom`` and ``pg_restore --clean --if-exists --no-owner
  --single-transaction``; the password goes to the tools in ``PGPASSWORD``, never on their
  command line.

Both write the backup beside its final name and rename it into place, so a backup that fails
half way never leaves a file that looks whole. A restore refuses to overwrite a database that
holds people or reports unless ``replace=True``. Neither upgrades the schema: the caller runs
``Store.upgrade`` after a restore (a backup of an older duban comes back at its revision).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy import URL, create_engine, inspect, text
from sqlalchemy.engine import make_url

from storage.store import known_revision

__all__ = ["BackupError", "BackupInfo", "backup_database", "backup_revision",
           "database_counts", "restore_database", "sessions_named"]

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
COUNTED = ("person", "invite", "leadership_chat", "status_report", "reminder")
"""The tables whose rows a backup reports, and a restore will not overwrite unasked (units
come from the timetable and the audit log from the rest)."""

BackupErrorReason = Literal["no_database", "tool_missing", "tool_failed", "not_a_backup",
                            "wrong_kind", "not_empty", "damaged", "too_new", "is_database"]


class BackupError(Exception):
    """A backup or restore could not be done; ``reason`` says why, ``details`` with what.

    Reasons: ``no_database`` (the SQLite file does not exist), ``tool_missing`` (``pg_dump`` or
    ``pg_restore`` is not installed; ``details["tool"]``), ``tool_failed`` (it failed:
    ``details["tool"]``, ``details["error"]``, password masked), ``not_a_backup`` (the file is
    not a duban backup), ``wrong_kind`` (a PostgreSQL dump for SQLite or the other way round:
    ``details["kind"]``), ``not_empty`` (the database holds data: ``details["counts"]``),
    ``damaged`` (SQLite's check of the copy failed: ``details["error"]``), ``too_new`` (the
    backup's schema revision is unknown to this code, a newer duban made it:
    ``details["revision"]``), ``is_database`` (the backup's target is the live database file
    or one of its companions, through whatever path: ``details["path"]``).
    """

    def __init__(self, reason: BackupErrorReason, **details: object) -> None:
        super().__init__(f"{reason}: {details}" if details else reason)
        self.reason: BackupErrorReason = reason
        self.details = details


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds, or what a restore brought back.

    Attributes:
        path: the backup file.
        size: its size in bytes.
        revision: the schema's Alembic revision in it (None if it has none).
        counts: rows of the :data:`COUNTED` tables in it (for a PostgreSQL dump: in the
            database as it was dumped, counted just after).
    """

    path: Path
    size: int
    revision: str | None
    counts: dict[str, int] = field(default_factory=dict)


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise ValueError(f"not a SQLite file: {url.render_as_string(hide_password=True)}")
    return Path(database)


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path.absolute().as_uri() + "?mode=ro", uri=True)


def _kind_of(path: Path) -> str:
    """``sqlite``, ``pg_dump`` or ``unknown``, from the file's first bytes."""
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "pg_dump"
    return "unknown"


@contextlib.contextmanager
def _partial(target: Path) -> Iterator[Path]:
    """A temporary file beside ``target``, renamed to it when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        partial.chmod(0o600)  # people's names and reports: for the operator's eyes only
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _sqlite_facts(connection: sqlite3.Connection) -> tuple[str | None, dict[str, int]]:
    tables = {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    revision = None
    if "alembic_version" in tables:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    counts = {name: int(connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
              for name in COUNTED if name in tables}
    return revision, counts


def database_counts(url: str) -> dict[str, int]:
    """Rows in the :data:`COUNTED` tables of a database (tables that do not exist count 0)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            return {name: int(connection.execute(text(f'SELECT count(*) FROM "{name}"'))
                              .scalar_one()) if name in present else 0 for name in COUNTED}
    finally:
        engine.dispose()


# -- backup ------------------------------------------------------------------------------------
def backup_database(url: str, target: Path) -> BackupInfo:
    """Copy the database at ``url`` into the file ``target`` (replaced if it exists).

    Raises:
        BackupError: ``no_database``, ``tool_missing``, ``tool_failed`` or ``damaged``.
    """
    parsed = make_url(url)
    if _is_sqlite(parsed):
        return _backup_sqlite(_sqlite_file(parsed), target)
    return _backup_postgres(parsed, target)


def _backup_sqlite(source: Path, target: Path) -> BackupInfo:
    if not source.is_file():
        raise BackupError("no_database", path=source)
    if _is_live_file(target, source):  # replacing it would lose what the bot writes next
        raise BackupError("is_database", path=target)
    with _partial(target) as partial:
        origin = _read_only(source)
        copy = sqlite3.connect(partial)
        try:
            origin.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError("damaged", error=verdict)
            revision, counts = _sqlite_facts(copy)
        finally:
            copy.close()
            origin.close()
    return BackupInfo(target, target.stat().st_size, revision, counts)


def _is_live_file(path: Path, database: Path) -> bool:
    """Whether ``path`` is the SQLite file ``database`` or its write-ahead log, shared memory,
    rollback journal or the running bot's lock file (``<database>.lock`` beside the file the
    links lead to: replacing it would let a second bot lock a new file), by any path (symbolic
    links followed, hard links compared)."""
    real = database.resolve()
    live = [base.with_name(base.name + suffix) for base in (database, real)
            for suffix in ("", "-wal", "-shm", "-journal", ".lock")]
    target = path.resolve()
    for file in live:
        if target == file.resolve():
            return True
        with contextlib.suppress(OSError):
            if path.exists() and file.exists() and path.samefile(file):
                return True
    return False


def _backup_postgres(url: URL, target: Path) -> BackupInfo:
    with _partial(target) as partial:
        _run_tool(url, "pg_dump", "--format=custom", f"--file={partial}")
    plain = url.render_as_string(hide_password=False)
    return BackupInfo(target, target.stat().st_size, _pg_revision(plain),
                      database_counts(plain))


def _run_tool(url: URL, tool: str, *args: str) -> None:
    """Run a PostgreSQL client tool on the database of ``url``; the password in the environment."""
    program = shutil.which(tool)
    if program is None:
        raise BackupError("tool_missing", tool=tool)
    libpq = url.set(drivername="postgresql", password=None)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    result = subprocess.run([program, *args, "--dbname",
                             libpq.render_as_string(hide_password=False)],
                            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        error = lines[0] if lines else f"exit status {result.returncode}"
        if url.password:
            error = error.replace(str(url.password), "***")
        raise BackupError("tool_failed", tool=tool, error=error.strip())


# -- restore -----------------------------------------------------------------------------------
def restore_database(url: str, source: Path, *, replace: bool = False) -> BackupInfo:
    """Put the backup ``source`` into the database at ``url`` (stop the bot first).

    Args:
        url: the database to restore into (a SQLite file is created if missing).
        source: a file made by :func:`backup_database`.
        replace: overwrite a database that already holds people, invitations, groups, reports
            or reminders.

    The backup's schema revision is read first: a backup made by a newer duban (a revision
    this code does not know) is refused before anything is overwritten.

    Raises:
        BackupError: ``not_a_backup``, ``wrong_kind``, ``too_new``, ``not_empty``,
            ``tool_missing`` or ``tool_failed``.
    """
    parsed = make_url(url)
    if not source.is_file():
        raise BackupError("not_a_backup", path=source)
    kind = _kind_of(source)
    wanted = "sqlite" if _is_sqlite(parsed) else "pg_dump"
    if kind == "unknown":
        raise BackupError("not_a_backup", path=source)
    if kind != wanted:
        raise BackupError("wrong_kind", kind=kind, path=source)
    revision = backup_revision(source, parsed)
    if revision is not None and not known_revision(revision):
        raise BackupError("too_new", revision=revision, path=source)
    if _is_sqlite(parsed):
        target = _sqlite_file(parsed)
        existing = database_counts(url) if target.exists() else {}
    else:
        existing = database_counts(url)
    if any(existing.values()) and not replace:
        raise BackupError("not_empty", counts=existing)
    if _is_sqlite(parsed):
        return _restore_sqlite(source, _sqlite_file(parsed))
    _run_tool(parsed, "pg_restore", "--clean", "--if-exists", "--no-owner",
              "--single-transaction", "--exit-on-error", str(source))
    return BackupInfo(source, source.stat().st_size, _pg_revision(url), database_counts(url))


def backup_revision(source: Path, url: URL) -> str | None:
    """The schema revision stored in the backup ``source`` (None if it holds none).

    SQLite: read from the file (opened read-only). PostgreSQL dump: ``pg_restore`` prints the
    data of its ``alembic_version`` table.

    Raises:
        BackupError: ``not_a_backup`` (not a SQLite file), ``tool_missing``, ``tool_failed``.
    """
    if _is_sqlite(url):
        try:
            origin = _read_only(source)
            try:
                return _sqlite_facts(origin)[0]
            finally:
                origin.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError("not_a_backup", path=source, error=str(exc)) from None
    program = shutil.which("pg_restore")
    if program is None:
        raise BackupError("tool_missing", tool="pg_restore")
    result = subprocess.run([program, "--data-only", "--table=alembic_version", "--file=-",
                             str(source)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise BackupError("tool_failed", tool="pg_restore",
                          error=lines[0] if lines else f"exit status {result.returncode}")
    rows = result.stdout.split("FROM stdin;\n", 1)
    if len(rows) < 2:
        return None
    first = rows[1].split("\n", 1)[0].strip()
    return first if first and first != "\\." else None


def _restore_sqlite(source: Path, target: Path) -> BackupInfo:
    origin = _read_only(source)
    try:
        revision, _ = _sqlite_facts(origin)
        if revision is None:
            raise BackupError("not_a_backup", path=source)
        target.parent.mkdir(parents=True, exist_ok=True)
        destination = sqlite3.connect(target, timeout=15)
        try:
            origin.backup(destination)
            _, counts = _sqlite_facts(destination)
        finally:
            destination.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError("not_a_backup", path=source, error=str(exc)) from None
    finally:
        origin.close()
    return BackupInfo(source, source.stat().st_size, revision, counts)


def sessions_named(url: str, application_name: str) -> list[int]:
    """PostgreSQL: the process ids of the other sessions on the database of ``url`` whose
    ``application_name`` is ``application_name`` (``pg_stat_activity``); [] for SQLite."""
    if _is_sqlite(make_url(url)):
        return []
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [int(pid) for pid in connection.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
                "application_name = :name AND pid <> pg_backend_pid() ORDER BY pid"),
                {"name": application_name}).scalars()]
    finally:
        engine.dispose()


def _pg_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if "alembic_version" not in inspect(connection).get_table_names():
                return None
            value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return str(value) if value is not None else None
    finally:
        engine.dispose()
