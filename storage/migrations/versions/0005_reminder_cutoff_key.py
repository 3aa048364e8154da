"""A delivery's key includes the cutoff it is about.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

``uq_reminder_delivery`` was (task, unit, cycle, kind, offset, chat): when an extension (延期)
moved a unit's cutoff after its overdue notice went out, the reminders about the new cutoff had
the keys of rows already sent, so none was sent. With the cutoff in the key they are new
deliveries, and the rows already sent stay as the record.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ["task_id", "unit_id", "cycle", "kind", "offset_days", "chat_id"]
_NEW = ["task_id", "unit_id", "cycle", "kind", "offset_days", "cutoff", "chat_id"]


def upgrade() -> None:
    """Widen the unique key (SQLite rebuilds the table in a batch)."""
    with op.batch_alter_table("reminder") as batch:
        batch.drop_constraint("uq_reminder_delivery", type_="unique")
        batch.create_unique_constraint("uq_reminder_delivery", _NEW)


def downgrade() -> None:
    """Back to the key without the cutoff; fails if two rows differ only by their cutoff."""
    with op.batch_alter_table("reminder") as batch:
        batch.drop_constraint("uq_reminder_delivery", type_="unique")
        batch.create_unique_constraint("uq_reminder_delivery", _OLD)
