"""The text whose pages were counted: ``reminder.pages_digest``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

``pages_sent`` counts the pages of one text; when the text changed before the next try (a task
edited, another report in), the count means nothing for the new text. ``pages_digest`` holds a
hash of the text the count belongs to: a later try resumes after the pages sent only while its
text has the same hash, and otherwise sends the new text from its first page.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column."""
    with op.batch_alter_table("reminder") as batch:
        batch.add_column(sa.Column("pages_digest", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("reminder") as batch:
        batch.drop_column("pages_digest")
