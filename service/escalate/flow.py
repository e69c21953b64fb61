"""Use cases of escalation: ask the LLM about an unsure ticket, within policy and budget."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta

from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.domain import (
    Decision,
    DecisionStatus,
    Prediction,
)
from service.decide.normalize import ticket_text
from service.escalate.policy import settle
from service.escalate.queries import llm_stats, llm_usage
from service.escalate.redact import redact
from service.infra.models import (
    LLMCall,
    Ticket,
)
from service.runtime import Runtime

log = logging.getLogger(__name__)


def escalate(runtime: Runtime, session: Session, ticket: Ticket, decision: Decision) -> tuple[Decision, LLMCall | None]:
    """Below threshold: ask the LLM (redacted text only) if one is configured, the queue allows it and the
    budget has room; its answer routes the ticket only under the agreement rule, else a person decides."""
    if decision.status != DecisionStatus.NEEDS_REVIEW:
        return decision, None
    queue = runtime.rules.queues.get(decision.route.queue)
    if queue is not None and not queue.auto_route:
        return decision, None
    if runtime.llm is None:
        return _why(decision, "no LLM configured: a person decides"), None
    if queue is not None and not queue.escalate:
        return _why(decision, f"queue {queue.name!r} is never sent to the LLM: a person decides"), None
    over = over_budget(runtime, session)
    if over:
        return _why(decision, f"LLM budget reached ({over}): a person decides"), None
    started = time.perf_counter()
    redaction = redact(ticket_text(ticket.subject, ticket.body))
    answer = runtime.llm.classify(text=redaction.text, labels=runtime.models.get().labels)
    outcome = settle(decision.prediction, answer, confident=runtime.settings.llm_confident)
    decision = replace(decision, timings_ms={**decision.timings_ms, "escalate": (time.perf_counter() - started) * 1000})
    call = LLMCall(
        ticket_id=ticket.id,
        model=answer.model,
        redacted_text=redaction.text,
        redactions=redaction.counts,
        label=answer.label,
        confidence=answer.confidence,
        reason=answer.reason,
        branch=outcome.branch,
        tokens_in=answer.tokens_in,
        tokens_out=answer.tokens_out,
        latency_ms=answer.latency_ms,
        cost=answer.cost,
        created_at=now_utc(),
    )
    if outcome.label is None:
        return _why(decision, f"escalated: {outcome.why}", llm=call), call
    chosen = Prediction(
        label=outcome.label,
        confidence=answer.confidence or decision.prediction.confidence,
        top_k=decision.prediction.top_k,
        model_name=decision.prediction.model_name,
        model_version=decision.prediction.model_version,
    )
    _, route, _ = runtime.rules.route(
        chosen, text=ticket_text(ticket.subject, ticket.body), metadata=ticket.meta, tags=ticket.tags
    )
    settled = Decision(
        status=DecisionStatus.ESCALATED,
        route=route,
        prediction=decision.prediction,
        reason=f"escalated: {outcome.why}",
        llm_label=outcome.label,
        timings_ms=decision.timings_ms,
    )
    return _why(settled, settled.reason, llm=call), call


def _why(decision: Decision, reason: str, llm: LLMCall | None = None) -> Decision:
    extra = (
        {}
        if llm is None
        else {
            "llm": {
                "label": llm.label,
                "confidence": llm.confidence,
                "reason": llm.reason,
                "branch": llm.branch,
                "model": llm.model,
                "redacted_text": llm.redacted_text,
            }
        }
    )
    return replace(decision, reason=reason, extra={**decision.extra, **extra})


def over_budget(runtime: Runtime, session: Session) -> str | None:
    """Whether the LLM budget (calls per rolling hour, spend per UTC day) is used up, shared by all workers."""
    now = now_utc()
    calls, _ = llm_usage(session=session, since=now - timedelta(hours=1))
    if calls >= runtime.settings.llm_max_calls_per_hour:
        return f"{calls} calls in the last hour"
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _, spend = llm_usage(session=session, since=midnight)
    if spend >= runtime.settings.llm_max_spend_per_day:
        return f"spent {spend:.2f} today"
    return None


def llm_report(runtime: Runtime, session: Session) -> dict[str, object]:
    """Escalation rate, LLM usage and cost per 1,000 tickets, overall and for the last 24 hours."""
    return {
        "all_time": llm_stats(session=session),
        "last_24h": llm_stats(session=session, since=now_utc() - timedelta(hours=24)),
        "llm_configured": runtime.llm is not None,
    }
