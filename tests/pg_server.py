"""A PostgreSQL server of the test's own, to stop and start again (a database outage).

The shared server (tests/dbs.py) must never be restarted by a test; this one lives in a
temporary folder on a free port: ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin``
(run as the ``postgres`` user when the tests run as root, since PostgreSQL refuses root).
Without those binaries the test is skipped, saying why.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivatePostgres:
    """A running server: :attr:`url` to connect, :meth:`stop` and :meth:`start` it."""

    bin: Path
    data: Path
    port: int
    as_user: list[str]

    @property
    def url(self) -> str:
        """SQLAlchemy URL of its ``postgres`` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-w",
                        "-t", "30", *args], check=True, capture_output=True, text=True)

    def start(self) -> None:
        """Start it (or again), waiting until it accepts connections."""
        self._pg_ctl("-o", f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 "
                     "-c fsync=off", "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        """Stop it now (``-m fast``: open connections are cut, as in a crash or a fail-over)."""
        self._pg_ctl("-m", "fast", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A fresh PostgreSQL server in a temporary folder; skipped if the binaries are absent."""
    binaries = _binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl) to start "
                    "a private server for the outage test")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run initdb as")
        as_user = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="duban-pg-"))
    data = folder / "data"
    try:
        if as_user:
            shutil.chown(folder, "postgres")
        subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "postgres",
                        "-A", "trust", "--no-sync"], check=True, capture_output=True, text=True)
        server = PrivatePostgres(binaries, data, _free_port(), as_user)
        server.start()
        try:
            yield server
        finally:
            subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "stop"], check=False, capture_output=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
