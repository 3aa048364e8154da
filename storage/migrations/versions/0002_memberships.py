"""A person may serve several units; groups have a language; leaders may ask for digests.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

* ``membership`` (person x unit, ended rather than deleted) replaces ``person.unit_id``: every
  contact's unit becomes an active membership, then the column, its index, foreign key and the
  check that tied it to the role are dropped.
* ``person.digests``: a leader's wish to get digests privately as well.
* ``leadership_chat.language``: the group's language for digests.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _membership_table() -> None:
    op.create_table(
        "membership",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_id", sa.String(length=48), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_membership"),
        sa.ForeignKeyConstraint(["telegram_user_id"], ["person.telegram_user_id"],
                                name="fk_membership_telegram_user_id_person"),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name="fk_membership_unit_id_unit"),
        sa.UniqueConstraint("telegram_user_id", "unit_id", name="uq_membership_person_unit"),
    )
    op.create_index("ix_membership_unit_id", "membership", ["unit_id"])


_COLUMNS = "telegram_user_id, unit_id, active, created_at, ended_at, ended_reason"


def upgrade() -> None:
    """Create ``membership`` from ``person.unit_id``, then drop that column.

    The contacts' units wait in a plain table while ``person`` is rebuilt (SQLite's batch mode
    copies the table, which a foreign key from ``membership`` would forbid).
    """
    op.execute("CREATE TABLE membership_seed AS SELECT telegram_user_id, unit_id, active, "
               "created_at, deactivated_at AS ended_at, deactivation_reason AS ended_reason "
               "FROM person WHERE unit_id IS NOT NULL")
    with op.batch_alter_table("person") as batch:
        batch.drop_constraint("ck_person_unit_for_contacts", type_="check")
        batch.drop_index("ix_person_unit_id")
        batch.drop_constraint("fk_person_unit_id_unit", type_="foreignkey")
        batch.drop_column("unit_id")
        batch.add_column(sa.Column("digests", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("person") as batch:
        batch.alter_column("digests", server_default=None)
    _membership_table()
    op.execute(f"INSERT INTO membership ({_COLUMNS}) SELECT {_COLUMNS} FROM membership_seed")
    op.drop_table("membership_seed")
    with op.batch_alter_table("leadership_chat") as batch:
        batch.add_column(sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Give each contact back one unit (an active membership first), drop the new parts.

    A contact with no membership at all cannot meet the old check; they are kept as inactive
    leaders, so that no row is lost. Memberships of leaders and admins are dropped.
    """
    with op.batch_alter_table("leadership_chat") as batch:
        batch.drop_column("language")
    op.execute(f"CREATE TABLE membership_seed AS SELECT {_COLUMNS}, id FROM membership")
    op.drop_index("ix_membership_unit_id", table_name="membership")
    op.drop_table("membership")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("digests")
        batch.add_column(sa.Column("unit_id", sa.String(length=48), nullable=True))
    op.execute(
        "UPDATE person SET unit_id = (SELECT m.unit_id FROM membership_seed m WHERE "
        "m.telegram_user_id = person.telegram_user_id ORDER BY m.active DESC, m.id LIMIT 1) "
        "WHERE role = 'contact'")
    op.drop_table("membership_seed")
    op.execute("UPDATE person SET role = 'leader', active = false "
               "WHERE role = 'contact' AND unit_id IS NULL")
    with op.batch_alter_table("person") as batch:
        batch.create_foreign_key("fk_person_unit_id_unit", "unit", ["unit_id"], ["id"])
        batch.create_index("ix_person_unit_id", ["unit_id"])
        batch.create_check_constraint("ck_person_unit_for_contacts",
                                      "(role = 'contact') = (unit_id IS NOT NULL)")
