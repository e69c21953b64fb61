"""Queries every stage shares: tickets by id, counts and histograms; no business rules."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.orm import Session, selectinload

from service.infra.models import (
    DecisionRow,
    Ticket,
)

log = logging.getLogger(__name__)


def get_ticket(*, session: Session, ticket_id: int) -> Ticket | None:
    return session.get(
        Ticket,
        ticket_id,
        options=[
            selectinload(Ticket.decisions).selectinload(DecisionRow.writebacks),
            selectinload(Ticket.decisions).selectinload(DecisionRow.prediction),
        ],
    )


def get_tickets(*, session: Session, ticket_ids: Sequence[int]) -> list[Ticket]:
    return list(session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id)))


def count_by(*, session: Session, column: Any) -> dict[str, int]:
    """Row counts grouped by one column, e.g. count_by(session=s, column=Ticket.status)."""
    return {str(k): int(v) for k, v in session.execute(select(column, func.count()).group_by(column))}


def distinct_values(*, session: Session, column: Any) -> list[str]:
    """Every value a column holds, sorted (labels and model versions for the filter lists)."""
    return sorted(str(v) for v in session.scalars(select(column).distinct()) if v is not None)


def histogram(
    *,
    session: Session,
    value: Any,
    bounds: Sequence[float],
    group: Any = None,
    where: ColumnElement[bool] | None = None,
) -> dict[str, tuple[list[int], float, int]]:
    """Cumulative counts of `value` <= each bound, its sum and count, per `group` value ("" without one).

    One aggregate query: the rows are counted where they lie, never loaded.
    """
    aggregates = [
        func.count(),
        func.coalesce(func.sum(value), 0.0),
        *(func.sum(case((value <= bound, 1), else_=0)) for bound in bounds),
    ]
    query = select(group, *aggregates).group_by(group) if group is not None else select(literal(""), *aggregates)
    if where is not None:
        query = query.where(where)
    return {
        str(row[0]): ([int(c or 0) for c in row[3:]], float(row[2]), int(row[1]))
        for row in session.execute(query)
        if row[1]
    }
