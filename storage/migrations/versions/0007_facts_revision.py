"""The facts' revision: one counter row that every change to a cycle's facts raises.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

* ``facts_revision`` (``id`` 1, ``revision``): raised by one in every transaction that appends
  a report, a review or an extension request, decides an extension or acknowledges a delivery.
  ``Store.cycle_facts`` keeps a cycle's facts in memory and reads them again only when the
  counter moved (docs/performance.md: at 1,000 units a summary re-read 130,000 reports).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table (its row is made by the first change: an empty database stays empty,
    as ``duban db copy`` wants its target)."""
    op.create_table(
        "facts_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_facts_revision"),
    )


def downgrade() -> None:
    """Drop it."""
    op.drop_table("facts_revision")
