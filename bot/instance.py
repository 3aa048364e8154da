"""One ``duban run`` per SQLite database: a lock file beside the database.

Use::

    with sqlite_instance_lock(Path("/var/lib/duban/duban.sqlite3"), "run"):
        ...  # the bot runs; a second ``duban run`` (or ``duban db restore``) is refused

The lock is ``<database>.lock`` (e.g. ``duban.sqlite3.lock``), held with ``flock(LOCK_EX)`` as
long as the process lives: the kernel drops it when the process ends, however it ends, so a
crash never leaves a stale lock (the file itself stays, empty of meaning). The file holds the
holder's pid and what it does (``run`` or ``restore``), for the message of the one refused.

PostgreSQL needs no lock file: several ``duban run`` may share one PostgreSQL database (the
database's own transactions keep them apart; see docs/deploy.md); ``duban run`` names its
connections ``duban run`` (``application_name``) so that ``duban db restore`` can see it in
``pg_stat_activity``.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RUN_APPLICATION_NAME", "InstanceBusy", "SeveralNames", "is_locked", "lock_path",
           "sqlite_instance_lock"]

RUN_APPLICATION_NAME = "duban run"
"""The PostgreSQL ``application_name`` of the bot's connections (``pg_stat_activity``)."""


@dataclass
class InstanceBusy(Exception):
    """Another process holds the lock.

    Attributes:
        path: the lock file.
        pid: the holder's process id, as it wrote it (None if unreadable).
        purpose: what the holder does: ``run`` or ``restore`` (``""`` if unknown).
    """

    path: Path
    pid: int | None
    purpose: str

    def __str__(self) -> str:
        return f"{self.path} is held by pid {self.pid} ({self.purpose})"


@dataclass
class SeveralNames(Exception):
    """The database file has hard links: a lock taken through one name would not stop a
    process that opens it through another (its WAL beside that name: a split database).

    Attributes:
        path: the database file, as given.
        links: how many names it has (``st_nlink``).
    """

    path: Path
    links: int

    def __str__(self) -> str:
        return f"{self.path} has {self.links} names (hard links)"


def lock_path(database: Path) -> Path:
    """The lock file of the SQLite database ``database``: ``<database>.lock`` beside the file
    itself, symbolic links followed, so that every path to one file names one lock."""
    real = database.resolve()
    return real.with_name(real.name + ".lock")


def _holder(path: Path) -> tuple[int | None, str]:
    try:
        words = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None, ""
    pid = int(words[0]) if words and words[0].isdigit() else None
    return pid, words[1] if len(words) > 1 else ""


@contextmanager
def sqlite_instance_lock(database: Path, purpose: str) -> Iterator[Path]:
    """Hold the lock of ``database`` for the block; yields the lock file's path.

    Args:
        database: the SQLite database file (its folder must exist).
        purpose: ``run`` or ``restore``, written for the process that is refused.

    Raises:
        InstanceBusy: another process holds it.
        SeveralNames: the file has hard links (the lock, by name, cannot cover them).
        OSError: the lock file cannot be created or opened (e.g. ``PermissionError``).
    """
    try:
        links = os.stat(database).st_nlink
    except FileNotFoundError:
        links = 1
    if links > 1:
        raise SeveralNames(database, links)
    path = lock_path(database)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, holder_purpose = _holder(path)
            raise InstanceBusy(path, pid, holder_purpose) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()} {purpose}\n".encode("ascii"), 0)
        try:
            yield path
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the flock


def is_locked(database: Path) -> bool:
    """Whether a process holds the lock of ``database`` now (nothing is written)."""
    try:
        descriptor = os.open(lock_path(database), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False
