"""Reminder leases: who claimed a delivery, and until when (judged by the database's clock).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

* ``reminder.claimed_by``: the dispatcher instance (host, process, random part) that holds a
  ``sending`` row.
* ``reminder.lease_until``: until when it holds it; the instance renews the lease while it
  works, and a lease that ran out (by the database's clock, never an instance's own) returns the
  row to ``pending``. Rows left ``sending`` by an older version have no lease: they count as
  expired.
* ``ix_reminder_state_lease``: finding the expired leases.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the two columns and their index."""
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=96), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_reminder_state_lease", "reminder", ["state", "lease_until"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_reminder_state_lease", table_name="reminder")
    with op.batch_alter_table("reminder") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
