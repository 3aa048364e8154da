"""Notice messages: which task, unit and cycle a message the bot sent is about.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

* ``notice_message`` (``chat_id``, ``message_id``, ``task_id``, ``unit_id``, ``cycle``, ``kind``,
  ``sent_at``): a return (退回), an urge (催办), an extension decision or a /mytasks listing
  sent to a contact. A reply in words to it, or a task button under it, belongs to its task and
  cycle (docs/chat.md), as a reply to a reminder belongs to the reminder's (whose ``reminder``
  rows carry the message id already). ``task_id`` 0: every task of the unit (a listing).
* ``ix_notice_message_chat_message``: finding a message's rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table and its index."""
    op.create_table(
        "notice_message",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=48), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notice_message"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"],
                                name="fk_notice_message_unit_id_unit"),
    )
    op.create_index("ix_notice_message_chat_message", "notice_message",
                    ["chat_id", "message_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_notice_message_chat_message", table_name="notice_message")
    op.drop_table("notice_message")
