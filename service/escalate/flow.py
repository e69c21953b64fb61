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
from service.escalate.policy import Settlement, capped, settle, top_labels, visible
from service.escalate.queries import llm_stats, llm_usage
from service.escalate.redact import redact
from service.infra.models import (
    LLMCall,
    Ticket,
)
from service.runtime import Runtime

log = logging.getLogger(__name__)


def escalate(runtime: Runtime, session: Session, ticket: Ticket, decision: Decision) -> tuple[Decision, LLMCall | None]:
    """Below threshold: ask the LLM (redacted, capped text only) to choose among the classifier's top labels
    if one is configured, the queue allows it and the budget has room; its answer routes the ticket only
    under the agreement rule and into a queue that takes the LLM's word, else a person decides."""
    if decision.status != DecisionStatus.NEEDS_REVIEW:
        return decision, None
    queue = runtime.rules.queues.get(decision.route.queue)
    if queue is not None and not queue.auto_route:
        return decision, None
    if runtime.llm is None:
        return _added(decision, "no LLM configured: a person decides"), None
    if queue is not None and not queue.escalate:
        return _added(decision, f"queue {queue.name!r} is never sent to the LLM: a person decides"), None
    over = over_budget(runtime, session)
    if over:
        return _added(decision, f"LLM budget reached ({over}): a person decides"), None
    settings = runtime.settings
    started = time.perf_counter()
    redaction = redact(visible(ticket_text(ticket.subject, ticket.body)))
    sent = capped(redaction.text, settings.llm_max_chars)
    offered = top_labels(decision.prediction, settings.llm_top_k)
    answer = runtime.llm.classify(text=sent, labels=offered)
    outcome = settle(
        decision.prediction,
        answer,
        allowed=offered,
        confident=settings.llm_confident,
        classifier_confident=settings.llm_classifier_confident,
    )
    route = None
    if outcome.label is not None:
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
        closed = _closed_to_llm(runtime, outcome.label, route.queue)
        if closed:
            why = f"LLM chose {outcome.label!r}, but {closed}: a person decides"
            outcome = Settlement(None, "llm_queue_closed", why)
    decision = replace(decision, timings_ms={**decision.timings_ms, "escalate": (time.perf_counter() - started) * 1000})
    call = LLMCall(
        ticket_id=ticket.id,
        model=answer.model,
        redacted_text=sent,
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
    if outcome.label is None or route is None:
        return _added(decision, f"escalated: {outcome.why}", llm=call), call
    settled = Decision(
        status=DecisionStatus.ESCALATED,
        route=route,
        prediction=decision.prediction,
        reason=f"escalated: {outcome.why}",
        llm_label=outcome.label,
        extra=decision.extra,  # what earlier steps explained (similar tickets) stays
        timings_ms=decision.timings_ms,
    )
    return _why(settled, settled.reason, llm=call), call


def _closed_to_llm(runtime: Runtime, label: str, final_queue: str) -> str | None:
    """Why the queue the LLM's label leads to does not take the LLM's word, or None if it does."""
    rules = runtime.rules
    for name in dict.fromkeys([rules.label_queue.get(label, rules.default.name), final_queue]):
        rule = rules.queues.get(name)
        if rule is None:
            continue
        if not rule.llm_may_route:
            return f"queue {name!r} is never routed on the LLM's word"
        if not rule.auto_route:
            return f"queue {name!r} is never auto-routed"
    return None


def _added(decision: Decision, why: str, llm: LLMCall | None = None) -> Decision:
    """Left for a person: the reason keeps why it was not auto-routed (below threshold, out of scope) and adds `why`."""
    return _why(decision, f"{decision.reason}; {why}", llm=llm)


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
