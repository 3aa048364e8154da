"""Alembic environment for duban.

Configured in code by :func:`storage.store.alembic_config`, not by an ``alembic.ini``: the caller
hands over an open connection in ``config.attributes["connection"]`` (what ``Store.upgrade`` does),
or sets ``sqlalchemy.url``. Offline mode (``--sql``) renders the SQL for a DBA instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from storage.tables import metadata

config = context.config


def run_migrations_offline() -> None:
    """Emit the migration as SQL text for the configured URL's dialect."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # SQLite cannot ALTER most things: batch mode copies the table instead.
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the handed-over connection, or on a new engine for ``sqlalchemy.url``."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or pass a connection")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
