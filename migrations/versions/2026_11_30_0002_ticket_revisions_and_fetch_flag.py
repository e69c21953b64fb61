"""ticket revisions and fetch flag

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 03:50:10.752329
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
        batch_op.drop_constraint(batch_op.f("uq_decisions_ticket_id"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_decisions_ticket_id_revision"), ["ticket_id", "revision"])

    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("needs_fetch", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("needs_fetch")
        batch_op.drop_column("revision")

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_decisions_ticket_id_revision"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_decisions_ticket_id"), ["ticket_id"])
        batch_op.drop_column("revision")
