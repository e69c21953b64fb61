"""What the review page and the ticket API show: one query-backed value per view, so views never query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.decide.held import Held
from service.drafts.queries import draft_for
from service.infra.models import (
    Correction,
    DecisionRow,
    DraftRow,
    Feedback,
    PredictionRow,
    Ticket,
    User,
    WritebackRow,
)
from service.infra.queries import distinct_values, get_ticket
from service.review.corrections import correction_history
from service.review.filters import ReviewFilter
from service.review.intents import Suggestion, suggestion_for
from service.review.queries import (
    latest_feedback,
    list_users,
    review_ids,
    review_page,
    review_tab_counts,
    ticket_feedback,
)
from service.review.similar import Duplicate, SimilarTicket, duplicate_of, similar_tickets
from service.review.verdicts import Choices, Routing, current_routing, review_choices
from service.runtime import Runtime


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue view, with the counts and choices around it."""

    rows: list[tuple[Ticket, DecisionRow, PredictionRow]]
    total: int
    counts: dict[str, int]
    reviews: dict[int, Feedback]
    choices: Choices
    versions: list[str]


def queue_page(
    runtime: Runtime, session: Session, *, tab: str, filters: ReviewFilter, sort: str, offset: int, limit: int
) -> QueuePage:
    rows, total = review_page(
        session=session,
        tab=tab,
        filters=filters,
        sort=sort,
        priorities=runtime.rules.priorities,
        offset=offset,
        limit=limit,
    )
    return QueuePage(
        rows=rows,
        total=total,
        counts=review_tab_counts(session=session, filters=filters),
        reviews=latest_feedback(session=session, decision_ids=[d.id for _, d, _ in rows]),
        choices=review_choices(runtime, session),
        versions=distinct_values(session=session, column=PredictionRow.model_version),
    )


@dataclass(frozen=True)
class TicketPage:
    """A ticket with its decision, review history, draft, and its neighbours in the queue view."""

    ticket: Ticket
    decision: DecisionRow | None
    routing: Routing | None
    latest: Feedback | None
    history: list[Feedback]
    corrections: list[Correction]
    held: Held
    draft: DraftRow | None
    choices: Choices
    writebacks: list[WritebackRow]
    prev_id: int | None
    next_id: int | None
    # The new label an admin made of a cluster holding this ticket, for the agent to confirm.
    suggestion: Suggestion | None = None
    # The earlier tickets most like this one when it was decided (None: the decision looked for none), and the one
    # it nearly duplicates.
    similar: list[SimilarTicket] | None = None
    duplicate: Duplicate | None = None

    @property
    def reviewable(self) -> bool:
        return self.decision is not None and self.decision.revision == self.ticket.revision


def ticket_page(
    runtime: Runtime, session: Session, ticket_id: int, *, tab: str, filters: ReviewFilter, sort: str
) -> TicketPage | None:
    """The ticket view's data; None when there is no such ticket."""
    row = get_ticket(session=session, ticket_id=ticket_id)
    if row is None:
        return None
    decision = row.decision
    history = ticket_feedback(session=session, ticket_id=ticket_id)
    latest = next((f for f in history if decision is not None and f.decision_id == decision.id), None)
    ids = review_ids(session=session, tab=tab, filters=filters, sort=sort, priorities=runtime.rules.priorities)
    if ticket_id in ids:
        i = ids.index(ticket_id)
        prev_id, next_id = (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)
    else:
        prev_id, next_id = None, ids[0] if ids else None
    return TicketPage(
        ticket=row,
        decision=decision,
        routing=current_routing(decision, latest) if decision is not None else None,
        latest=latest,
        history=history,
        corrections=correction_history(session, ticket_id),
        held=Held.of(row.held),
        draft=draft_for(session=session, decision_id=decision.id) if decision is not None else None,
        choices=review_choices(runtime, session),
        writebacks=sorted(decision.writebacks, key=lambda w: w.id) if decision is not None else [],
        prev_id=prev_id,
        next_id=next_id,
        suggestion=suggestion_for(session, ticket_id),
        similar=similar_tickets(session, decision.reason) if decision is not None else None,
        duplicate=duplicate_of(decision.reason) if decision is not None else None,
    )


def users_page(session: Session) -> list[User]:
    return list_users(session=session)


def ticket_view(session: Session, ticket_id: int) -> dict[str, Any] | None:
    """A ticket with its decision and the reason for it, as the API shows it; None when there is none."""
    ticket = get_ticket(session=session, ticket_id=ticket_id)
    if ticket is None:
        return None
    decision = ticket.decision
    return {
        "id": ticket.id,
        "source": ticket.source,
        "external_id": ticket.external_id,
        "subject": ticket.subject,
        "status": ticket.status,
        "received_at": _iso(ticket.received_at),
        "processed_at": _iso(ticket.processed_at),
        "last_error": ticket.last_error,
        "language": ticket.language,
        # What people set, which later automatic decisions keep, and each change they made.
        "held": {k: v for k, v in (ticket.held or {}).items() if k != "by"},
        "corrections": [
            {
                "origin": c.origin,
                "actor": c.actor,
                "field": c.field,
                "from": c.old_value,
                "to": c.new_value,
                "at": _iso(c.created_at),
            }
            for c in correction_history(session, ticket.id)
        ],
        "decision": None
        if decision is None
        else {
            "status": decision.status,
            "queue": decision.queue,
            "priority": decision.priority,
            "rule": decision.rule,
            "threshold": decision.threshold,
            "label": decision.label,
            "classifier_label": decision.prediction.label,
            "confidence": decision.prediction.confidence,
            "top_k": [{"label": lab, "score": score} for lab, score in decision.prediction.top_k],
            "model": {"name": decision.prediction.model_name, "version": decision.prediction.model_version},
            "reason": decision.reason.get("reason"),
            # Why the ticket's language kept it from being auto-routed (absent when it did not).
            "language_gate": decision.reason.get("language_gate"),
            # The priority model's answer and whether it or the rules set the priority (absent without a model).
            "priority_model": decision.reason.get("priority_model"),
            "priority_from": decision.reason.get("priority_from"),
            "llm": decision.reason.get("llm"),
            # The most similar earlier tickets when it was decided, and the one it nearly duplicates (if any).
            "similar": decision.reason.get("similar"),
            "duplicate_of": decision.reason.get("duplicate_of"),
            "decided_at": _iso(decision.created_at),
            "writebacks": [
                {
                    "target": wb.target,
                    "status": wb.status,
                    "attempts": wb.attempts,
                    "last_error": wb.last_error,
                    "next_attempt_at": _iso(wb.next_attempt_at),
                    "done_at": _iso(wb.done_at),
                }
                for wb in decision.writebacks
            ],
        },
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
