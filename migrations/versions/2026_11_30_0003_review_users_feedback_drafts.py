"""review page: users, feedback, drafts, write-back kinds

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 04:04:32.886552
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of service.infra.models.WRITEBACK_KIND_REF: a migration must not change when the models do.
KIND_REF = (
    "(kind = 'decision' AND feedback_id IS NULL AND draft_id IS NULL)"
    " OR (kind = 'review' AND feedback_id IS NOT NULL AND draft_id IS NULL)"
    " OR (kind = 'reply' AND draft_id IS NOT NULL AND feedback_id IS NULL)"
)
DECISION_KIND = sa.text("kind = 'decision'")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("session_token", sa.String(length=64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("session_token", name=op.f("uq_users_session_token")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("original_text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("edited_by_id", sa.Integer(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_drafts_decision_id_decisions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["edited_by_id"], ["users.id"], name=op.f("fk_drafts_edited_by_id_users")),
        sa.ForeignKeyConstraint(["reviewed_by_id"], ["users.id"], name=op.f("fk_drafts_reviewed_by_id_users")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_drafts_ticket_id_tickets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_drafts_decision_id")),
    )
    op.create_index(op.f("ix_drafts_ticket_id"), "drafts", ["ticket_id"], unique=False)
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_label", sa.String(length=128), nullable=False),
        sa.Column("to_label", sa.String(length=128), nullable=False),
        sa.Column("from_queue", sa.String(length=64), nullable=False),
        sa.Column("to_queue", sa.String(length=64), nullable=False),
        sa.Column("from_priority", sa.String(length=16), nullable=False),
        sa.Column("to_priority", sa.String(length=16), nullable=False),
        sa.Column("ticket_revision", sa.Integer(), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.id"], name=op.f("fk_feedback_decision_id_decisions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_feedback_ticket_id_tickets"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_feedback_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    op.create_index(op.f("ix_feedback_created_at"), "feedback", ["created_at"], unique=False)
    op.create_index("ix_feedback_decision_id_id", "feedback", ["decision_id", "id"], unique=False)
    op.create_index(op.f("ix_feedback_ticket_id"), "feedback", ["ticket_id"], unique=False)
    op.create_index(op.f("ix_feedback_user_id"), "feedback", ["user_id"], unique=False)

    with op.batch_alter_table("writebacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), server_default="decision", nullable=False))
        batch_op.add_column(sa.Column("feedback_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("draft_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_writebacks_decision_id_target"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_writebacks_draft_id_target"), ["draft_id", "target"])
        batch_op.create_unique_constraint(batch_op.f("uq_writebacks_feedback_id_target"), ["feedback_id", "target"])
        batch_op.create_check_constraint(batch_op.f("ck_writebacks_kind_ref"), KIND_REF)
        batch_op.create_foreign_key(batch_op.f("fk_writebacks_draft_id_drafts"), "drafts", ["draft_id"], ["id"],
                                    ondelete="CASCADE")
        batch_op.create_foreign_key(batch_op.f("fk_writebacks_feedback_id_feedback"), "feedback", ["feedback_id"],
                                    ["id"], ondelete="CASCADE")
    # Outside the batch: SQLite's table copy would otherwise drop the partial index's WHERE clause.
    op.create_index("ux_writebacks_decision_id_target", "writebacks", ["decision_id", "target"], unique=True,
                    sqlite_where=DECISION_KIND, postgresql_where=DECISION_KIND)


def downgrade() -> None:
    # Review and reply write-backs cannot exist in the old schema (one write-back per decision and target).
    op.execute("DELETE FROM writebacks WHERE kind <> 'decision'")
    op.drop_index("ux_writebacks_decision_id_target", table_name="writebacks")
    with op.batch_alter_table("writebacks", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_writebacks_feedback_id_feedback"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_writebacks_draft_id_drafts"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("ck_writebacks_kind_ref"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_writebacks_feedback_id_target"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_writebacks_draft_id_target"), type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_writebacks_decision_id_target"), ["decision_id", "target"])
        batch_op.drop_column("draft_id")
        batch_op.drop_column("feedback_id")
        batch_op.drop_column("kind")

    op.drop_index(op.f("ix_feedback_user_id"), table_name="feedback")
    op.drop_index(op.f("ix_feedback_ticket_id"), table_name="feedback")
    op.drop_index("ix_feedback_decision_id_id", table_name="feedback")
    op.drop_index(op.f("ix_feedback_created_at"), table_name="feedback")
    op.drop_table("feedback")
    op.drop_index(op.f("ix_drafts_ticket_id"), table_name="drafts")
    op.drop_table("drafts")
    op.drop_table("users")
