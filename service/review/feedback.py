"""Agents' verdicts as labelled training examples."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from service.core.clock import aware
from service.decide.normalize import model_text, ticket_text
from service.review.queries import feedback_for_export

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedbackExample:
    """One reviewed ticket as a labelled training example, with where it came from."""

    text: str
    label: str
    priority: str  # the priority the agent settled: the priority model's training label
    kind: str
    source_id: str
    ticket_id: int
    revision: int
    text_sha256: str
    created_at: datetime  # when the ticket was opened (time-based splits), not when it was reviewed
    reviewed_at: datetime


def feedback_examples(session: Session, *, corrections_only: bool = False) -> tuple[list[FeedbackExample], int]:
    """Agents' latest verdicts as (text, label) examples, and how many were skipped because the text changed."""
    examples: dict[tuple[int, str], FeedbackExample] = {}
    stale = 0
    for fb in feedback_for_export(session=session, corrections_only=corrections_only):
        if hashlib.sha256(ticket_text(fb.ticket.subject, fb.ticket.body).encode()).hexdigest() != fb.text_sha256:
            stale += 1  # the agent judged an earlier text, which is no longer stored
            continue
        # Rows come oldest first: a later verdict on the same text replaces an earlier one.
        ticket = fb.ticket
        examples[(fb.ticket_id, fb.text_sha256)] = FeedbackExample(
            # As the models read it, so retraining sees what serving sees (a Jira ticket's project first).
            text=model_text(ticket.subject, ticket.body, ticket.source, ticket.meta),
            label=fb.to_label,
            priority=fb.to_priority,
            kind=fb.kind,
            source_id=f"{fb.ticket.source}:{fb.ticket.external_id}",
            ticket_id=fb.ticket_id,
            revision=fb.ticket_revision,
            text_sha256=fb.text_sha256,
            created_at=aware(fb.ticket.created_at or fb.ticket.received_at) or fb.ticket.received_at,
            reviewed_at=aware(fb.created_at) or fb.created_at,
        )
    return list(examples.values()), stale
