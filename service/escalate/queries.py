"""Escalation's queries: LLM usage for the budget, and its statistics."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.infra.models import (
    DecisionRow,
    Feedback,
    LLMCall,
)

log = logging.getLogger(__name__)


def llm_usage(*, session: Session, since: datetime) -> tuple[int, float]:
    """LLM calls made and money spent since a moment, across every worker."""

    calls, spend = session.execute(
        select(func.count(LLMCall.id), func.coalesce(func.sum(LLMCall.cost), 0.0)).where(LLMCall.created_at >= since)
    ).one()
    return int(calls), float(spend)


def llm_stats(*, session: Session, since: datetime | None = None) -> dict[str, float | int | None]:
    """Escalation rate, LLM calls, tokens, cost per 1,000 tickets, and LLM accuracy on tickets people reviewed."""

    def window(column: Any) -> Any:
        return column >= since if since is not None else True

    decided = session.scalar(select(func.count(DecisionRow.id)).where(window(DecisionRow.created_at))) or 0
    escalated = (
        session.scalar(select(func.count(func.distinct(LLMCall.ticket_id))).where(window(LLMCall.created_at))) or 0
    )
    calls, tokens_in, tokens_out, cost, latency = session.execute(
        select(
            func.count(LLMCall.id),
            func.coalesce(func.sum(LLMCall.tokens_in), 0),
            func.coalesce(func.sum(LLMCall.tokens_out), 0),
            func.coalesce(func.sum(LLMCall.cost), 0.0),
            func.avg(LLMCall.latency_ms),
        ).where(window(LLMCall.created_at))
    ).one()
    judged, right = session.execute(
        select(
            func.count(LLMCall.id), func.coalesce(func.sum(case((LLMCall.label == Feedback.to_label, 1), else_=0)), 0)
        )
        .join(Feedback, Feedback.decision_id == LLMCall.decision_id)
        .where(LLMCall.label.is_not(None), window(LLMCall.created_at))
    ).one()
    return {
        "decided": int(decided),
        "escalated": int(escalated),
        "escalation_rate": escalated / decided if decided else 0.0,
        "llm_calls": int(calls),
        "tokens_in": int(tokens_in),
        "tokens_out": int(tokens_out),
        "llm_cost": round(float(cost), 6),
        "llm_mean_latency_ms": round(float(latency), 1) if latency is not None else None,
        "cost_per_1000_tickets": round(float(cost) / decided * 1000, 4) if decided else 0.0,
        "llm_reviewed": int(judged),
        "llm_accuracy_on_reviewed": int(right) / judged if judged else None,
    }
