"""Plain values that cross boundaries between web, flows, pipeline and integrations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class TicketStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    DECIDED = "decided"
    FAILED = "failed"


class DecisionStatus(StrEnum):
    AUTO_ROUTED = "auto_routed"
    NEEDS_REVIEW = "needs_review"
    ESCALATED = "escalated"


class WritebackStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"
    # Its decision was for a revision the ticket has moved past: never sent.
    SUPERSEDED = "superseded"
    # No helpdesk is configured for its ticket's source (TRIAGE_HELPDESK unset): decided, never sent.
    NOT_SENT = "not_sent"


@dataclass(frozen=True)
class InboundTicket:
    """A ticket as a helpdesk or API client hands it to us, before storage."""

    source: str
    external_id: str
    subject: str
    body: str
    requester: str = ""
    created_at: datetime | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    # True when the sender gave only an id (e.g. a Zendesk trigger): the worker fetches the text.
    needs_fetch: bool = False


@dataclass(frozen=True)
class LabelledExample:
    """One ticket from a helpdesk export with the label a team gave it, for training."""

    text: str
    label: str
    source_id: str
    created_at: datetime | None = None
    # Metadata values the model reads beside the text (a Jira project key), as the webhook path gives them.
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboundEvent:
    """What a helpdesk webhook means: a ticket to take in, or a reason to ignore the delivery."""

    ticket: InboundTicket | None
    reason: str
    delivery_id: str | None = None
    is_update: bool = False

    @classmethod
    def ignore(cls, reason: str) -> InboundEvent:
        return cls(ticket=None, reason=reason)


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` calls per `window_s` seconds for everything that shares `key`."""

    key: str
    limit: int
    window_s: float


@dataclass(frozen=True)
class LLMAnswer:
    """What a large model said about one ticket; label is None when it was unsure or answered badly."""

    label: str | None
    confidence: float | None
    reason: str
    model: str
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    cost: float = 0.0


@dataclass(frozen=True)
class Prediction:
    """A classifier's answer for one text: best label, its probability and the runners-up."""

    label: str
    confidence: float
    top_k: tuple[tuple[str, float], ...]
    model_name: str
    model_version: str
    latency_ms: float = 0.0
    # The model's own calibrated threshold for this label, when it ships one.
    threshold: float | None = None
    # How far the ticket lies from the model's training tickets (1 - mean cosine similarity of the nearest),
    # and the distance beyond which the model calls it "none of these"; None where the model cannot tell.
    scope_distance: float | None = None
    scope_limit: float | None = None
    # The ticket's unit-length sentence embedding (float32 bytes) and the space it lives in (a model's own
    # name@version, or the base encoder's name): vectors of different spaces are never compared. None where the
    # model computes no embedding.
    embedding: bytes | None = field(default=None, compare=False, repr=False)
    embedding_space: str | None = None

    @property
    def out_of_scope(self) -> bool:
        return (
            self.scope_distance is not None and self.scope_limit is not None and self.scope_distance > self.scope_limit
        )


@dataclass(frozen=True)
class Route:
    """Where a ticket goes and how urgently, with the rule that decided it."""

    queue: str
    priority: str
    rule: str
    threshold: float
    # The priority that rules set from the ticket's own words, metadata or tags, whatever its label: all a
    # below-threshold guess may write back (None: no rule raised it).
    evidence_priority: str | None = None


@dataclass(frozen=True)
class Decision:
    """The routing decision and its explanation, as stored and written back."""

    status: DecisionStatus
    route: Route
    prediction: Prediction
    reason: str
    # Set when the LLM's label, not the classifier's, routed the ticket.
    llm_label: str | None = None
    # Set when a person settled the label earlier (review page): later decisions keep it.
    held_label: str | None = None
    # More explanation to store and show, e.g. the LLM's answer and the redacted text it saw.
    extra: dict[str, Any] = field(default_factory=dict)
    # Milliseconds each pipeline stage took for this ticket (classify, route, escalate); not part of the reason.
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.held_label or self.llm_label or self.prediction.label

    def explanation(self) -> dict[str, Any]:
        return {
            **self.extra,
            "status": self.status.value,
            "queue": self.route.queue,
            "priority": self.route.priority,
            "rule": self.route.rule,
            "threshold": self.route.threshold,
            "evidence_priority": self.route.evidence_priority,
            "label": self.label,
            "classifier_label": self.prediction.label,
            "confidence": round(self.prediction.confidence, 4),
            "top_k": [{"label": lab, "score": round(s, 4)} for lab, s in self.prediction.top_k],
            "model": f"{self.prediction.model_name}@{self.prediction.model_version}",
            "reason": self.reason,
            **self._scope(),
        }

    def _scope(self) -> dict[str, Any]:
        p = self.prediction
        if p.scope_distance is None:
            return {}
        return {
            "scope_distance": round(p.scope_distance, 4),
            "scope_limit": p.scope_limit,
            "out_of_scope": p.out_of_scope,
        }


@dataclass(frozen=True)
class WritebackRequest:
    """What a helpdesk adapter is asked to apply to one of its tickets."""

    writeback_id: int
    ticket_external_id: str
    # None leaves the helpdesk's value alone: a guess below threshold never moves or re-prioritises a ticket.
    queue: str | None
    priority: str | None
    label: str | None
    status: DecisionStatus
    note: str
    tags: tuple[str, ...] = ()
    # An approved reply: sent to the requester as a public comment (Helpdesk.post_reply), never as a note.
    public_reply: str | None = None
    # The helpdesk id of an earlier ticket this one nearly duplicates (same requester, or still open): linked
    # where the helpdesk has links, tagged and noted where it has not.
    duplicate_of: str | None = None
