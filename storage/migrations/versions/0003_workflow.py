"""The supervision workflow: reviews, extensions, urges, and the acknowledgement reminder.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

* ``review``: a leader's review of one report (confirmed / returned, with a comment), one per
  report.
* ``extension``: a unit's request to move its due date on a task in a cycle, decided once.
* ``urge``: a leader urged a unit on a task, at most once per office day.
* ``reminder.kind`` may be ``ack`` too: the reminder of an assignment not acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = "kind IN ('before', 'overdue', 'digest')"
_KINDS_AFTER = "kind IN ('before', 'overdue', 'digest', 'ack')"


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _unit_column(table: str) -> tuple[sa.Column[object], sa.ForeignKeyConstraint]:
    return (sa.Column("unit_id", sa.String(length=48), nullable=False),
            sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=f"fk_{table}_unit_id_unit"))


def upgrade() -> None:
    """Create the workflow's tables and let reminders be acknowledgement reminders."""
    unit, unit_key = _unit_column("review")
    op.create_table(
        "review",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        unit,
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("reviewer_telegram_id", sa.BigInteger(), nullable=True),
        _when("reviewed_at"),
        sa.PrimaryKeyConstraint("id", name="pk_review"),
        sa.ForeignKeyConstraint(["report_id"], ["status_report.id"],
                                name="fk_review_report_id_status_report"),
        unit_key,
        sa.UniqueConstraint("report_id", name="uq_review_report_id"),
        sa.CheckConstraint("decision IN ('confirmed', 'returned')", name="ck_review_decision"),
    )
    op.create_index("ix_review_cycle_task_unit", "review", ["cycle", "task_id", "unit_id"])
    unit, unit_key = _unit_column("extension")
    op.create_table(
        "extension",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        unit,
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.BigInteger(), nullable=True),
        _when("requested_at"),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.BigInteger(), nullable=True),
        _when("decided_at", nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_extension"),
        unit_key,
        sa.CheckConstraint("state IN ('pending', 'approved', 'rejected')",
                           name="ck_extension_state"),
    )
    op.create_index("ix_extension_cycle_task_unit", "extension",
                    ["cycle", "task_id", "unit_id"])
    unit, unit_key = _unit_column("urge")
    op.create_table(
        "urge",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        unit,
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("urged_by", sa.BigInteger(), nullable=True),
        _when("urged_at"),
        sa.PrimaryKeyConstraint("id", name="pk_urge"),
        unit_key,
        sa.UniqueConstraint("task_id", "unit_id", "cycle", "day", name="uq_urge_once_a_day"),
    )
    with op.batch_alter_table("reminder") as batch:
        batch.drop_constraint("ck_reminder_kind", type_="check")
        batch.create_check_constraint("ck_reminder_kind", _KINDS_AFTER)


def downgrade() -> None:
    """Drop the workflow's tables; acknowledgement reminders are dropped too."""
    op.execute("DELETE FROM reminder WHERE kind = 'ack'")
    with op.batch_alter_table("reminder") as batch:
        batch.drop_constraint("ck_reminder_kind", type_="check")
        batch.create_check_constraint("ck_reminder_kind", _KINDS_BEFORE)
    op.drop_table("urge")
    op.drop_index("ix_extension_cycle_task_unit", table_name="extension")
    op.drop_table("extension")
    op.drop_index("ix_review_cycle_task_unit", table_name="review")
    op.drop_table("review")
