"""Similar tickets' queries: decided tickets' embeddings in and out of ticket_vectors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from service.infra.models import Ticket, TicketVector


def replace_vectors(*, session: Session, rows: Sequence[TicketVector]) -> None:
    """Store each ticket's newest embedding (a ticket decided again is embedded again): one delete, one insert."""
    if not rows:
        return
    session.execute(
        delete(TicketVector)
        .where(TicketVector.ticket_id.in_([r.ticket_id for r in rows]))
        .execution_options(synchronize_session=False)
    )
    session.add_all(rows)


def newer_vectors(
    *, session: Session, space: str, after: datetime | None, before_id: int, limit: int
) -> list[tuple[int, bytes]]:
    """The embeddings of one space stored after `after` (all when None), of tickets older than `before_id`,
    newest first, at most `limit`."""
    query = select(TicketVector.ticket_id, TicketVector.vector).where(
        TicketVector.model == space, TicketVector.ticket_id < before_id
    )
    if after is not None:
        query = query.where(TicketVector.created_at > after)
    rows = session.execute(query.order_by(TicketVector.ticket_id.desc()).limit(limit))
    return [(int(ticket_id), bytes(vector)) for ticket_id, vector in rows]


def vectors_since(
    *, session: Session, space: str, after: datetime | None, page: int = 5000
) -> Iterator[tuple[int, bytes]]:
    """Every embedding of one space stored after `after` (all when None), streamed in pages."""
    query = select(TicketVector.ticket_id, TicketVector.vector).where(TicketVector.model == space)
    if after is not None:
        query = query.where(TicketVector.created_at > after)
    for ticket_id, vector in session.execute(query.execution_options(yield_per=page)):
        yield int(ticket_id), bytes(vector)


def newest_vector_time(*, session: Session, space: str) -> datetime | None:
    newest: datetime | None = session.scalar(
        select(func.max(TicketVector.created_at)).where(TicketVector.model == space)
    )
    return newest


def vector_spaces(*, session: Session) -> dict[str, int]:
    """Each embedding space in use and how many tickets it holds."""
    rows = session.execute(select(TicketVector.model, func.count()).group_by(TicketVector.model))
    return {str(space): int(n) for space, n in rows}


def tickets_by_id(*, session: Session, ticket_ids: Sequence[int]) -> dict[int, Ticket]:
    if not ticket_ids:
        return {}
    return {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))}
