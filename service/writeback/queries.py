"""Write-back's queries: claim one that is due, mark it done, find due and failed ones."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service.core.domain import (
    WritebackStatus,
)
from service.infra.models import (
    DecisionRow,
    WritebackRow,
)

log = logging.getLogger(__name__)


def claim_writeback(*, session: Session, writeback_id: int, now: datetime, stale_before: datetime) -> bool:
    """Take a write-back that is due; the conditional UPDATE makes concurrent deliveries a no-op."""
    result = session.execute(
        update(WritebackRow)
        .where(
            WritebackRow.id == writeback_id,
            or_(
                WritebackRow.status == WritebackStatus.PENDING,
                (WritebackRow.status == WritebackStatus.RETRYING) & (WritebackRow.next_attempt_at <= now),
                (WritebackRow.status == WritebackStatus.SENDING) & (WritebackRow.claimed_at < stale_before),
            ),
        )
        .values(status=WritebackStatus.SENDING, claimed_at=now, attempts=WritebackRow.attempts + 1, updated_at=now)
    )
    # An UPDATE's result is a CursorResult; SQLAlchemy types execute() as returning the Result it derives from.
    return int(getattr(result, "rowcount", 0)) == 1


def mark_writeback_done(*, session: Session, writeback_id: int, now: datetime) -> None:
    """Record a delivered write-back as done, whoever holds its claim now."""
    session.execute(
        update(WritebackRow)
        .where(WritebackRow.id == writeback_id)
        .values(status=WritebackStatus.DONE, done_at=now, last_error=None, updated_at=now)
    )


def due_writeback_ids(
    *, session: Session, now: datetime, created_before: datetime, stale_before: datetime, limit: int = 500
) -> list[int]:
    return list(
        session.scalars(
            select(WritebackRow.id)
            .where(
                or_(
                    (WritebackRow.status == WritebackStatus.PENDING) & (WritebackRow.created_at < created_before),
                    (WritebackRow.status == WritebackStatus.RETRYING) & (WritebackRow.next_attempt_at <= now),
                    (WritebackRow.status == WritebackStatus.SENDING) & (WritebackRow.claimed_at < stale_before),
                )
            )
            .order_by(WritebackRow.id)
            .limit(limit)
        )
    )


def failed_writeback_ids(*, session: Session) -> list[int]:
    return list(
        session.scalars(
            select(WritebackRow.id).where(WritebackRow.status == WritebackStatus.FAILED).order_by(WritebackRow.id)
        )
    )


def ticket_writebacks(*, session: Session, ticket_id: int) -> list[WritebackRow]:
    """Every write-back of a ticket's decisions, oldest first."""
    return list(
        session.scalars(
            select(WritebackRow)
            .join(DecisionRow, DecisionRow.id == WritebackRow.decision_id)
            .where(DecisionRow.ticket_id == ticket_id)
            .order_by(WritebackRow.id)
        )
    )
