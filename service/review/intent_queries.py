"""Queries behind new intents: unsettled guesses, their stored vectors, and the clusters found among them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import Session, selectinload

from service.core.domain import DecisionStatus
from service.infra.models import DecisionRow, Feedback, IntentCluster, Ticket, TicketVector

# Ids per IN (...) list: SQLite allows 32,766 bound parameters, and Postgres plans long lists slowly.
CHUNK = 5000


def recent_unreviewed(*, session: Session, since: datetime, limit: int) -> list[tuple[Ticket, DecisionRow]]:
    """Tickets whose current decision sent them to review since `since` and that no agent has reviewed yet,
    newest first (whether each is a guess is the flow's rule, read from the decision)."""
    query = (
        select(Ticket, DecisionRow)
        .join(DecisionRow, and_(DecisionRow.ticket_id == Ticket.id, DecisionRow.revision == Ticket.revision))
        .where(
            DecisionRow.status == DecisionStatus.NEEDS_REVIEW,
            DecisionRow.created_at >= since,
            ~exists().where(Feedback.decision_id == DecisionRow.id),
        )
        .options(selectinload(DecisionRow.prediction))
        .order_by(DecisionRow.created_at.desc(), DecisionRow.id.desc())
        .limit(limit)
    )
    return [(t, d) for t, d in session.execute(query).all()]


def stored_vectors(*, session: Session, ticket_ids: Sequence[int]) -> dict[int, tuple[str, bytes]]:
    """Each ticket's stored embedding (model name, float32 bytes), for those that have one."""
    out: dict[int, tuple[str, bytes]] = {}
    for start in range(0, len(ticket_ids), CHUNK):
        chunk = ticket_ids[start : start + CHUNK]
        rows = session.execute(
            select(TicketVector.ticket_id, TicketVector.model, TicketVector.vector).where(
                TicketVector.ticket_id.in_(chunk)
            )
        )
        out.update({ticket_id: (model, vector) for ticket_id, model, vector in rows})
    return out


def labelled_clusters(*, session: Session) -> list[IntentCluster]:
    return list(session.scalars(select(IntentCluster).where(IntentCluster.label.is_not(None))))


def all_clusters(*, session: Session) -> list[IntentCluster]:
    """Unnamed clusters largest first, then named ones newest first."""
    return list(
        session.scalars(
            select(IntentCluster).order_by(
                IntentCluster.label.is_not(None), IntentCluster.size.desc(), IntentCluster.id.desc()
            )
        )
    )


def replace_unlabelled(*, session: Session, clusters: Sequence[IntentCluster]) -> None:
    """The last run's unnamed clusters give way to this run's; named ones stay."""
    session.execute(delete(IntentCluster).where(IntentCluster.label.is_(None)))
    session.add_all(clusters)


def ticket_heads(*, session: Session, ticket_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """Subject and body of each ticket, for examples."""
    rows = session.execute(select(Ticket.id, Ticket.subject, Ticket.body).where(Ticket.id.in_(ticket_ids)))
    return {i: (subject, body) for i, subject, body in rows}


def confirmed_counts(*, session: Session, labels: Sequence[str]) -> dict[str, set[int]]:
    """Tickets whose latest review gave them each label."""
    if not labels:
        return {}
    newest = select(func.max(Feedback.id)).group_by(Feedback.ticket_id)
    rows = session.execute(
        select(Feedback.to_label, Feedback.ticket_id).where(Feedback.id.in_(newest), Feedback.to_label.in_(labels))
    )
    out: dict[str, set[int]] = {}
    for label, ticket_id in rows:
        out.setdefault(label, set()).add(ticket_id)
    return out
