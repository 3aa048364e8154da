"""Each fact row carries the facts' revision that wrote it: ``facts_revision`` columns.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

``status_report``, ``review``, ``extension`` and ``reminder`` (an acknowledgement), and
``person`` (a name), get ``facts_revision``: the number of the ``facts_revision`` counter that
the transaction which wrote (or last changed) the row raised it to, and an index on it. A
writer takes the counter row's lock before it stamps a row and holds it until it commits, so the
numbers are given in commit order, and a store that keeps a cycle's facts as of revision K
reads only the rows stamped above K to bring them up to date (``Store.cycle_facts``;
docs/design.md, "Facts kept in memory"). Rows written before this migration are stamped 0: a
store reads everything once when it starts.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAMPED = ("status_report", "review", "extension", "reminder", "person")
"""The tables whose rows are stamped."""


def upgrade() -> None:
    """Add the column (0 for the rows there are) and its index to each table."""
    for table in STAMPED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("facts_revision", sa.BigInteger(), nullable=False,
                                       server_default="0"))
        op.create_index(f"ix_{table}_facts_revision", table, ["facts_revision"])


def downgrade() -> None:
    """Drop them again: with ``ALTER TABLE ... DROP COLUMN`` on SQLite too (3.35 and later),
    not by copying the table, which SQLite's foreign keys to ``person`` would refuse."""
    for table in reversed(STAMPED):
        op.drop_index(f"ix_{table}_facts_revision", table_name=table)
        with op.batch_alter_table(table, recreate="never") as batch:
            batch.drop_column("facts_revision")
