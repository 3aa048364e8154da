"""Throw-away databases for tests: a temp-file SQLite and a fresh PostgreSQL database.

The fixtures here are imported by ``tests/storage/conftest.py`` (and can be by any other
``conftest.py``): ``store`` is a migrated :class:`storage.Store` on each backend in turn.

PostgreSQL comes from ``DUBAN_TEST_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``): a database with a unique name is
created there for each test and dropped afterwards. A server that cannot be reached fails the
test, unless ``DUBAN_SKIP_PG=1`` is set (then the PostgreSQL tests are skipped).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import OperationalError

from storage import Store

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

BACKENDS = ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))
"""Parameters for a backend-parametrised fixture; the PostgreSQL one is marked ``postgres``."""


def pg_base_url() -> URL:
    """The PostgreSQL server (and maintenance database) the tests create databases on."""
    return make_url(os.environ.get("DUBAN_TEST_PG_URL", DEFAULT_PG_URL))


def sqlite_url(folder: Path) -> str:
    """A URL for a new SQLite file in ``folder``."""
    return f"sqlite:///{folder / 'duban.sqlite3'}"


def require_postgres() -> None:
    """Fail (or skip with ``DUBAN_SKIP_PG=1``) unless the PostgreSQL server answers."""
    engine = create_engine(pg_base_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return
    except OperationalError as exc:
        problem = str(exc.orig).strip()
    finally:
        engine.dispose()
    message = (f"PostgreSQL at {pg_base_url().render_as_string(hide_password=True)} cannot be "
               f"reached ({problem}); start it, set DUBAN_TEST_PG_URL, or set DUBAN_SKIP_PG=1 "
               "to skip the PostgreSQL tests")
    if os.environ.get("DUBAN_SKIP_PG") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@contextmanager
def postgres_database() -> Iterator[str]:
    """Create an empty PostgreSQL database with a unique name; drop it on the way out."""
    require_postgres()
    base = pg_base_url()
    name = f"duban_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def database_url(backend: str, folder: Path) -> Iterator[str]:
    """An empty database on ``backend`` ("sqlite" or "postgres"), gone afterwards."""
    if backend == "sqlite":
        yield sqlite_url(folder)
    elif backend == "postgres":
        with postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}")


_TEMPLATES: dict[str, str] = {}
"""This process's migrated databases to copy (``"sqlite"``: a file; ``"postgres"``: a database
name), made on first use: a copy costs milliseconds where the migrations cost 0.1-0.5 s a test."""


def _sqlite_template() -> str:
    if "sqlite" not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="duban-test-template-"))
        atexit.register(shutil.rmtree, folder, True)
        template = Store(sqlite_url(folder))
        template.upgrade()
        template.close()  # the last connection: the write-ahead log is folded into the file
        _TEMPLATES["sqlite"] = str(folder / "duban.sqlite3")
    return _TEMPLATES["sqlite"]


def _postgres_template(admin: Engine) -> str:
    if "postgres" not in _TEMPLATES:
        name = f"duban_template_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))

        def drop() -> None:
            engine = create_engine(pg_base_url(), isolation_level="AUTOCOMMIT")
            with suppress(Exception), engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()

        atexit.register(drop)
        template = Store(pg_base_url().set(database=name).render_as_string(hide_password=False))
        template.upgrade()
        template.close()  # no session may stay on a template
        _TEMPLATES["postgres"] = name
    return _TEMPLATES["postgres"]


def _from_template(url: str) -> None:
    """Make the database at ``url`` a copy of this process's migrated one when it is new (an
    SQLite file not there yet, a PostgreSQL database without tables); otherwise leave it."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not Path(
                parsed.database).exists():
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_sqlite_template(), parsed.database)
        return
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return
    probe = create_engine(parsed)
    try:
        with probe.connect() as connection:
            empty = connection.execute(text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'public'")).scalar_one() == 0
    finally:
        probe.dispose()
    if not empty:
        return
    admin = create_engine(pg_base_url(), isolation_level="AUTOCOMMIT")
    try:
        template = _postgres_template(admin)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{parsed.database}" WITH (FORCE)'))
            connection.execute(text(
                f'CREATE DATABASE "{parsed.database}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()


@contextmanager
def migrated_store(url: str) -> Iterator[Store]:
    """A :class:`Store` on ``url`` upgraded to the newest migration, closed afterwards. A new
    database starts as a copy of one this process migrated once (:func:`_from_template`); the
    upgrade then finds nothing to do. The migrations themselves are tested on empty databases
    in tests/storage/test_migrations.py."""
    _from_template(url)
    store = Store(url)
    try:
        store.upgrade()
        yield store
    finally:
        store.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend under test: "sqlite" or "postgres"."""
    name: str = request.param
    return name


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database on the backend under test."""
    with database_url(backend, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated :class:`Store` on the backend under test."""
    with migrated_store(db_url) as migrated:
        yield migrated


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a paused machine, a hung
    fail-over): what a database call must not wait for without limit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with suppress(OSError):
                accepted.append(listener.accept()[0])

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(5)
        for connection in accepted:
            connection.close()
        listener.close()


class PausableProxy:
    """A TCP forwarder in front of a server that can stop forwarding while keeping every
    socket open, like a paused server machine (``docker pause``, SIGSTOP): the kernel still
    accepts and acknowledges what clients send, nothing comes back. One thread per direction
    of each connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.running = threading.Event()
        self.running.set()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def pause(self) -> None:
        """Stop forwarding (what arrives is held, unanswered)."""
        self.running.clear()

    def resume(self) -> None:
        """Forward again."""
        self.running.set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client = self._listener.accept()[0]
            except OSError:
                continue
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._forward, args=(source, target),
                                 daemon=True).start()

    def _forward(self, source: socket.socket, target: socket.socket) -> None:
        with suppress(OSError):
            while not self._stop.is_set():
                data = source.recv(65536)
                if not data:
                    break
                while not self.running.is_set() and not self._stop.is_set():
                    self.running.wait(0.1)  # paused: hold it, the socket stays open
                target.sendall(data)
        with suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        """Close every socket and stop the threads."""
        self._stop.set()
        self.running.set()
        for sock in [self._listener, *self._sockets]:
            with suppress(OSError):
                sock.close()
