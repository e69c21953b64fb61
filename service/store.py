"""Queries over the tables; keyword-only arguments, no business rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from service.domain import TicketStatus, WritebackStatus
from service.models import DecisionRow, Ticket, WebhookEvent, WritebackRow


def get_ticket(*, session: Session, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id, options=[
        selectinload(Ticket.decisions).selectinload(DecisionRow.writebacks),
        selectinload(Ticket.decisions).selectinload(DecisionRow.prediction),
    ])


def find_event(*, session: Session, source: str, delivery_id: str) -> WebhookEvent | None:
    return session.scalars(
        select(WebhookEvent).where(WebhookEvent.source == source, WebhookEvent.delivery_id == delivery_id)
    ).first()


def find_ticket(*, session: Session, source: str, external_id: str) -> Ticket | None:
    return session.scalars(
        select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)
    ).first()


def claim_ticket(*, session: Session, ticket_id: int, now: datetime, stale_before: datetime) -> bool:
    """Mark a ticket as being processed; true only for the one caller whose UPDATE changed the row."""
    result = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, or_(
            Ticket.status == TicketStatus.RECEIVED,
            (Ticket.status == TicketStatus.PROCESSING) & (Ticket.claimed_at < stale_before),
        ))
        .values(status=TicketStatus.PROCESSING, claimed_at=now, attempts=Ticket.attempts + 1)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def claim_writeback(*, session: Session, writeback_id: int, now: datetime, stale_before: datetime) -> bool:
    """Take a write-back that is due; the conditional UPDATE makes concurrent deliveries a no-op."""
    result = session.execute(
        update(WritebackRow)
        .where(WritebackRow.id == writeback_id, or_(
            WritebackRow.status == WritebackStatus.PENDING,
            (WritebackRow.status == WritebackStatus.RETRYING) & (WritebackRow.next_attempt_at <= now),
            (WritebackRow.status == WritebackStatus.SENDING) & (WritebackRow.claimed_at < stale_before),
        ))
        .values(status=WritebackStatus.SENDING, claimed_at=now, attempts=WritebackRow.attempts + 1,
                updated_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def stalled_ticket_ids(*, session: Session, received_before: datetime, stale_before: datetime,
                       limit: int = 500) -> list[int]:
    """Tickets acknowledged but not decided: never enqueued, lost by the broker, or whose worker died."""
    return list(session.scalars(
        select(Ticket.id).where(or_(
            (Ticket.status == TicketStatus.RECEIVED) & (Ticket.received_at < received_before),
            (Ticket.status == TicketStatus.PROCESSING) & (Ticket.claimed_at < stale_before),
        )).order_by(Ticket.id).limit(limit)
    ))


def due_writeback_ids(*, session: Session, now: datetime, created_before: datetime, stale_before: datetime,
                      limit: int = 500) -> list[int]:
    return list(session.scalars(
        select(WritebackRow.id).where(or_(
            (WritebackRow.status == WritebackStatus.PENDING) & (WritebackRow.created_at < created_before),
            (WritebackRow.status == WritebackStatus.RETRYING) & (WritebackRow.next_attempt_at <= now),
            (WritebackRow.status == WritebackStatus.SENDING) & (WritebackRow.claimed_at < stale_before),
        )).order_by(WritebackRow.id).limit(limit)
    ))


def failed_writeback_ids(*, session: Session) -> list[int]:
    return list(session.scalars(
        select(WritebackRow.id).where(WritebackRow.status == WritebackStatus.FAILED).order_by(WritebackRow.id)
    ))


def count_by(*, session: Session, column: Any) -> dict[str, int]:
    """Row counts grouped by one column, e.g. count_by(session=s, column=Ticket.status)."""
    return {str(k): int(v) for k, v in session.execute(select(column, func.count()).group_by(column))}
