"""claim tokens, fetch retry times, signed-request digests

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("webhook_events") as batch:
        batch.add_column(sa.Column("signed_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_webhook_events_source_signed_sha256", "webhook_events", ["source", "signed_sha256"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_source_signed_sha256", table_name="webhook_events")
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_column("signed_sha256")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("claim_token")
