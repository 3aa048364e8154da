"""Initial schema: units, people, invites, leadership chats, reports, evidence, reminders, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand to match :mod:`storage.tables` (``tests/storage/test_migrations.py`` compares
them). Datetimes are ``DateTime(timezone=True)``; the models' ``UTCDateTime`` only converts values.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "unit",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_unit"),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.String(length=48), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _when("created_at"),
        _when("deactivated_at", nullable=True),
        sa.Column("deactivation_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_person"),
        sa.UniqueConstraint("telegram_user_id", name="uq_person_telegram_user_id"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name="fk_person_unit_id_unit"),
        sa.CheckConstraint("role IN ('contact', 'leader', 'admin')", name="ck_person_role"),
        sa.CheckConstraint("(role = 'contact') = (unit_id IS NOT NULL)",
                           name="ck_person_unit_for_contacts"),
    )
    op.create_index("ix_person_unit_id", "person", ["unit_id"])
    op.create_table(
        "invite",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=48), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        _when("created_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
        sa.Column("used_by_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("used_in_chat_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_invite"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name="fk_invite_unit_id_unit"),
        sa.CheckConstraint("role IN ('contact', 'leader', 'admin')", name="ck_invite_role"),
        sa.CheckConstraint("(role = 'contact') = (unit_id IS NOT NULL)",
                           name="ck_invite_unit_for_contacts"),
    )
    op.create_table(
        "leadership_chat",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        _when("bound_at"),
        sa.Column("bound_by", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name="pk_leadership_chat"),
    )
    op.create_table(
        "status_report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=48), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reporter_telegram_id", sa.BigInteger(), nullable=True),
        _when("reported_at"),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_message_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_status_report"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name="fk_status_report_unit_id_unit"),
        sa.CheckConstraint("status IN ('done', 'in_progress', 'blocked', 'not_applicable')",
                           name="ck_status_report_status"),
        sa.CheckConstraint("progress IS NULL OR (progress >= 0 AND progress <= 100)",
                           name="ck_status_report_progress"),
        sa.CheckConstraint("source IN ('button', 'reply', 'command', 'cli')",
                           name="ck_status_report_source"),
    )
    op.create_index("ix_status_report_cycle_task_unit", "status_report",
                    ["cycle", "task_id", "unit_id"])
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.String(), nullable=False),
        sa.Column("file_unique_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(), nullable=True),
        sa.Column("added_by_telegram_id", sa.BigInteger(), nullable=True),
        _when("added_at"),
        sa.PrimaryKeyConstraint("id", name="pk_evidence"),
        sa.ForeignKeyConstraint(["report_id"], ["status_report.id"],
                                name="fk_evidence_report_id_status_report"),
        sa.CheckConstraint("kind IN ('document', 'photo')", name="ck_evidence_kind"),
    )
    op.create_index("ix_evidence_report_id", "evidence", ["report_id"])
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=48), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        _when("due_at"),
        sa.Column("cutoff", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        _when("claimed_at", nullable=True),
        _when("sent_at", nullable=True),
        _when("acknowledged_at", nullable=True),
        sa.Column("acknowledged_by_telegram_id", sa.BigInteger(), nullable=True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_reminder"),
        sa.UniqueConstraint("task_id", "unit_id", "cycle", "kind", "offset_days", "chat_id",
                            name="uq_reminder_delivery"),
        sa.CheckConstraint("kind IN ('before', 'overdue', 'digest')", name="ck_reminder_kind"),
        sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed', 'skipped')",
                           name="ck_reminder_state"),
    )
    op.create_index("ix_reminder_state_due_at", "reminder", ["state", "due_at"])
    op.create_index("ix_reminder_chat_message", "reminder", ["chat_id", "message_id"])
    op.create_index("ix_reminder_cycle", "reminder", ["cycle"])
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _when("at"),
        sa.Column("actor_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_entry"),
    )
    op.create_index("ix_audit_entry_at", "audit_entry", ["at"])
    op.create_index("ix_audit_entry_action", "audit_entry", ["action"])


def downgrade() -> None:
    """Drop every table (and so every row)."""
    for table in ("audit_entry", "reminder", "evidence", "status_report", "leadership_chat",
                  "invite", "person", "unit"):
        op.drop_table(table)
