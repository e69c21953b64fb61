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


# Plain ALTER TABLE, never batch mode: on SQLite batch mode copies and drops the table, and dropping `tickets` with
# foreign keys on deletes every decision and write-back through ON DELETE CASCADE. SQLite adds and (since 3.35)
# drops a column in place.
def upgrade() -> None:
    op.add_column("tickets", sa.Column("claim_token", sa.String(length=32), nullable=True))
    op.add_column("tickets", sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("webhook_events", sa.Column("signed_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_webhook_events_source_signed_sha256", "webhook_events", ["source", "signed_sha256"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_source_signed_sha256", table_name="webhook_events")
    op.drop_column("webhook_events", "signed_sha256")
    op.drop_column("tickets", "retry_at")
    op.drop_column("tickets", "claim_token")
