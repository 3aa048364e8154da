"""Reminder retries kept in the row: the back-off, the pages that went, unanswered sends.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

* ``reminder.not_before``: after a transient Telegram error, the row is not sent again before
  this instant (the back-off), whichever instance runs next and after a restart.
* ``reminder.pages_sent``: of a message of several pages, how many Telegram accepted before it
  failed: a later try sends from the next page.
* ``reminder.unanswered``: how many sends Telegram did not answer in time (it may have
  delivered them): one such send is tried again, not more.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the three columns."""
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(sa.Column("not_before", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pages_sent", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("unanswered", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("reminder") as batch:
        batch.drop_column("unanswered")
        batch.drop_column("pages_sent")
        batch.drop_column("not_before")
