"""The dashboard's aggregate queries over the latest decision of each ticket."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session, aliased

from service.infra.models import (
    DecisionRow,
    Feedback,
    PredictionRow,
    Ticket,
)
from service.review.queries import ReviewFilter, review_base

log = logging.getLogger(__name__)


def _day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, as the database spells it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def decision_counts(*, session: Session, since: datetime) -> dict[str, int]:
    """Latest decisions per ticket made since `since`, by status."""
    query = review_base([DecisionRow.status, func.count()], ReviewFilter()).where(DecisionRow.created_at >= since)
    return {str(k): int(v) for k, v in session.execute(query.group_by(DecisionRow.status))}


def reviewed_outcomes(*, session: Session, since: datetime) -> tuple[int, int, int]:
    """Reviewed decisions since `since`: how many, how many kept the label, how many kept queue and priority."""
    newest = select(func.max(Feedback.id)).group_by(Feedback.decision_id)
    kept_label = case((Feedback.to_label == PredictionRow.label, 1), else_=0)
    kept_route = case(
        (and_(Feedback.to_queue == DecisionRow.queue, Feedback.to_priority == DecisionRow.priority), 1), else_=0
    )
    query = (
        review_base([func.count(), func.sum(kept_label), func.sum(kept_route)], ReviewFilter())
        .join(Feedback, Feedback.decision_id == DecisionRow.id)
        .where(Feedback.id.in_(newest), DecisionRow.created_at >= since)
    )
    total, label, route = session.execute(query).one()
    return int(total or 0), int(label or 0), int(route or 0)


def daily_queue_volume(*, session: Session, since: datetime) -> list[tuple[str, str, int]]:
    """(day, queue, tickets) for latest decisions since `since`."""
    day = _day(session, DecisionRow.created_at)
    query = (
        review_base([day, DecisionRow.queue, func.count()], ReviewFilter())
        .where(DecisionRow.created_at >= since)
        .group_by(day, DecisionRow.queue)
        .order_by(day)
    )
    return [(str(d), str(q), int(n)) for d, q, n in session.execute(query)]


def confidence_histogram(*, session: Session, since: datetime, bins: int = 10) -> list[tuple[int, str, int]]:
    """(bin, decision status, tickets): confidences cut into `bins` equal bins from 0 to 1."""
    # Explicit edges rather than CAST or FLOOR: Postgres rounds a CAST, and SQLite may lack FLOOR.
    bucket = case(*((PredictionRow.confidence < (i + 1) / bins, i) for i in range(bins - 1)), else_=bins - 1)
    query = (
        review_base([bucket, DecisionRow.status, func.count()], ReviewFilter())
        .where(DecisionRow.created_at >= since)
        .group_by(bucket, DecisionRow.status)
    )
    return [(int(b), str(s), int(n)) for b, s, n in session.execute(query)]


@dataclass(frozen=True)
class ShadowOutcomes:
    """How a shadow model compared with the one in service on the same tickets."""

    predicted: int
    agreed: int
    reviewed: int
    shadow_right: int
    serving_right: int


def shadow_outcomes(*, session: Session, model_version: str, since: datetime) -> ShadowOutcomes:
    """Shadow predictions of `model_version` since `since` against the latest decisions' serving predictions,
    and, on tickets an agent reviewed, against the agent's label."""
    shadow = aliased(PredictionRow)
    agreed = case((shadow.label == PredictionRow.label, 1), else_=0)
    base = (
        review_base([func.count(), func.sum(agreed)], ReviewFilter())
        .join(
            shadow, and_(shadow.ticket_id == Ticket.id, shadow.role == "shadow", shadow.model_version == model_version)
        )
        .where(shadow.created_at >= since)
    )
    predicted, agree = session.execute(base).one()
    newest = select(func.max(Feedback.id)).group_by(Feedback.decision_id)
    reviewed = (
        base.with_only_columns(
            func.count(),
            func.sum(case((shadow.label == Feedback.to_label, 1), else_=0)),
            func.sum(case((PredictionRow.label == Feedback.to_label, 1), else_=0)),
        )
        .join(Feedback, Feedback.decision_id == DecisionRow.id)
        .where(Feedback.id.in_(newest))
    )
    n_reviewed, shadow_right, serving_right = session.execute(reviewed).one()
    return ShadowOutcomes(
        int(predicted or 0), int(agree or 0), int(n_reviewed or 0), int(shadow_right or 0), int(serving_right or 0)
    )


def model_versions_used(*, session: Session, since: datetime) -> list[tuple[str, str, int]]:
    """(model name, version, tickets) among latest decisions since `since`, most used first."""
    query = (
        review_base([PredictionRow.model_name, PredictionRow.model_version, func.count()], ReviewFilter())
        .where(DecisionRow.created_at >= since)
        .group_by(PredictionRow.model_name, PredictionRow.model_version)
        .order_by(func.count().desc())
    )
    return [(str(n), str(v), int(c)) for n, v, c in session.execute(query)]
