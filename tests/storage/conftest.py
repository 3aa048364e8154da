"""Storage fixtures: ``store`` (and ``db_url``, ``backend``) on SQLite and on PostgreSQL."""

from tests.dbs import backend, db_url, store

__all__ = ["backend", "db_url", "store"]
