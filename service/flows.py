"""Use cases: the only place where store, pipeline and ports meet."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import store
from service.domain import (
    Decision,
    InboundTicket,
    TicketStatus,
    WritebackRequest,
    WritebackStatus,
)
from service.models import DecisionRow, PredictionRow, Ticket, WebhookEvent, WritebackRow
from service.pipeline.normalize import ticket_text
from service.ports import IntegrationError
from service.runtime import Runtime

log = logging.getLogger(__name__)

MAX_PROCESS_ATTEMPTS = 5
MAX_BACKOFF_S = 600.0


def now_utc() -> datetime:
    return datetime.now(UTC)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Intake:
    """The outcome of receiving one delivery; queued means a worker must now (re)process the ticket."""

    ticket_id: int | None
    queued: bool
    outcome: str
    status: str


def receive_ticket(session: Session, ticket: InboundTicket, *, delivery_id: str, body_sha256: str,
                   is_update: bool = False, reroute_on_update: bool = False) -> Intake:
    """Store a delivery and its ticket once; repeats change nothing, updates re-route only if configured."""
    seen = store.find_event(session=session, source=ticket.source, delivery_id=delivery_id)
    if seen is not None:
        return _known(session, seen.ticket_id, "duplicate_delivery")
    existing = store.find_ticket(session=session, source=ticket.source, external_id=ticket.external_id)
    if existing is not None:
        outcome = "known_ticket"
        if is_update and reroute_on_update and _text_changed(existing, ticket):
            existing.subject, existing.body = ticket.subject, ticket.body
            existing.needs_fetch = ticket.needs_fetch
            existing.revision += 1
            existing.status, existing.claimed_at, existing.attempts = TicketStatus.RECEIVED, None, 0
            outcome = "rerouted"
        session.add(WebhookEvent(source=ticket.source, delivery_id=delivery_id, body_sha256=body_sha256,
                                 ticket_id=existing.id, outcome=outcome))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return _known(session, existing.id, "duplicate_delivery")
        if outcome == "rerouted":
            return Intake(ticket_id=existing.id, queued=True, outcome=outcome, status=existing.status)
        return _known(session, existing.id, outcome)
    row = Ticket(source=ticket.source, external_id=ticket.external_id, subject=ticket.subject,
                 body=ticket.body, requester=ticket.requester, tags=list(ticket.tags),
                 meta=dict(ticket.metadata), created_at=ticket.created_at, received_at=now_utc(),
                 status=TicketStatus.RECEIVED, needs_fetch=ticket.needs_fetch)
    session.add(row)
    session.flush()
    session.add(WebhookEvent(source=ticket.source, delivery_id=delivery_id, body_sha256=body_sha256,
                             ticket_id=row.id, outcome="created"))
    try:
        session.commit()
    except IntegrityError:
        # A concurrent delivery of the same event or ticket won the race; answer as a duplicate.
        session.rollback()
        seen = store.find_event(session=session, source=ticket.source, delivery_id=delivery_id)
        other = seen.ticket_id if seen else None
        if other is None:
            found = store.find_ticket(session=session, source=ticket.source, external_id=ticket.external_id)
            other = found.id if found else None
        return _known(session, other, "duplicate_delivery")
    return Intake(ticket_id=row.id, queued=True, outcome="created", status=row.status)


def _text_changed(row: Ticket, ticket: InboundTicket) -> bool:
    return ticket.needs_fetch or (row.subject, row.body) != (ticket.subject, ticket.body)


def _known(session: Session, ticket_id: int | None, outcome: str) -> Intake:
    ticket = store.get_ticket(session=session, ticket_id=ticket_id) if ticket_id is not None else None
    return Intake(ticket_id=ticket_id, queued=False, outcome=outcome,
                  status=ticket.status if ticket else "unknown")


def process_ticket(runtime: Runtime, session: Session, ticket_id: int) -> int | None:
    """Classify and route one ticket exactly once; return the write-back id to deliver, if any."""
    now = now_utc()
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    if not store.claim_ticket(session=session, ticket_id=ticket_id, now=now, stale_before=stale):
        session.rollback()
        return None
    session.commit()
    ticket = store.get_ticket(session=session, ticket_id=ticket_id)
    assert ticket is not None
    try:
        if ticket.needs_fetch:
            _hydrate(runtime, ticket)
        decision = decide(runtime, ticket)
    except Exception as exc:
        session.rollback()
        ticket.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        permanent = isinstance(exc, IntegrationError) and exc.permanent
        give_up = permanent or ticket.attempts >= MAX_PROCESS_ATTEMPTS
        ticket.status = TicketStatus.FAILED if give_up else TicketStatus.RECEIVED
        session.commit()
        raise
    prediction = PredictionRow(
        ticket_id=ticket.id, model_name=decision.prediction.model_name,
        model_version=decision.prediction.model_version, label=decision.prediction.label,
        confidence=decision.prediction.confidence, latency_ms=decision.prediction.latency_ms,
        top_k=[[lab, score] for lab, score in decision.prediction.top_k],
    )
    session.add(prediction)
    session.flush()
    row = DecisionRow(ticket_id=ticket.id, revision=ticket.revision, prediction_id=prediction.id,
                      queue=decision.route.queue,
                      priority=decision.route.priority, status=decision.status, rule=decision.route.rule,
                      threshold=decision.route.threshold, reason=decision.explanation())
    session.add(row)
    session.flush()
    writeback = WritebackRow(decision_id=row.id, target=runtime.helpdesk_for(ticket.source),
                             status=WritebackStatus.PENDING, created_at=now_utc())
    session.add(writeback)
    ticket.status = TicketStatus.DECIDED
    ticket.processed_at = now_utc()
    ticket.last_error = None
    try:
        session.commit()
    except IntegrityError:
        # Someone decided this ticket meanwhile (a stale claim raced a slow worker): keep theirs.
        session.rollback()
        return None
    return writeback.id


def _hydrate(runtime: Runtime, ticket: Ticket) -> None:
    """Fill in a ticket whose webhook carried only its id, from the helpdesk's API."""
    fetched = runtime.integrations.get(ticket.source).fetch_ticket(ticket.external_id)
    ticket.subject, ticket.body = fetched.subject, fetched.body
    ticket.requester = fetched.requester or ticket.requester
    ticket.tags = list(fetched.tags) or ticket.tags
    ticket.meta = {**ticket.meta, **fetched.metadata}
    ticket.created_at = ticket.created_at or fetched.created_at
    ticket.needs_fetch = False


def decide(runtime: Runtime, ticket: Ticket) -> Decision:
    """Run the pipeline over one stored ticket; pure with respect to the database."""
    text = ticket_text(ticket.subject, ticket.body)
    prediction = runtime.models.get().predict([text], top_k=3)[0]
    status, route, why = runtime.rules.route(prediction, text=text, metadata=ticket.meta, tags=ticket.tags)
    return Decision(status=status, route=route, prediction=prediction, reason=why)


@dataclass(frozen=True)
class Delivery:
    """What happened to one write-back attempt; retry_in is set when it should be tried again."""

    outcome: str
    retry_in: float | None = None


def deliver_writeback(runtime: Runtime, session: Session, writeback_id: int) -> Delivery:
    """Send one write-back if it is due; record success, a scheduled retry, or a permanent failure."""
    now = now_utc()
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    if not store.claim_writeback(session=session, writeback_id=writeback_id, now=now, stale_before=stale):
        session.rollback()
        return Delivery("not_due")
    session.commit()
    wb = session.get(WritebackRow, writeback_id)
    assert wb is not None
    decision = wb.decision
    ticket = decision.ticket
    request = WritebackRequest(
        writeback_id=wb.id, ticket_external_id=ticket.external_id, queue=decision.queue,
        priority=decision.priority, label=decision.prediction.label, status=decision.status,
        note=render_note(decision.reason), tags=(f"triage_{decision.queue}", f"triage_{decision.status}"),
    )
    helpdesk = runtime.integrations.get(wb.target)
    wait = max((runtime.limiter.acquire(limit) for limit in helpdesk.rate_limits(request)), default=0.0)
    if wait > 0:
        # Our own throttle, not a failure: the attempt is given back and the call waits for a free slot.
        wb.attempts -= 1
        wb.status = WritebackStatus.RETRYING
        wb.next_attempt_at = now_utc() + timedelta(seconds=wait)
        session.commit()
        return Delivery("throttled", retry_in=wait)
    try:
        helpdesk.write_back(request)
    except IntegrationError as exc:
        wb.last_error = str(exc)[:2000]
        if exc.permanent or wb.attempts >= runtime.settings.writeback_max_attempts:
            wb.status = WritebackStatus.FAILED
            session.commit()
            log.warning("write-back %s failed for good after %s attempt(s)", wb.id, wb.attempts,
                        extra={"writeback_id": wb.id, "ticket_id": ticket.id})
            return Delivery("failed")
        delay = exc.retry_after if exc.retry_after is not None else min(
            runtime.settings.writeback_backoff_s * 2 ** (wb.attempts - 1), MAX_BACKOFF_S)
        wb.status = WritebackStatus.RETRYING
        wb.next_attempt_at = now_utc() + timedelta(seconds=delay)
        session.commit()
        return Delivery("retrying", retry_in=delay)
    wb.status = WritebackStatus.DONE
    wb.done_at = now_utc()
    wb.last_error = None
    session.commit()
    return Delivery("done")


def render_note(reason: dict) -> str:  # type: ignore[type-arg]
    """The internal note an agent reads in the helpdesk: decision, reason, alternatives, model."""
    top = ", ".join(f"{t['label']} {t['score']:.0%}" for t in reason.get("top_k", []))
    return (
        f"Triage: {reason.get('status', '').replace('_', ' ')} to {reason.get('queue')} "
        f"(priority {reason.get('priority')}).\n"
        f"Label: {reason.get('label')} ({reason.get('confidence', 0):.0%}); top: {top}.\n"
        f"Why: {reason.get('reason')}; rule: {reason.get('rule')}.\n"
        f"Model: {reason.get('model')}."
    )


def retry_failed_writebacks(session: Session) -> list[int]:
    """Put every failed write-back back in line (operator action after fixing the cause)."""
    ids = store.failed_writeback_ids(session=session)
    for wb_id in ids:
        wb = session.get(WritebackRow, wb_id)
        assert wb is not None
        wb.status = WritebackStatus.PENDING
        wb.attempts = 0
        wb.next_attempt_at = None
    session.commit()
    return ids


def stragglers(runtime: Runtime, session: Session) -> tuple[list[int], list[int]]:
    """Tickets and write-backs that should be in the queue but may not be; safe to enqueue twice."""
    now = now_utc()
    grace = now - timedelta(seconds=min(30, runtime.settings.sweep_interval_s))
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    tickets = store.stalled_ticket_ids(session=session, received_before=grace, stale_before=stale)
    writebacks = store.due_writeback_ids(session=session, now=now, created_before=grace, stale_before=stale)
    return tickets, writebacks
