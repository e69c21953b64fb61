"""draft generation details

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:58:50.681197
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generated", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("guard", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("generation_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_column("generation_ms")
        batch_op.drop_column("detail")
        batch_op.drop_column("guard")
        batch_op.drop_column("generated")
