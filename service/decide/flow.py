"""Use cases of deciding: claim tickets, fetch their text, classify, route, escalate, record."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.domain import (
    Decision,
    TicketStatus,
    WritebackStatus,
)
from service.core.ports import IntegrationError
from service.decide.normalize import ticket_text
from service.decide.queries import claim_tickets, claim_waiting
from service.escalate.flow import escalate
from service.infra.models import (
    DecisionRow,
    LLMCall,
    PredictionRow,
    StageTiming,
    Ticket,
    WritebackRow,
)
from service.infra.queries import get_tickets
from service.runtime import Runtime

log = logging.getLogger(__name__)


MAX_PROCESS_ATTEMPTS = 5


def process_tickets(runtime: Runtime, session: Session, ticket_ids: Sequence[int], *, batch_size: int = 1) -> list[int]:
    """Classify and route tickets exactly once, topped up to batch_size with others that are waiting.

    Tickets that arrive together are classified in one model call (grouped by length inside the model).
    Each is claimed by a conditional UPDATE, so a ticket already claimed elsewhere is skipped and the
    tasks of the companions become no-ops. Returns the ids of the write-backs to deliver.
    """
    now = now_utc()
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    claimed = claim_tickets(session=session, ticket_ids=ticket_ids, now=now, stale_before=stale)
    if not claimed:
        session.rollback()
        return []
    session.commit()
    tickets = get_tickets(session=session, ticket_ids=claimed)
    try:
        for ticket in tickets:
            if ticket.needs_fetch:
                _hydrate(runtime, ticket)
        if batch_size > len(tickets):
            tickets += claim_waiting(session=session, limit=batch_size - len(tickets), now=now)
            session.commit()
        decisions = decide_many(runtime, tickets)
        asked = [
            escalate(runtime, session, ticket, decision) for ticket, decision in zip(tickets, decisions, strict=True)
        ]
        decisions = [decision for decision, _ in asked]
    except Exception as exc:
        session.rollback()
        permanent = isinstance(exc, IntegrationError) and exc.permanent
        for ticket in tickets:
            ticket.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            give_up = permanent or ticket.attempts >= MAX_PROCESS_ATTEMPTS
            ticket.status = TicketStatus.FAILED if give_up else TicketStatus.RECEIVED
            # The error's type only: its text may quote the helpdesk's answer; it is kept on the ticket instead.
            log.warning(
                "ticket processing failed",
                extra={
                    "ticket_id": ticket.id,
                    "stage": "process",
                    "error": type(exc).__name__,
                    "status": ticket.status,
                    "attempt": ticket.attempts,
                },
            )
        session.commit()
        raise
    try:
        rows = _record_many(runtime, session, tickets, decisions, [call for _, call in asked])
        _shadow_predict(runtime, session, tickets)
        session.commit()
        for ticket, decision in zip(tickets, decisions, strict=True):
            _log_decided(ticket, decision)
        return [wb.id for wb in rows]
    except IntegrityError:
        session.rollback()
    # Someone decided one of these meanwhile (a stale claim raced a slow worker): keep theirs, save the rest.
    saved = []
    for ticket, decision, (_, call) in zip(tickets, decisions, asked, strict=True):
        try:
            writeback = _record(runtime, session, session.merge(ticket), decision, call and session.merge(call))
            session.commit()
            saved.append(writeback.id)
            _log_decided(ticket, decision)
        except IntegrityError:
            session.rollback()
    return saved


def _log_decided(ticket: Ticket, decision: Decision) -> None:
    log.info(
        "ticket decided",
        extra={
            "ticket_id": ticket.id,
            "source": ticket.source,
            "stage": "decide",
            "status": decision.status.value,
            "queue": decision.route.queue,
            "priority": decision.route.priority,
            "label": decision.label,
            "confidence": round(decision.prediction.confidence, 4),
            "model": f"{decision.prediction.model_name}@{decision.prediction.model_version}",
            **{f"{stage}_ms": round(ms, 3) for stage, ms in decision.timings_ms.items()},
        },
    )


def _record(
    runtime: Runtime, session: Session, ticket: Ticket, decision: Decision, call: LLMCall | None = None
) -> WritebackRow:
    """Add the prediction, the decision for the ticket's revision, its LLM call if any, and one write-back."""
    return _record_many(runtime, session, [ticket], [decision], [call])[0]


def _record_many(
    runtime: Runtime, session: Session, tickets: list[Ticket], decisions: list[Decision], calls: list[LLMCall | None]
) -> list[WritebackRow]:
    """_record for a batch: each kind of row is inserted for all tickets at once (three round trips, not 3 × N)."""
    predictions = [
        PredictionRow(
            ticket_id=ticket.id,
            model_name=d.prediction.model_name,
            model_version=d.prediction.model_version,
            label=d.prediction.label,
            confidence=d.prediction.confidence,
            latency_ms=d.prediction.latency_ms,
            top_k=[[lab, score] for lab, score in d.prediction.top_k],
        )
        for ticket, d in zip(tickets, decisions, strict=True)
    ]
    session.add_all(predictions)
    session.flush()
    rows = [
        DecisionRow(
            ticket_id=ticket.id,
            revision=ticket.revision,
            prediction_id=prediction.id,
            queue=d.route.queue,
            priority=d.route.priority,
            status=d.status,
            rule=d.route.rule,
            threshold=d.route.threshold,
            reason=d.explanation(),
        )
        for ticket, d, prediction in zip(tickets, decisions, predictions, strict=True)
    ]
    session.add_all(rows)
    session.flush()
    writebacks = []
    for ticket, d, row, call in zip(tickets, decisions, rows, calls, strict=True):
        if call is not None:
            call.decision_id = row.id
            session.add(call)
        writebacks.append(
            WritebackRow(
                decision_id=row.id,
                target=runtime.helpdesk_for(ticket.source),
                status=WritebackStatus.PENDING,
                created_at=now_utc(),
            )
        )
        session.add_all(
            StageTiming(ticket_id=ticket.id, stage=stage, duration_ms=ms) for stage, ms in d.timings_ms.items()
        )
        ticket.status = TicketStatus.DECIDED
        ticket.processed_at = now_utc()
        ticket.last_error = None
    session.add_all(writebacks)
    return writebacks


def _shadow_predict(runtime: Runtime, session: Session, tickets: list[Ticket]) -> None:
    """Record the shadow model's predictions (role "shadow"): no decision, so never routed or written back."""
    try:
        model = runtime.shadow.get()
    except Exception as exc:  # a candidate that cannot load must never cost a ticket its decision
        log.warning("shadow model cannot be loaded (%s); tickets decided without shadow predictions", exc)
        return
    if model is None:
        return
    try:
        predictions = model.predict([ticket_text(t.subject, t.body) for t in tickets], top_k=3)
    except Exception:  # a failing candidate must never cost a ticket its decision
        log.exception(
            "shadow model %s@%s failed; tickets decided without shadow predictions",
            model.name,
            model.version,
            extra={"ticket_ids": [t.id for t in tickets], "stage": "shadow"},
        )
        return
    for ticket, p in zip(tickets, predictions, strict=True):
        session.add(
            PredictionRow(
                ticket_id=ticket.id,
                model_name=p.model_name,
                model_version=p.model_version,
                label=p.label,
                confidence=p.confidence,
                latency_ms=p.latency_ms,
                top_k=[[lab, score] for lab, score in p.top_k],
                role="shadow",
            )
        )


def _hydrate(runtime: Runtime, ticket: Ticket) -> None:
    """Fill in a ticket whose webhook carried only its id, from the helpdesk's API."""
    fetched = runtime.integrations.helpdesk(ticket.source).fetch_ticket(ticket.external_id)
    ticket.subject, ticket.body = fetched.subject, fetched.body
    ticket.requester = fetched.requester or ticket.requester
    ticket.tags = list(fetched.tags) or ticket.tags
    ticket.meta = {**ticket.meta, **fetched.metadata}
    ticket.created_at = ticket.created_at or fetched.created_at
    ticket.needs_fetch = False


def decide(runtime: Runtime, ticket: Ticket) -> Decision:
    """Run the pipeline over one stored ticket; pure with respect to the database."""
    return decide_many(runtime, [ticket])[0]


def decide_text(runtime: Runtime, *, subject: str, body: str) -> Decision:
    """The decision the pipeline would make for a text, stored nowhere (`triage classify`)."""
    return decide(runtime, Ticket(subject=subject, body=body, meta={}, tags=[]))


def decide_many(runtime: Runtime, tickets: list[Ticket]) -> list[Decision]:
    """Classify tickets in one model call, then route each."""
    texts = [ticket_text(t.subject, t.body) for t in tickets]
    model = runtime.models.get()
    started = time.perf_counter()
    predictions = model.predict(texts, top_k=3)
    # One model call serves the whole batch: each ticket is charged its share.
    classify_ms = (time.perf_counter() - started) * 1000 / max(len(tickets), 1)
    decisions = []
    for ticket, text, prediction in zip(tickets, texts, predictions, strict=True):
        started = time.perf_counter()
        status, route, why = runtime.rules.route(prediction, text=text, metadata=ticket.meta, tags=ticket.tags)
        route_ms = (time.perf_counter() - started) * 1000
        decisions.append(
            Decision(
                status=status,
                route=route,
                prediction=prediction,
                reason=why,
                timings_ms={"classify": classify_ms, "route": route_ms},
            )
        )
    return decisions
