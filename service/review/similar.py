"""The similar earlier tickets a decision found, as the ticket view shows them: how each was routed, and whether a
person corrected it since."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from service.infra.models import Correction, DecisionRow, Ticket
from service.review.queries import latest_feedback
from service.review.verdicts import current_routing


@dataclass(frozen=True)
class SimilarTicket:
    """One earlier ticket near this one, with the routing it has now."""

    ticket_id: int
    subject: str
    similarity: float
    label: str | None
    queue: str | None
    status: str | None  # the decision's status (auto_routed, needs_review, escalated)
    corrected: str | None  # what a person changed ("label a → b by ann"), None when nobody did
    accepted_by: str | None


@dataclass(frozen=True)
class Duplicate:
    """The earlier ticket this one nearly duplicates, and why it counts."""

    ticket_id: int
    external_id: str
    similarity: float
    why: str
    subject: str


def duplicate_of(reason: dict[str, Any]) -> Duplicate | None:
    raw = reason.get("duplicate_of")
    if not isinstance(raw, dict) or not isinstance(raw.get("ticket_id"), int):
        return None
    return Duplicate(
        ticket_id=raw["ticket_id"],
        external_id=str(raw.get("external_id", "")),
        similarity=float(raw.get("similarity", 0.0)),
        why=str(raw.get("why", "")),
        subject=str(raw.get("subject", "")),
    )


def similar_tickets(session: Session, reason: dict[str, Any]) -> list[SimilarTicket] | None:
    """The earlier tickets the decision found most similar, most similar first; None when it looked for none."""
    raw = reason.get("similar")
    if not isinstance(raw, list):
        return None
    found = {int(h["ticket_id"]): float(h["similarity"]) for h in raw if isinstance(h, dict) and "ticket_id" in h}
    if not found:
        return []
    tickets = {
        t.id: t
        for t in session.scalars(
            select(Ticket)
            .where(Ticket.id.in_(found))
            .options(selectinload(Ticket.decisions).selectinload(DecisionRow.prediction))
        )
    }
    decisions = {t.id: t.decision for t in tickets.values() if t.decision is not None}
    reviews = latest_feedback(session=session, decision_ids=[d.id for d in decisions.values()])
    changes: dict[int, list[Correction]] = {}
    for c in session.scalars(select(Correction).where(Correction.ticket_id.in_(found)).order_by(Correction.id)):
        changes.setdefault(c.ticket_id, []).append(c)
    out = []
    for ticket_id, similarity in sorted(found.items(), key=lambda kv: -kv[1]):
        ticket = tickets.get(ticket_id)
        if ticket is None:
            continue  # deleted since (retention)
        decision = decisions.get(ticket_id)
        latest = reviews.get(decision.id) if decision is not None else None
        routing = current_routing(decision, latest) if decision is not None else None
        out.append(
            SimilarTicket(
                ticket_id=ticket_id,
                subject=(ticket.subject or ticket.body or "")[:140],
                similarity=similarity,
                label=routing.label if routing else None,
                queue=routing.queue if routing else None,
                status=decision.status if decision is not None else None,
                corrected=_corrected(changes.get(ticket_id, []), latest),
                accepted_by=latest.user.username if latest is not None and latest.kind == "accepted" else None,
            )
        )
    return out


def _corrected(changes: list[Correction], latest: Any) -> str | None:
    """What people changed on the ticket: the corrections table (review page and helpdesk), else the last review."""
    if changes:
        return "; ".join(f"{c.field} {c.old_value} → {c.new_value} by {c.actor}" for c in changes[-3:])
    if latest is None or latest.kind == "accepted":
        return None
    parts = [f"{name} {old} → {new}" for name, old, new in latest.changes()]
    return f"{'; '.join(parts) or 'reviewed'} by {latest.user.username}"
