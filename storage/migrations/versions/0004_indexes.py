"""Indexes for the summary and for counting a person's recent attempts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

* ``ix_status_report_latest`` (cycle, task, unit, newest first) replaces
  ``ix_status_report_cycle_task_unit``: ``latest_reports`` ranks each (task, unit)'s reports of a
  cycle newest first, and the newest-report look-up of a double press reads one row, both
  straight from the index instead of sorting (docs/queries.md has the plans).
* ``ix_audit_entry_actor_at``: a person's failed enrolment attempts of the last hour (the
  limit on guessing invite codes).
* ``ix_invite_created_by_at``: an admin's invitations of the last hour (the limit on making
  them).

The dispatch (``due_deliveries``: state, due time) and reply (``reminders_by_message``: chat,
message) look-ups already have their indexes since 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the indexes; the summary's replaces its narrower predecessor."""
    op.drop_index("ix_status_report_cycle_task_unit", table_name="status_report")
    op.create_index("ix_status_report_latest", "status_report",
                    ["cycle", "task_id", "unit_id", sa.text("reported_at DESC"),
                     sa.text("id DESC")])
    op.create_index("ix_audit_entry_actor_at", "audit_entry", ["actor_telegram_id", "at"])
    op.create_index("ix_invite_created_by_at", "invite", ["created_by", "created_at"])


def downgrade() -> None:
    """Back to the indexes of 0002."""
    op.drop_index("ix_invite_created_by_at", table_name="invite")
    op.drop_index("ix_audit_entry_actor_at", table_name="audit_entry")
    op.drop_index("ix_status_report_latest", table_name="status_report")
    op.create_index("ix_status_report_cycle_task_unit", "status_report",
                    ["cycle", "task_id", "unit_id"])
