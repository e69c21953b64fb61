"""Deciding's queries: claim tickets with conditional UPDATEs, find stalled ones."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from service.core.domain import (
    TicketStatus,
)
from service.infra.models import (
    Ticket,
)
from service.infra.queries import get_tickets

log = logging.getLogger(__name__)


def _due(now: datetime) -> ColumnElement[bool]:
    """A received ticket that is not deferred past `now` by a transient fetch failure."""
    return (Ticket.status == TicketStatus.RECEIVED) & (Ticket.retry_at.is_(None) | (Ticket.retry_at <= now))


def claim_tickets(
    *, session: Session, ticket_ids: Sequence[int], now: datetime, stale_before: datetime, token: str
) -> list[int]:
    """Mark tickets as being processed under `token`: the ids whose conditional UPDATE this caller won, in order."""
    claimed = session.scalars(
        update(Ticket)
        .where(
            Ticket.id.in_(ticket_ids),
            or_(_due(now), (Ticket.status == TicketStatus.PROCESSING) & (Ticket.claimed_at < stale_before)),
        )
        .values(status=TicketStatus.PROCESSING, claimed_at=now, claim_token=token, attempts=Ticket.attempts + 1)
        .returning(Ticket.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed)


def claim_waiting(*, session: Session, limit: int, now: datetime, token: str) -> list[Ticket]:
    """Claim up to `limit` due tickets with their text present, oldest first (batch companions), at once.

    One UPDATE for the lot; on Postgres rows another worker is claiming are skipped rather than waited for.
    The status test in the UPDATE itself keeps a ticket from being claimed twice either way.
    """
    waiting = select(Ticket.id).where(_due(now), Ticket.needs_fetch.is_(False)).order_by(Ticket.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True)
    ids = list(
        session.scalars(
            update(Ticket)
            .where(Ticket.id.in_(waiting.scalar_subquery()), Ticket.status == TicketStatus.RECEIVED)
            .values(status=TicketStatus.PROCESSING, claimed_at=now, claim_token=token, attempts=Ticket.attempts + 1)
            .returning(Ticket.id)
            .execution_options(synchronize_session=False)
        )
    )
    return get_tickets(session=session, ticket_ids=ids) if ids else []


def extend_claims(*, session: Session, ticket_ids: Sequence[int], token: str, now: datetime) -> None:
    """Renew the lease of the tickets this claim still holds (slow work such as LLM calls in between)."""
    session.execute(
        update(Ticket)
        .where(Ticket.id.in_(ticket_ids), Ticket.claim_token == token, Ticket.status == TicketStatus.PROCESSING)
        .values(claimed_at=now)
        .execution_options(synchronize_session=False)
    )


def _held(token: str, claims: Sequence[tuple[int, int]]) -> ColumnElement[bool]:
    """Tickets still processing under `token` at the revision the claim read."""
    return and_(
        Ticket.status == TicketStatus.PROCESSING,
        Ticket.claim_token == token,
        or_(*((Ticket.id == ticket_id) & (Ticket.revision == revision) for ticket_id, revision in claims)),
    )


def settle_claims(*, session: Session, claims: Sequence[tuple[int, int]], token: str, now: datetime) -> set[int]:
    """Mark decided the (ticket id, revision) pairs this claim still holds; the ids it could (a conditional write).

    A ticket updated meanwhile (a new revision) or taken over after the lease is left alone: its newer claim or
    revision gets its own decision.
    """
    if not claims:
        return set()
    return set(
        session.scalars(
            update(Ticket)
            .where(_held(token, claims))
            .values(status=TicketStatus.DECIDED, processed_at=now, last_error=None, claim_token=None, retry_at=None)
            .returning(Ticket.id)
            .execution_options(synchronize_session=False)
        )
    )


def release_claims(
    *,
    session: Session,
    claims: Sequence[tuple[int, int]],
    token: str,
    status: TicketStatus,
    error: str,
    retry_at: datetime | None = None,
) -> set[int]:
    """Give tickets this claim still holds back (received, maybe deferred) or up (failed), with the reason."""
    if not claims:
        return set()
    return set(
        session.scalars(
            update(Ticket)
            .where(_held(token, claims))
            .values(status=status, last_error=error[:2000], claim_token=None, retry_at=retry_at)
            .returning(Ticket.id)
            .execution_options(synchronize_session=False)
        )
    )


def stalled_ticket_ids(
    *, session: Session, received_before: datetime, stale_before: datetime, now: datetime, limit: int = 500
) -> list[int]:
    """Tickets acknowledged but not decided: never enqueued, lost by the broker, due again, or whose worker died."""
    return list(
        session.scalars(
            select(Ticket.id)
            .where(
                or_(
                    (Ticket.status == TicketStatus.RECEIVED)
                    & Ticket.retry_at.is_(None)
                    & (Ticket.received_at < received_before),
                    (Ticket.status == TicketStatus.RECEIVED) & (Ticket.retry_at <= now),
                    (Ticket.status == TicketStatus.PROCESSING) & (Ticket.claimed_at < stale_before),
                )
            )
            .order_by(Ticket.id)
            .limit(limit)
        )
    )


def failed_ticket_ids(*, session: Session, ticket_ids: Sequence[int] = (), source: str | None = None) -> list[int]:
    """Failed tickets, all of them or narrowed to some ids or one source."""
    query = select(Ticket.id).where(Ticket.status == TicketStatus.FAILED)
    if ticket_ids:
        query = query.where(Ticket.id.in_(ticket_ids))
    if source:
        query = query.where(Ticket.source == source)
    return list(session.scalars(query.order_by(Ticket.id)))


def requeue_failed(*, session: Session, ticket_ids: Sequence[int]) -> list[int]:
    """Put failed tickets back in line as if just received (their attempts and error reset)."""
    if not ticket_ids:
        return []
    return sorted(
        session.scalars(
            update(Ticket)
            .where(Ticket.id.in_(ticket_ids), Ticket.status == TicketStatus.FAILED)
            .values(status=TicketStatus.RECEIVED, attempts=0, retry_at=None, claim_token=None, claimed_at=None)
            .returning(Ticket.id)
            .execution_options(synchronize_session=False)
        )
    )


def oldest_waiting_ticket(*, session: Session) -> datetime | None:
    """When the oldest ticket that was acknowledged but not yet decided arrived."""
    return session.scalar(
        select(func.min(Ticket.received_at)).where(Ticket.status.in_([TicketStatus.RECEIVED, TicketStatus.PROCESSING]))
    )
