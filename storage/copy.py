"""Copying one duban database into another (SQLite to PostgreSQL), ids kept.

Use::

    counts = copy_database("sqlite:////var/lib/duban/duban.sqlite3",
                           "postgresql+psycopg://duban@/duban")   # both at the newest revision

Every table of :data:`storage.tables.metadata` is copied in foreign-key order (parents first),
each table's rows in primary-key order, with their ids, in one transaction on the target: a
failure leaves the target as it was. The target must be empty (no row in any table); the source
and the target must both be at this code's newest schema revision. On PostgreSQL each table's
id sequence is then moved past the largest copied id, so that new rows do not collide.
The source is only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, Table, func, insert, select, text

from storage.store import Store, head_revision
from storage.tables import metadata

__all__ = ["CopyError", "copy_database"]

_BATCH = 500  # rows per INSERT: far below both backends' bound-parameter limits

CopyErrorReason = Literal["source_revision", "target_revision", "not_empty", "same"]


@dataclass
class CopyError(Exception):
    """The copy was not made. ``reason``: ``source_revision`` / ``target_revision`` (not at
    the newest revision: ``revision``), ``not_empty`` (the target holds rows: ``counts``),
    ``same`` (source and target are one database)."""

    reason: CopyErrorReason
    revision: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.reason} (revision {self.revision}, counts {self.counts})"


def _count(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def copy_database(source_url: str, target_url: str) -> dict[str, int]:
    """Copy every row of the database at ``source_url`` into the empty one at ``target_url``.

    Returns:
        Rows copied, by table name.

    Raises:
        CopyError: ``same``, ``source_revision``, ``target_revision`` or ``not_empty``; nothing
            was written.
        sqlalchemy.exc.SQLAlchemyError: a database failed; the target's transaction was rolled
            back.
    """
    source, target = Store(source_url), Store(target_url)
    try:
        if source.engine.url == target.engine.url:
            raise CopyError("same")
        head = head_revision()
        if (revision := source.current_revision()) != head:
            raise CopyError("source_revision", revision=revision)
        if (revision := target.current_revision()) != head:
            raise CopyError("target_revision", revision=revision)
        copied: dict[str, int] = {}
        with target.engine.begin() as writer, source.engine.connect() as reader:
            counts = {t.name: _count(writer, t) for t in metadata.sorted_tables}
            if any(counts.values()):
                raise CopyError("not_empty", counts={k: v for k, v in counts.items() if v})
            for table in metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                result = reader.execute(select(table).order_by(*order))
                copied[table.name] = 0
                while rows := result.fetchmany(_BATCH):
                    writer.execute(insert(table), [dict(row._mapping) for row in rows])
                    copied[table.name] += len(rows)
            if writer.dialect.name == "postgresql":
                _move_sequences(writer)
        return copied
    finally:
        source.close()
        target.close()


def _move_sequences(writer: Connection) -> None:
    """Set each serial id's sequence to the largest id (the next id is one more)."""
    for table in metadata.sorted_tables:
        column: Any = table.autoincrement_column
        if column is None:
            continue
        sequence = writer.execute(text("SELECT pg_get_serial_sequence(:table, :column)"),
                                  {"table": table.name, "column": column.name}).scalar()
        if sequence is None:
            continue
        largest = writer.execute(select(func.max(column))).scalar()
        if largest is not None:
            writer.execute(text("SELECT setval(:sequence, :value, true)"),
                           {"sequence": sequence, "value": int(largest)})
