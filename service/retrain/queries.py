"""Retraining's queries: the model in service's live predictions (drift alarm), and tickets only a bot labelled."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from service.core.domain import DecisionStatus, WritebackStatus
from service.infra.models import (
    Correction,
    DecisionRow,
    Feedback,
    PredictionRow,
    Ticket,
    WritebackRow,
)

log = logging.getLogger(__name__)


def live_predictions(
    *,
    session: Session,
    model_name: str,
    model_version: str,
    since: datetime,
    bins: int = 10,
) -> tuple[dict[str, int], dict[str, int]]:
    """Label counts and confidence-bin counts ("0".."9") of one model version's serving predictions since
    `since` (drift alarm); counted in the database, as this runs on every metrics scrape."""
    where = (
        PredictionRow.model_name == model_name,
        PredictionRow.model_version == model_version,
        PredictionRow.role == "serving",
        PredictionRow.created_at >= since,
    )
    labels = {
        str(label): int(n)
        for label, n in session.execute(
            select(PredictionRow.label, func.count()).where(*where).group_by(PredictionRow.label)
        )
    }
    bucket = case(*((PredictionRow.confidence < (i + 1) / bins, i) for i in range(bins - 1)), else_=bins - 1)
    confidences = {str(i): 0 for i in range(bins)}
    for b, n in session.execute(select(bucket, func.count()).where(*where).group_by(bucket)):
        confidences[str(int(b))] = int(n)
    return labels, confidences


def bot_labelled_ids(*, session: Session) -> set[str]:
    """ "source:external_id" of tickets whose helpdesk routing only Triage set: an automatic decision delivered
    there, and no person's review or correction since (their export labels are our own guesses fed back)."""
    delivered = exists().where(
        WritebackRow.decision_id == DecisionRow.id,
        WritebackRow.kind == "decision",
        WritebackRow.status == WritebackStatus.DONE,
    )
    reviewed = exists().where(Feedback.ticket_id == Ticket.id)
    corrected = exists().where(Correction.ticket_id == Ticket.id)
    rows = session.execute(
        select(Ticket.source, Ticket.external_id)
        .join(DecisionRow, DecisionRow.ticket_id == Ticket.id)
        .where(DecisionRow.status == DecisionStatus.AUTO_ROUTED, delivered, ~reviewed, ~corrected)
        .distinct()
    )
    return {f"{source}:{external_id}" for source, external_id in rows}
