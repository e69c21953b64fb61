"""Agents' verdicts on decisions: accept or correct, with the routing as it stands."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.domain import (
    WritebackStatus,
)
from service.decide.normalize import ticket_text
from service.infra.models import (
    DecisionRow,
    Feedback,
    PredictionRow,
    Ticket,
    User,
    WritebackRow,
)
from service.infra.queries import distinct_values, get_ticket
from service.review.corrections import REVIEW, hold
from service.review.errors import ReviewError
from service.review.intents import named_labels
from service.review.queries import latest_feedback
from service.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Routing:
    """Label, queue and priority of a ticket as it stands: the decision's, or the latest review's."""

    label: str
    queue: str
    priority: str


def current_routing(decision: DecisionRow, latest: Feedback | None) -> Routing:
    if latest is not None:
        return Routing(latest.to_label, latest.to_queue, latest.to_priority)
    return Routing(decision.label, decision.queue, decision.priority)


def text_sha256(ticket: Ticket) -> str:
    """Fingerprint of the text a model and an agent see, to tie feedback to one version of it."""
    return hashlib.sha256(ticket_text(ticket.subject, ticket.body).encode()).hexdigest()


@dataclass(frozen=True)
class Choices:
    """What an agent may choose when correcting: labels (with the queue each routes to), queues, priorities."""

    labels: dict[str, str]
    queues: list[str]
    priorities: list[str]


def review_choices(runtime: Runtime, session: Session) -> Choices:
    rules = runtime.rules
    labels = dict.fromkeys(distinct_values(session=session, column=PredictionRow.label), rules.default.name)
    # Labels admins made from clusters of tickets no label fitted: the default queue until the rules name one.
    labels.update(dict.fromkeys(named_labels(session), rules.default.name))
    labels.update(rules.label_queue)
    return Choices(
        labels=dict(sorted(labels.items(), key=lambda kv: kv[0].lower())),
        queues=sorted(rules.queues),
        priorities=list(rules.priorities),
    )


def decision_under_review(session: Session, ticket_id: int, decision_id: int) -> tuple[Ticket, DecisionRow]:
    """The ticket and its latest decision, if that is still the one the agent's page showed."""
    ticket = get_ticket(session=session, ticket_id=ticket_id)
    if ticket is None:
        raise ReviewError(f"no ticket {ticket_id}", status=404)
    decision = ticket.decision
    if decision is None or decision.id != decision_id or decision.revision != ticket.revision:
        raise ReviewError(
            "this ticket changed and was routed again since the page was loaded; reload it and review the new decision",
            status=409,
        )
    return ticket, decision


@dataclass(frozen=True)
class Verdict:
    """An agent's review as stored: the feedback row, whether it changed anything, and its write-back."""

    feedback_id: int
    kind: str
    writeback_id: int


def review_ticket(
    runtime: Runtime,
    session: Session,
    *,
    ticket_id: int,
    decision_id: int,
    user_id: int,
    label: str | None = None,
    queue: str | None = None,
    priority: str | None = None,
) -> Verdict:
    """Accept (nothing given) or correct a decision: store feedback, queue a write-back of the result."""
    ticket, decision = decision_under_review(session, ticket_id, decision_id)
    before = current_routing(decision, latest_feedback(session=session, decision_ids=[decision.id]).get(decision.id))
    after = Routing(label or before.label, queue or before.queue, priority or before.priority)
    choices = review_choices(runtime, session)
    if after.label != before.label and after.label not in choices.labels:
        raise ReviewError(f"{after.label!r} is not a label Triage knows; pick one from the list")
    if after.queue != before.queue and after.queue not in choices.queues:
        raise ReviewError(f"{after.queue!r} is not a queue in the routing rules")
    if after.priority != before.priority and after.priority not in choices.priorities:
        raise ReviewError(f"priority must be one of {', '.join(choices.priorities)}")
    now = now_utc()
    feedback = Feedback(
        ticket_id=ticket.id,
        decision_id=decision.id,
        user_id=user_id,
        kind="accepted" if after == before else "corrected",
        from_label=before.label,
        to_label=after.label,
        from_queue=before.queue,
        to_queue=after.queue,
        from_priority=before.priority,
        to_priority=after.priority,
        ticket_revision=ticket.revision,
        text_sha256=text_sha256(ticket),
        created_at=now,
    )
    session.add(feedback)
    user = session.get(User, user_id)
    # Accepting confirms the label and queue as much as correcting sets them: no later automatic decision may
    # change them. Priority is held only where the agent changed it, so a later "urgent" rule can still raise it.
    held = {"label": after.label, "queue": after.queue}
    if after.priority != before.priority:
        held["priority"] = after.priority
    hold(
        session,
        ticket,
        held,
        origin=REVIEW,
        actor=user.username if user is not None else f"user {user_id}",
        before={"label": before.label, "queue": before.queue, "priority": before.priority},
        at=now,
    )
    session.flush()
    writeback = WritebackRow(
        decision_id=decision.id,
        target=runtime.helpdesk_for(ticket.source),
        kind="review",
        feedback_id=feedback.id,
        status=WritebackStatus.PENDING,
        created_at=now,
    )
    session.add(writeback)
    session.commit()
    return Verdict(feedback_id=feedback.id, kind=feedback.kind, writeback_id=writeback.id)
