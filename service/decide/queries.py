"""Deciding's queries: claim tickets with conditional UPDATEs, find stalled ones."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from service.core.domain import (
    TicketStatus,
)
from service.infra.models import (
    Ticket,
)
from service.infra.queries import get_tickets

log = logging.getLogger(__name__)


def claim_tickets(*, session: Session, ticket_ids: Sequence[int], now: datetime, stale_before: datetime) -> list[int]:
    """Mark tickets as being processed: the ids whose conditional UPDATE this caller won, in id order."""
    claimed = session.scalars(
        update(Ticket)
        .where(
            Ticket.id.in_(ticket_ids),
            or_(
                Ticket.status == TicketStatus.RECEIVED,
                (Ticket.status == TicketStatus.PROCESSING) & (Ticket.claimed_at < stale_before),
            ),
        )
        .values(status=TicketStatus.PROCESSING, claimed_at=now, attempts=Ticket.attempts + 1)
        .returning(Ticket.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed)


def claim_waiting(*, session: Session, limit: int, now: datetime) -> list[Ticket]:
    """Claim up to `limit` received tickets with their text present, oldest first (batch companions), at once.

    One UPDATE for the lot; on Postgres rows another worker is claiming are skipped rather than waited for.
    The status test in the UPDATE itself keeps a ticket from being claimed twice either way.
    """
    waiting = (
        select(Ticket.id)
        .where(Ticket.status == TicketStatus.RECEIVED, Ticket.needs_fetch.is_(False))
        .order_by(Ticket.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True)
    ids = list(
        session.scalars(
            update(Ticket)
            .where(Ticket.id.in_(waiting.scalar_subquery()), Ticket.status == TicketStatus.RECEIVED)
            .values(status=TicketStatus.PROCESSING, claimed_at=now, attempts=Ticket.attempts + 1)
            .returning(Ticket.id)
            .execution_options(synchronize_session=False)
        )
    )
    return get_tickets(session=session, ticket_ids=ids) if ids else []


def stalled_ticket_ids(
    *, session: Session, received_before: datetime, stale_before: datetime, limit: int = 500
) -> list[int]:
    """Tickets acknowledged but not decided: never enqueued, lost by the broker, or whose worker died."""
    return list(
        session.scalars(
            select(Ticket.id)
            .where(
                or_(
                    (Ticket.status == TicketStatus.RECEIVED) & (Ticket.received_at < received_before),
                    (Ticket.status == TicketStatus.PROCESSING) & (Ticket.claimed_at < stale_before),
                )
            )
            .order_by(Ticket.id)
            .limit(limit)
        )
    )


def oldest_waiting_ticket(*, session: Session) -> datetime | None:
    """When the oldest ticket that was acknowledged but not yet decided arrived."""
    return session.scalar(
        select(func.min(Ticket.received_at)).where(Ticket.status.in_([TicketStatus.RECEIVED, TicketStatus.PROCESSING]))
    )
