"""Tables: tickets, webhook events, predictions, decisions, write-backs, the review page's users, feedback and
reply drafts, ticket embeddings, people's corrections and candidate new intents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from service.core.domain import DecisionStatus

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_tickets_status_claimed_at", "status", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    requester: Mapped[str] = mapped_column(String(320), default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    created_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="received")
    claimed_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Bumped when an update is re-routed; each revision gets at most one decision.
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    needs_fetch: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Which claim holds the ticket now: a worker's final write counts only while its own claim does.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # A transient failure (the helpdesk's 429/5xx on fetch) defers the ticket until then; None: due now.
    retry_at: Mapped[datetime | None]
    # ISO 639-1 code of the ticket's language (None: not detected, e.g. too short).
    language: Mapped[str | None] = mapped_column(String(16))
    # What a person set (review page or helpdesk): {"label"|"queue"|"priority": value}; automatic decisions
    # never overwrite these.
    held: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    events: Mapped[list[WebhookEvent]] = relationship(back_populates="ticket")
    predictions: Mapped[list[PredictionRow]] = relationship(back_populates="ticket")
    decisions: Mapped[list[DecisionRow]] = relationship(back_populates="ticket", order_by="DecisionRow.revision")

    @property
    def decision(self) -> DecisionRow | None:
        """The decision for the latest revision that has one."""
        return self.decisions[-1] if self.decisions else None


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id"),
        Index("ix_webhook_events_source_signed_sha256", "source", "signed_sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    delivery_id: Mapped[str] = mapped_column(String(128))
    body_sha256: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the signature that authenticated the delivery: a replay of the same signed request under a new
    # delivery id is found by it. None for token-authenticated API deliveries.
    signed_sha256: Mapped[str | None] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(32), default="created")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket | None] = relationship(back_populates="events")


class PredictionRow(Base):
    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(128))
    confidence: Mapped[float] = mapped_column(Float)
    top_k: Mapped[list[Any]] = mapped_column(default=list)
    latency_ms: Mapped[float] = mapped_column(Float)
    role: Mapped[str] = mapped_column(String(16), default="serving")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="predictions")


class DecisionRow(Base):
    __tablename__ = "decisions"
    # One decision per ticket revision: a redelivered task cannot decide twice.
    __table_args__ = (UniqueConstraint("ticket_id", "revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(default=1, server_default="1")
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), index=True)
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    rule: Mapped[str] = mapped_column(String(200))
    threshold: Mapped[float] = mapped_column(Float)
    reason: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="decisions")
    prediction: Mapped[PredictionRow] = relationship()
    writebacks: Mapped[list[WritebackRow]] = relationship(back_populates="decision")

    @property
    def label(self) -> str:
        """The label that routed the ticket: the LLM's when it settled an escalation, else the classifier's."""
        return str(self.reason.get("label") or self.prediction.label)

    @property
    def is_guess(self) -> bool:
        """Below its threshold or out of scope, and not settled by the LLM: what the model offers, not a decision."""
        if self.status != DecisionStatus.NEEDS_REVIEW:
            return False
        return self.prediction.confidence < self.threshold or bool(self.reason.get("out_of_scope"))


# A write-back applies one thing to the helpdesk ticket: the decision itself, an agent's review of it
# (accept or correct), or an approved reply. Each kind is unique on its own source row and target.
WRITEBACK_KIND_REF = (
    "(kind = 'decision' AND feedback_id IS NULL AND draft_id IS NULL)"
    " OR (kind = 'review' AND feedback_id IS NOT NULL AND draft_id IS NULL)"
    " OR (kind = 'reply' AND draft_id IS NOT NULL AND feedback_id IS NULL)"
)
_DECISION_KIND = text("kind = 'decision'")


class WritebackRow(Base):
    __tablename__ = "writebacks"
    __table_args__ = (
        # Partial: exactly one decision write-back per decision and target, however many reviews follow.
        Index(
            "ux_writebacks_decision_id_target",
            "decision_id",
            "target",
            unique=True,
            sqlite_where=_DECISION_KIND,
            postgresql_where=_DECISION_KIND,
        ),
        UniqueConstraint("feedback_id", "target"),
        UniqueConstraint("draft_id", "target"),
        CheckConstraint(WRITEBACK_KIND_REF, name="kind_ref"),
        Index("ix_writebacks_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), default="decision", server_default="decision")
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id", ondelete="CASCADE"))
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    done_at: Mapped[datetime | None]

    decision: Mapped[DecisionRow] = relationship(back_populates="writebacks")
    feedback: Mapped[Feedback | None] = relationship()
    draft: Mapped[DraftRow | None] = relationship()


class User(Base):
    """Someone who signs in to the review page: an agent, or an admin who also manages users."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("username"), UniqueConstraint("session_token"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # The session cookie names this, not the id: rotating it signs the user out everywhere.
    session_token: Mapped[str] = mapped_column(String(64))
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class UserSession(Base):
    """One sign-in to the review page: the cookie carries a random token, this row only its SHA-256.

    Kept on the server so that signing out, a password change or deactivation ends it everywhere, and so that it
    ends at an absolute time however busy it is kept.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (
        UniqueConstraint("token_sha256"),
        Index("ix_user_sessions_user_id_ended_at", "user_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship()


class Feedback(Base):
    """An agent's verdict on a decision: accepted as is, or corrected from one label/queue/priority to another."""

    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_decision_id_id", "decision_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_label: Mapped[str] = mapped_column(String(128))
    to_label: Mapped[str] = mapped_column(String(128))
    from_queue: Mapped[str] = mapped_column(String(64))
    to_queue: Mapped[str] = mapped_column(String(64))
    from_priority: Mapped[str] = mapped_column(String(16))
    to_priority: Mapped[str] = mapped_column(String(16))
    # Which text the agent judged: an export skips feedback whose ticket text has changed since.
    ticket_revision: Mapped[int]
    text_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    ticket: Mapped[Ticket] = relationship()
    decision: Mapped[DecisionRow] = relationship()
    user: Mapped[User] = relationship()

    def changes(self) -> list[tuple[str, str, str]]:
        """(field, from, to) of each of label, queue and priority the verdict changed."""
        pairs = (
            ("label", self.from_label, self.to_label),
            ("queue", self.from_queue, self.to_queue),
            ("priority", self.from_priority, self.to_priority),
        )
        return [(name, old, new) for name, old, new in pairs if old != new]


class DraftRow(Base):
    """The reply proposed for a decision, as the drafter wrote it and as the agent edited it."""

    __tablename__ = "drafts"
    __table_args__ = (UniqueConstraint("decision_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    original_text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    # What the local model wrote, and the guard that refused it (None: it was used, or no model ran).
    generated: Mapped[str | None] = mapped_column(Text)
    guard: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    generation_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    # Bumped on every change; a form carrying an older version is refused instead of overwriting.
    version: Mapped[int] = mapped_column(default=1)
    edited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    edited_at: Mapped[datetime | None]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    edited_by: Mapped[User | None] = relationship(foreign_keys=[edited_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])


class LLMCall(Base):
    """One question to the external LLM: what left the building (redacted), what came back, what it cost."""

    __tablename__ = "llm_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(128))
    redacted_text: Mapped[str] = mapped_column(Text)
    # Counts per kind of placeholder only: the mapping back to the personal data is never stored.
    redactions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    label: Mapped[str | None] = mapped_column(String(128))
    confidence: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    branch: Mapped[str] = mapped_column(String(32))
    tokens_in: Mapped[int] = mapped_column(default=0)
    tokens_out: Mapped[int] = mapped_column(default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class StageTiming(Base):
    """How long one pipeline stage took for one ticket; /metrics builds its latency histograms from these rows.

    Stored rather than kept in each process's memory: web and worker processes run on several hosts, and the
    database is the one place that sees them all.
    """

    __tablename__ = "stage_timings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketVector(Base):
    """A decided ticket's embedding (float32 bytes), for similar and duplicate tickets; the index is rebuilt from
    these rows."""

    __tablename__ = "ticket_vectors"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Correction(Base):
    """One change a person made to a ticket's label, queue or priority: on the review page or in the helpdesk."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    origin: Mapped[str] = mapped_column(String(16))  # "review" or "helpdesk"
    actor: Mapped[str] = mapped_column(String(128))  # the agent's user name, or the helpdesk's name
    field: Mapped[str] = mapped_column(String(16))  # "label", "queue" or "priority"
    old_value: Mapped[str] = mapped_column(String(128))
    new_value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntentCluster(Base):
    """A group of unsure or out-of-scope tickets found by clustering: a candidate new label for an admin."""

    __tablename__ = "intent_clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    size: Mapped[int]
    terms: Mapped[list[Any]] = mapped_column(default=list)  # key terms, most telling first
    ticket_ids: Mapped[list[Any]] = mapped_column(default=list)
    # {"per_day": {"2026-12-01": n}, "representation": "tfidf" or "embedding:<space>", "window_days": 14}
    trend: Mapped[dict[str, Any]] = mapped_column(default=dict)
    label: Mapped[str | None] = mapped_column(String(128))  # set when an admin turns it into a label
    labelled_by: Mapped[str | None] = mapped_column(String(64))
