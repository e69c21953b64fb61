"""Use cases: the only place where store, pipeline and ports meet."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from service import store
from service.db import Database, unavailable
from service.domain import (
    Decision,
    DecisionStatus,
    InboundTicket,
    Prediction,
    TicketStatus,
    WritebackRequest,
    WritebackStatus,
)
from service.drift import DriftReport, drift_report
from service.modelcard import ModelCardError, card_metrics, current_version_dir, shadow_version_dir
from service.models import (
    DecisionRow,
    DraftRow,
    Feedback,
    LLMCall,
    PredictionRow,
    StageTiming,
    Ticket,
    User,
    WebhookEvent,
    WritebackRow,
)
from service.pipeline.escalate import settle
from service.pipeline.normalize import ticket_text
from service.pipeline.redact import redact
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
    # The webhook event row that recorded this delivery (the earlier one for a duplicate).
    event_id: int | None = None


def new_ticket_row(ticket: InboundTicket, *, delivery_id: str, body_sha256: str) -> store.NewTicket:
    """The rows a delivery adds if its ticket is new."""
    return store.NewTicket(delivery_id=delivery_id, body_sha256=body_sha256, values={
        "source": ticket.source, "external_id": ticket.external_id, "subject": ticket.subject, "body": ticket.body,
        "requester": ticket.requester, "tags": list(ticket.tags), "metadata": dict(ticket.metadata),
        "created_at": ticket.created_at, "received_at": now_utc(), "status": TicketStatus.RECEIVED.value,
        "needs_fetch": ticket.needs_fetch})


def store_new_tickets(db: Database, rows: list[store.NewTicket]) -> list[tuple[int, int] | None | Exception]:
    """Store many deliveries' new tickets in one transaction (the web process's group commit).

    A row the database refuses for reasons of its own fails alone: the rows are then stored one by one,
    so only that delivery's sender gets an error.
    """
    try:
        with db.session() as session:
            results = store.insert_new_tickets(session=session, rows=rows)
            session.commit()
            return list(results)
    except SQLAlchemyError as exc:
        if len(rows) == 1 or unavailable(exc):
            raise
    one_by_one: list[tuple[int, int] | None | Exception] = []
    for row in rows:
        try:
            one_by_one.extend(store_new_tickets(db, [row]))
        except SQLAlchemyError as exc:
            one_by_one.append(exc)
    return one_by_one


def receive_ticket(session: Session, ticket: InboundTicket, *, delivery_id: str, body_sha256: str,
                   store_new: Callable[[store.NewTicket], tuple[int, int] | None], is_update: bool = False,
                   reroute_on_update: bool = False) -> Intake:
    """Store a delivery and its ticket once; repeats change nothing, updates re-route only if configured.

    store_new stores and commits a new ticket (the web's group commit); session looks up and records repeats.
    """
    # The common case, a new ticket, is stored with no look-ups first (the intake hot path).
    new = store_new(new_ticket_row(ticket, delivery_id=delivery_id, body_sha256=body_sha256))
    if new is not None:
        return Intake(ticket_id=new[0], queued=True, outcome="created", status=TicketStatus.RECEIVED, event_id=new[1])
    # A known ticket or a repeated delivery: look them up.
    seen = store.find_event(session=session, source=ticket.source, delivery_id=delivery_id)
    if seen is not None:
        return _known(session, seen.ticket_id, "duplicate_delivery", event_id=seen.id)
    existing = store.find_ticket(session=session, source=ticket.source, external_id=ticket.external_id)
    if existing is None:  # removed between the INSERT and this look-up: store it afresh
        return receive_ticket(session, ticket, delivery_id=delivery_id, body_sha256=body_sha256, is_update=is_update,
                              reroute_on_update=reroute_on_update, store_new=store_new)
    outcome = "known_ticket"
    if is_update and reroute_on_update and _text_changed(existing, ticket):
        existing.subject, existing.body = ticket.subject, ticket.body
        existing.needs_fetch = ticket.needs_fetch
        existing.revision += 1
        existing.status, existing.claimed_at, existing.attempts = TicketStatus.RECEIVED, None, 0
        outcome = "rerouted"
    event = WebhookEvent(source=ticket.source, delivery_id=delivery_id, body_sha256=body_sha256,
                         ticket_id=existing.id, outcome=outcome)
    session.add(event)
    try:
        session.commit()
    except IntegrityError:  # a concurrent delivery of the same event won the race
        session.rollback()
        seen = store.find_event(session=session, source=ticket.source, delivery_id=delivery_id)
        return _known(session, existing.id, "duplicate_delivery", event_id=seen.id if seen else None)
    if outcome == "rerouted":
        return Intake(ticket_id=existing.id, queued=True, outcome=outcome, status=existing.status, event_id=event.id)
    return _known(session, existing.id, outcome, event_id=event.id)


def _text_changed(row: Ticket, ticket: InboundTicket) -> bool:
    return ticket.needs_fetch or (row.subject, row.body) != (ticket.subject, ticket.body)


def _known(session: Session, ticket_id: int | None, outcome: str, *, event_id: int | None = None) -> Intake:
    ticket = store.get_ticket(session=session, ticket_id=ticket_id) if ticket_id is not None else None
    return Intake(ticket_id=ticket_id, queued=False, outcome=outcome,
                  status=ticket.status if ticket else "unknown", event_id=event_id)


def process_tickets(runtime: Runtime, session: Session, ticket_ids: Sequence[int], *,
                    batch_size: int = 1) -> list[int]:
    """Classify and route tickets exactly once, topped up to batch_size with others that are waiting.

    Tickets that arrive together are classified in one model call (grouped by length inside the model).
    Each is claimed by a conditional UPDATE, so a ticket already claimed elsewhere is skipped and the
    tasks of the companions become no-ops. Returns the ids of the write-backs to deliver.
    """
    now = now_utc()
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    claimed = store.claim_tickets(session=session, ticket_ids=ticket_ids, now=now, stale_before=stale)
    if not claimed:
        session.rollback()
        return []
    session.commit()
    tickets = store.get_tickets(session=session, ticket_ids=claimed)
    try:
        for ticket in tickets:
            if ticket.needs_fetch:
                _hydrate(runtime, ticket)
        if batch_size > len(tickets):
            tickets += store.claim_waiting(session=session, limit=batch_size - len(tickets), now=now)
            session.commit()
        decisions = decide_many(runtime, tickets)
        asked = [escalate(runtime, session, ticket, decision)
                 for ticket, decision in zip(tickets, decisions, strict=True)]
        decisions = [decision for decision, _ in asked]
    except Exception as exc:
        session.rollback()
        permanent = isinstance(exc, IntegrationError) and exc.permanent
        for ticket in tickets:
            ticket.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            give_up = permanent or ticket.attempts >= MAX_PROCESS_ATTEMPTS
            ticket.status = TicketStatus.FAILED if give_up else TicketStatus.RECEIVED
            # The error's type only: its text may quote the helpdesk's answer; it is kept on the ticket instead.
            log.warning("ticket processing failed", extra={"ticket_id": ticket.id, "stage": "process",
                                                           "error": type(exc).__name__, "status": ticket.status,
                                                           "attempt": ticket.attempts})
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
    log.info("ticket decided", extra={
        "ticket_id": ticket.id, "source": ticket.source, "stage": "decide", "status": decision.status.value,
        "queue": decision.route.queue, "priority": decision.route.priority, "label": decision.label,
        "confidence": round(decision.prediction.confidence, 4),
        "model": f"{decision.prediction.model_name}@{decision.prediction.model_version}",
        **{f"{stage}_ms": round(ms, 3) for stage, ms in decision.timings_ms.items()}})


def _record(runtime: Runtime, session: Session, ticket: Ticket, decision: Decision,
            call: LLMCall | None = None) -> WritebackRow:
    """Add the prediction, the decision for the ticket's revision, its LLM call if any, and one write-back."""
    return _record_many(runtime, session, [ticket], [decision], [call])[0]


def _record_many(runtime: Runtime, session: Session, tickets: list[Ticket], decisions: list[Decision],
                 calls: list[LLMCall | None]) -> list[WritebackRow]:
    """_record for a batch: each kind of row is inserted for all tickets at once (three round trips, not 3 × N)."""
    predictions = [PredictionRow(
        ticket_id=ticket.id, model_name=d.prediction.model_name, model_version=d.prediction.model_version,
        label=d.prediction.label, confidence=d.prediction.confidence, latency_ms=d.prediction.latency_ms,
        top_k=[[lab, score] for lab, score in d.prediction.top_k],
    ) for ticket, d in zip(tickets, decisions, strict=True)]
    session.add_all(predictions)
    session.flush()
    rows = [DecisionRow(ticket_id=ticket.id, revision=ticket.revision, prediction_id=prediction.id,
                        queue=d.route.queue, priority=d.route.priority, status=d.status, rule=d.route.rule,
                        threshold=d.route.threshold, reason=d.explanation())
            for ticket, d, prediction in zip(tickets, decisions, predictions, strict=True)]
    session.add_all(rows)
    session.flush()
    writebacks = []
    for ticket, d, row, call in zip(tickets, decisions, rows, calls, strict=True):
        if call is not None:
            call.decision_id = row.id
            session.add(call)
        writebacks.append(WritebackRow(decision_id=row.id, target=runtime.helpdesk_for(ticket.source),
                                       status=WritebackStatus.PENDING, created_at=now_utc()))
        session.add_all(StageTiming(ticket_id=ticket.id, stage=stage, duration_ms=ms)
                        for stage, ms in d.timings_ms.items())
        ticket.status = TicketStatus.DECIDED
        ticket.processed_at = now_utc()
        ticket.last_error = None
    session.add_all(writebacks)
    return writebacks


def _shadow_predict(runtime: Runtime, session: Session, tickets: list[Ticket]) -> None:
    """Record the shadow model's predictions (role "shadow"): no decision, so never routed or written back."""
    model = runtime.shadow.get()
    if model is None:
        return
    try:
        predictions = model.predict([ticket_text(t.subject, t.body) for t in tickets], top_k=3)
    except Exception:  # a failing candidate must never cost a ticket its decision
        log.exception("shadow model %s@%s failed; tickets decided without shadow predictions",
                      model.name, model.version, extra={"ticket_ids": [t.id for t in tickets], "stage": "shadow"})
        return
    for ticket, p in zip(tickets, predictions, strict=True):
        session.add(PredictionRow(ticket_id=ticket.id, model_name=p.model_name, model_version=p.model_version,
                                  label=p.label, confidence=p.confidence, latency_ms=p.latency_ms,
                                  top_k=[[lab, score] for lab, score in p.top_k], role="shadow"))


def _hydrate(runtime: Runtime, ticket: Ticket) -> None:
    """Fill in a ticket whose webhook carried only its id, from the helpdesk's API."""
    fetched = runtime.integrations.get(ticket.source).fetch_ticket(ticket.external_id)
    ticket.subject, ticket.body = fetched.subject, fetched.body
    ticket.requester = fetched.requester or ticket.requester
    ticket.tags = list(fetched.tags) or ticket.tags
    ticket.meta = {**ticket.meta, **fetched.metadata}
    ticket.created_at = ticket.created_at or fetched.created_at
    ticket.needs_fetch = False


def escalate(runtime: Runtime, session: Session, ticket: Ticket, decision: Decision
             ) -> tuple[Decision, LLMCall | None]:
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
    decision = replace(decision, timings_ms={**decision.timings_ms,
                                             "escalate": (time.perf_counter() - started) * 1000})
    call = LLMCall(ticket_id=ticket.id, model=answer.model, redacted_text=redaction.text, redactions=redaction.counts,
                   label=answer.label, confidence=answer.confidence, reason=answer.reason, branch=outcome.branch,
                   tokens_in=answer.tokens_in, tokens_out=answer.tokens_out, latency_ms=answer.latency_ms,
                   cost=answer.cost, created_at=now_utc())
    if outcome.label is None:
        return _why(decision, f"escalated: {outcome.why}", llm=call), call
    chosen = Prediction(label=outcome.label, confidence=answer.confidence or decision.prediction.confidence,
                        top_k=decision.prediction.top_k, model_name=decision.prediction.model_name,
                        model_version=decision.prediction.model_version)
    _, route, _ = runtime.rules.route(chosen, text=ticket_text(ticket.subject, ticket.body), metadata=ticket.meta,
                                      tags=ticket.tags)
    settled = Decision(status=DecisionStatus.ESCALATED, route=route, prediction=decision.prediction,
                       reason=f"escalated: {outcome.why}", llm_label=outcome.label, timings_ms=decision.timings_ms)
    return _why(settled, settled.reason, llm=call), call


def _why(decision: Decision, reason: str, llm: LLMCall | None = None) -> Decision:
    extra = {} if llm is None else {"llm": {"label": llm.label, "confidence": llm.confidence, "reason": llm.reason,
                                            "branch": llm.branch, "model": llm.model,
                                            "redacted_text": llm.redacted_text}}
    return replace(decision, reason=reason, extra={**decision.extra, **extra})


def over_budget(runtime: Runtime, session: Session) -> str | None:
    """Whether the LLM budget (calls per rolling hour, spend per UTC day) is used up, shared by all workers."""
    now = now_utc()
    calls, _ = store.llm_usage(session=session, since=now - timedelta(hours=1))
    if calls >= runtime.settings.llm_max_calls_per_hour:
        return f"{calls} calls in the last hour"
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _, spend = store.llm_usage(session=session, since=midnight)
    if spend >= runtime.settings.llm_max_spend_per_day:
        return f"spent {spend:.2f} today"
    return None


def decide(runtime: Runtime, ticket: Ticket) -> Decision:
    """Run the pipeline over one stored ticket; pure with respect to the database."""
    return decide_many(runtime, [ticket])[0]


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
        decisions.append(Decision(status=status, route=route, prediction=prediction, reason=why,
                                  timings_ms={"classify": classify_ms, "route": route_ms}))
    return decisions


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
    ticket = wb.decision.ticket
    request = writeback_request(session, wb)
    helpdesk = runtime.integrations.get(wb.target)
    wait = max((runtime.limiter.acquire(limit) for limit in helpdesk.rate_limits(request)), default=0.0)
    if wait > 0:
        # Our own throttle, not a failure: the attempt is given back and the call waits for a free slot.
        wb.attempts -= 1
        wb.status = WritebackStatus.RETRYING
        wb.next_attempt_at = now_utc() + timedelta(seconds=wait)
        session.commit()
        return Delivery("throttled", retry_in=wait)
    ids = {"writeback_id": wb.id, "ticket_id": ticket.id, "target": wb.target, "kind": wb.kind,
           "stage": "writeback", "attempt": wb.attempts}
    started = time.perf_counter()
    try:
        helpdesk.write_back(request)
    except IntegrationError as exc:
        took = _timed(session, ticket.id, "writeback", started)
        wb.last_error = str(exc)[:2000]
        if exc.retry_after is not None and not exc.permanent:
            # A 429 that says when to come back is the helpdesk pacing us, like our own limiter above: it gives
            # the attempt back, so a rate-limit storm neither fails write-backs for good nor lengthens the backoff
            # of a real failure after it. At least 1 s, so "Retry-After: 0" cannot spin.
            wb.attempts -= 1
            wb.status = WritebackStatus.RETRYING
            wb.next_attempt_at = now_utc() + timedelta(seconds=max(exc.retry_after, 1.0))
            session.commit()
            return Delivery("throttled", retry_in=max(exc.retry_after, 1.0))
        if exc.permanent or wb.attempts >= runtime.settings.writeback_max_attempts:
            wb.status = WritebackStatus.FAILED
            session.commit()
            log.warning("write-back %s failed for good after %s attempt(s)", wb.id, wb.attempts,
                        extra={**ids, "duration_ms": took, "error": str(exc)[:300]})
            return Delivery("failed")
        delay = min(runtime.settings.writeback_backoff_s * 2 ** (wb.attempts - 1), MAX_BACKOFF_S)
        wb.status = WritebackStatus.RETRYING
        wb.next_attempt_at = now_utc() + timedelta(seconds=delay)
        session.commit()
        log.info("write-back will be retried", extra={**ids, "duration_ms": took, "retry_in_s": delay,
                                                       "error": str(exc)[:300]})
        return Delivery("retrying", retry_in=delay)
    took = _timed(session, ticket.id, "writeback", started)
    wb.status = WritebackStatus.DONE
    wb.done_at = now_utc()
    wb.last_error = None
    try:
        session.commit()
    except Exception as exc:
        if not unavailable(exc):
            raise
        session.rollback()
        # The helpdesk has it but the database went away before it was told: left "sending", the sweep would
        # send it again once the lease ran out. Keep trying to record it until then.
        _record_done(runtime, writeback_id)
    log.info("write-back delivered", extra={**ids, "duration_ms": took})
    return Delivery("done")


def _timed(session: Session, ticket_id: int, stage: str, started: float) -> float:
    """Store how long a stage has taken since `started` (for /metrics) and return it in milliseconds."""
    took = round((time.perf_counter() - started) * 1000, 3)
    session.add(StageTiming(ticket_id=ticket_id, stage=stage, duration_ms=took))
    return took


def _record_done(runtime: Runtime, writeback_id: int) -> None:
    """Mark a delivered write-back done on fresh connections, while the database comes back, up to one lease."""
    deadline = time.monotonic() + runtime.settings.claim_lease_s
    delay = 0.25
    while True:
        try:
            with runtime.db.session() as session:
                store.mark_writeback_done(session=session, writeback_id=writeback_id, now=now_utc())
                session.commit()
            return
        except Exception as exc:
            if not unavailable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("write-back %s was delivered but the database is unavailable; recording it in %.1f s",
                        writeback_id, delay, extra={"writeback_id": writeback_id})
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def writeback_request(session: Session, wb: WritebackRow) -> WritebackRequest:
    """What one write-back applies: always the ticket's current routing, with the note of its own kind."""
    decision = wb.decision
    # The newest review wins even when an older write-back is delivered after it (retries reorder them).
    latest = store.latest_feedback(session=session, decision_ids=[decision.id]).get(decision.id)
    routing = current_routing(decision, latest)
    if wb.kind == "review" and latest is not None:
        note, tag = render_review_note(latest), "triage_reviewed"
    elif wb.kind == "reply" and wb.draft is not None:
        note, tag = render_reply_note(wb.draft), "triage_reply_approved"
    else:
        note, tag = render_note(decision.reason), f"triage_{decision.status}"
        draft = store.draft_for(session=session, decision_id=decision.id)
        if draft is not None:
            note += f"\n\nDraft reply (not sent; an agent approves it in Triage):\n{draft.text}"
    return WritebackRequest(
        writeback_id=wb.id, ticket_external_id=decision.ticket.external_id, queue=routing.queue,
        priority=routing.priority, label=routing.label, status=decision.status,  # type: ignore[arg-type]
        note=note, tags=(f"triage_{routing.queue}", tag),
    )


def draft_reply(runtime: Runtime, session: Session, writeback_id: int) -> DraftRow | None:
    """Draft the reply for the decision behind a write-back (once), so its internal note carries the draft."""
    wb = session.get(WritebackRow, writeback_id)
    drafter = runtime.drafter() if wb is not None and wb.kind == "decision" else None
    if wb is None or drafter is None:
        return None
    decision = wb.decision
    existing = store.draft_for(session=session, decision_id=decision.id)
    if existing is not None:
        return existing
    ticket = decision.ticket
    started = time.perf_counter()
    result = drafter.draft(ticket_id=ticket.external_id, requester=ticket.requester, subject=ticket.subject,
                           body=ticket.body, queue=decision.queue, label=decision.label)
    took = _timed(session, ticket.id, "draft", started)
    draft = propose_draft(session, decision_id=decision.id, text=result.text, source=result.source)
    draft.generated, draft.guard, draft.detail = result.generated, result.guard, result.detail or None
    draft.generation_ms = round(result.generation_s * 1000, 1) if result.tokens else None
    if decision.queue in runtime.settings.auto_send_queue_names and draft.status == "proposed":
        # An operator chose to skip approval for this queue: the draft goes out as the reply.
        draft.status, draft.reviewed_at = "approved", now_utc()
        session.add(WritebackRow(decision_id=decision.id, target=wb.target, kind="reply", draft_id=draft.id,
                                 status=WritebackStatus.PENDING, created_at=now_utc()))
    session.commit()
    log.info("reply drafted", extra={"ticket_id": ticket.id, "decision_id": decision.id, "draft_id": draft.id,
                                     "stage": "draft", "draft_source": result.source, "guard": result.guard,
                                     "duration_ms": took})
    return draft


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


# The review page: users, agents' verdicts on decisions, reply drafts, feedback export and the dashboard.

ROLES = ("agent", "admin")
MIN_PASSWORD_CHARS = 12
MAX_FAILED_LOGINS = 10
LOCKOUT = timedelta(minutes=15)
MAX_REPLY_CHARS = 20_000
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


class ReviewError(Exception):
    """An action from the review page cannot be applied; the message says what to do instead."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back without their zone; they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def create_user(session: Session, *, username: str, password: str, role: str) -> User:
    """Add a user who can sign in to the review page."""
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise ReviewError("a username is 1 to 64 lower-case letters, digits and . _ @ -, starting with a letter "
                          "or digit")
    if role not in ROLES:
        raise ReviewError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ReviewError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if store.find_user(session=session, username=username) is not None:
        raise ReviewError(f"user {username!r} already exists", status=409)
    user = User(username=username, password_hash=generate_password_hash(password), role=role, active=True,
                session_token=secrets.token_urlsafe(32), failed_logins=0, created_at=now_utc())
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ReviewError(f"user {username!r} already exists", status=409) from None
    return user


_DUMMY_HASH: list[str] = []


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The user if the password is right and the account may sign in; failures count towards a lockout."""
    now = now_utc()
    user = store.find_user(session=session, username=username.strip().lower())
    if user is None:
        # Hash anyway, so the answer takes as long as for a real user and does not reveal who exists.
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(generate_password_hash(secrets.token_urlsafe(16)))
        check_password_hash(_DUMMY_HASH[0], password)
        return None
    locked_until = _aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        return None
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
            log.warning("user %s locked for %s after repeated failed sign-ins", user.id, LOCKOUT,
                        extra={"user_id": user.id})
        session.commit()
        return None
    if not user.active:
        return None
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    session.commit()
    return user


def set_user_active(session: Session, *, user_id: int, active: bool, by_user_id: int) -> User:
    """Let a user sign in again, or stop them; stopping also ends their open sessions."""
    user = session.get(User, user_id)
    if user is None:
        raise ReviewError(f"no user {user_id}", status=404)
    if user.id == by_user_id and not active:
        raise ReviewError("you cannot deactivate yourself; ask another admin")
    user.active = active
    if not active:
        user.session_token = secrets.token_urlsafe(32)
    session.commit()
    return user


@dataclass(frozen=True)
class Routing:
    """Label, queue and priority of a ticket as it stands: the decision's, or the latest review's."""

    label: str
    queue: str
    priority: str


def current_routing(decision: DecisionRow, latest: Feedback | None) -> Routing:
    if latest is not None:
        return Routing(latest.to_label, latest.to_queue, latest.to_priority)
    return Routing(decision.label, decision.queue, decision.priority)


def text_sha256(ticket: Ticket) -> str:
    """Fingerprint of the text a model and an agent see, to tie feedback to one version of it."""
    return hashlib.sha256(ticket_text(ticket.subject, ticket.body).encode()).hexdigest()


@dataclass(frozen=True)
class Choices:
    """What an agent may choose when correcting: labels (with the queue each routes to), queues, priorities."""

    labels: dict[str, str]
    queues: list[str]
    priorities: list[str]


def review_choices(runtime: Runtime, session: Session) -> Choices:
    rules = runtime.rules
    labels = dict.fromkeys(store.distinct_values(session=session, column=PredictionRow.label), rules.default.name)
    labels.update(rules.label_queue)
    return Choices(labels=dict(sorted(labels.items(), key=lambda kv: kv[0].lower())),
                   queues=sorted(rules.queues), priorities=list(rules.priorities))


def _decision_under_review(session: Session, ticket_id: int, decision_id: int) -> tuple[Ticket, DecisionRow]:
    """The ticket and its latest decision, if that is still the one the agent's page showed."""
    ticket = store.get_ticket(session=session, ticket_id=ticket_id)
    if ticket is None:
        raise ReviewError(f"no ticket {ticket_id}", status=404)
    decision = ticket.decision
    if decision is None or decision.id != decision_id or decision.revision != ticket.revision:
        raise ReviewError("this ticket changed and was routed again since the page was loaded; reload it and "
                          "review the new decision", status=409)
    return ticket, decision


@dataclass(frozen=True)
class Verdict:
    """An agent's review as stored: the feedback row, whether it changed anything, and its write-back."""

    feedback_id: int
    kind: str
    writeback_id: int


def review_ticket(runtime: Runtime, session: Session, *, ticket_id: int, decision_id: int, user_id: int,
                  label: str | None = None, queue: str | None = None, priority: str | None = None) -> Verdict:
    """Accept (nothing given) or correct a decision: store feedback, queue a write-back of the result."""
    ticket, decision = _decision_under_review(session, ticket_id, decision_id)
    before = current_routing(decision, store.latest_feedback(session=session, decision_ids=[decision.id])
                             .get(decision.id))
    after = Routing(label or before.label, queue or before.queue, priority or before.priority)
    choices = review_choices(runtime, session)
    if after.label != before.label and after.label not in choices.labels:
        raise ReviewError(f"{after.label!r} is not a label Triage knows; pick one from the list")
    if after.queue != before.queue and after.queue not in choices.queues:
        raise ReviewError(f"{after.queue!r} is not a queue in the routing rules")
    if after.priority != before.priority and after.priority not in choices.priorities:
        raise ReviewError(f"priority must be one of {', '.join(choices.priorities)}")
    now = now_utc()
    feedback = Feedback(
        ticket_id=ticket.id, decision_id=decision.id, user_id=user_id,
        kind="accepted" if after == before else "corrected",
        from_label=before.label, to_label=after.label, from_queue=before.queue, to_queue=after.queue,
        from_priority=before.priority, to_priority=after.priority,
        ticket_revision=ticket.revision, text_sha256=text_sha256(ticket), created_at=now,
    )
    session.add(feedback)
    session.flush()
    writeback = WritebackRow(decision_id=decision.id, target=runtime.helpdesk_for(ticket.source), kind="review",
                             feedback_id=feedback.id, status=WritebackStatus.PENDING, created_at=now)
    session.add(writeback)
    session.commit()
    return Verdict(feedback_id=feedback.id, kind=feedback.kind, writeback_id=writeback.id)


def render_review_note(feedback: Feedback) -> str:
    """The internal note that tells helpdesk agents what a Triage reviewer decided."""
    if feedback.kind == "accepted":
        change = f"accepted label {feedback.to_label}, queue {feedback.to_queue}, priority {feedback.to_priority}"
    else:
        parts = [f"{name} {old} -> {new}" for name, old, new in (
            ("label", feedback.from_label, feedback.to_label), ("queue", feedback.from_queue, feedback.to_queue),
            ("priority", feedback.from_priority, feedback.to_priority)) if old != new]
        change = "corrected " + "; ".join(parts)
    return f"Triage review by {feedback.user.username}: {change}."


def render_reply_note(draft: DraftRow) -> str:
    # The Helpdesk port has no public-reply call yet, so the approved reply travels as the internal note.
    who = draft.reviewed_by.username if draft.reviewed_by else "an agent"
    return f"Triage: reply approved by {who}; send it to the requester:\n\n{draft.text}"


def _reply_text(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()
    if len(text) > MAX_REPLY_CHARS:
        raise ReviewError(f"a reply may have at most {MAX_REPLY_CHARS:,} characters; this one has {len(text):,}")
    return text


def propose_draft(session: Session, *, decision_id: int, text: str, source: str) -> DraftRow:
    """Store the reply a drafter proposes for a decision; a decision keeps its first proposal."""
    existing = store.draft_for(session=session, decision_id=decision_id)
    if existing is not None:
        return existing
    decision = session.get(DecisionRow, decision_id)
    if decision is None:
        raise ReviewError(f"no decision {decision_id}", status=404)
    text = _reply_text(text)
    draft = DraftRow(ticket_id=decision.ticket_id, decision_id=decision_id, text=text, original_text=text,
                     source=source, status="proposed", version=1, created_at=now_utc())
    session.add(draft)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        found = store.draft_for(session=session, decision_id=decision_id)
        assert found is not None
        return found
    return draft


def _write_draft(session: Session, decision: DecisionRow, *, user_id: int, text: str, version: int,
                 status: str) -> DraftRow:
    """Create or change the draft of a decision if nobody changed it since `version` was read."""
    now = now_utc()
    draft = store.draft_for(session=session, decision_id=decision.id)
    reviewed = {"reviewed_by_id": user_id, "reviewed_at": now} if status != "proposed" else {}
    if draft is None:
        if version != 0:
            raise ReviewError("this draft is gone; reload the ticket", status=409)
        draft = DraftRow(ticket_id=decision.ticket_id, decision_id=decision.id, text=text, original_text=text,
                         source="agent", status=status, version=1, edited_by_id=user_id, edited_at=now,
                         created_at=now, **reviewed)
        session.add(draft)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise ReviewError("someone else started a draft for this ticket meanwhile; reload to see it",
                              status=409) from None
        return draft
    values = {"status": status, **reviewed}
    if text != draft.text:
        values.update(text=text, edited_by_id=user_id, edited_at=now)
    if not store.update_draft(session=session, draft_id=draft.id, version=version, values=values):
        session.rollback()
        raise ReviewError("someone else changed or sent this draft since you opened it; reload to see their "
                          "version", status=409)
    session.refresh(draft)
    return draft


def save_draft(session: Session, *, ticket_id: int, decision_id: int, user_id: int, text: str,
               version: int) -> DraftRow:
    """Keep an agent's edit of the reply (re-opening a rejected draft)."""
    _, decision = _decision_under_review(session, ticket_id, decision_id)
    text = _reply_text(text)
    if not text:
        raise ReviewError("the reply is empty; write something before saving, or reject the draft")
    draft = _write_draft(session, decision, user_id=user_id, text=text, version=version, status="proposed")
    session.commit()
    return draft


def approve_draft(runtime: Runtime, session: Session, *, ticket_id: int, decision_id: int, user_id: int, text: str,
                  version: int) -> int:
    """Approve the reply as the agent left it and queue its write-back; return the write-back id."""
    ticket, decision = _decision_under_review(session, ticket_id, decision_id)
    text = _reply_text(text)
    if not text:
        raise ReviewError("the reply is empty; write it before approving")
    draft = _write_draft(session, decision, user_id=user_id, text=text, version=version, status="approved")
    writeback = WritebackRow(decision_id=decision.id, target=runtime.helpdesk_for(ticket.source), kind="reply",
                             draft_id=draft.id, status=WritebackStatus.PENDING, created_at=now_utc())
    session.add(writeback)
    session.commit()
    return writeback.id


def reject_draft(session: Session, *, ticket_id: int, decision_id: int, user_id: int, version: int) -> DraftRow:
    """Mark the proposed reply as not fit to send; an agent may still write their own."""
    _, decision = _decision_under_review(session, ticket_id, decision_id)
    draft = store.draft_for(session=session, decision_id=decision.id)
    if draft is None:
        raise ReviewError("there is no draft to reject", status=409)
    draft = _write_draft(session, decision, user_id=user_id, text=draft.text, version=version, status="rejected")
    session.commit()
    return draft


@dataclass(frozen=True)
class FeedbackExample:
    """One reviewed ticket as a labelled training example, with where it came from."""

    text: str
    label: str
    kind: str
    source_id: str
    ticket_id: int
    revision: int
    text_sha256: str
    created_at: datetime  # when the ticket was opened (time-based splits), not when it was reviewed
    reviewed_at: datetime


def feedback_examples(session: Session, *, corrections_only: bool = False) -> tuple[list[FeedbackExample], int]:
    """Agents' latest verdicts as (text, label) examples, and how many were skipped because the text changed."""
    examples: dict[tuple[int, str], FeedbackExample] = {}
    stale = 0
    for fb in store.feedback_for_export(session=session, corrections_only=corrections_only):
        text = ticket_text(fb.ticket.subject, fb.ticket.body)
        if hashlib.sha256(text.encode()).hexdigest() != fb.text_sha256:
            stale += 1  # the agent judged an earlier text, which is no longer stored
            continue
        # Rows come oldest first: a later verdict on the same text replaces an earlier one.
        examples[(fb.ticket_id, fb.text_sha256)] = FeedbackExample(
            text=text, label=fb.to_label, kind=fb.kind, source_id=f"{fb.ticket.source}:{fb.ticket.external_id}",
            ticket_id=fb.ticket_id, revision=fb.ticket_revision, text_sha256=fb.text_sha256,
            created_at=_aware(fb.ticket.created_at or fb.ticket.received_at) or fb.ticket.received_at,
            reviewed_at=_aware(fb.created_at) or fb.created_at)
    return list(examples.values()), stale


@dataclass(frozen=True)
class Dashboard:
    """The numbers and series the dashboard shows for the last `days` days."""

    days: int
    decided: int
    by_status: dict[str, int]
    reviewed: int
    label_kept: int
    routing_kept: int
    volume: list[tuple[str, str, int]]
    histogram: list[tuple[int, str, int]]
    models_used: list[tuple[str, str, int]]
    writebacks: dict[str, int]
    model_in_service: str | None
    model_problem: str | None
    # None when no LLM is configured and none was ever called.
    llm_cost_per_1000: float | None = None
    # None when no model is in service.
    drift: DriftReport | None = None
    # The version running in shadow and how it compared; None when none is.
    shadow_model: str | None = None
    shadow: store.ShadowOutcomes | None = None

    def share(self, status: str) -> float | None:
        return self.by_status.get(status, 0) / self.decided if self.decided else None

    @property
    def label_accuracy(self) -> float | None:
        return self.label_kept / self.reviewed if self.reviewed else None

    @property
    def routing_accuracy(self) -> float | None:
        return self.routing_kept / self.reviewed if self.reviewed else None


def dashboard(runtime: Runtime, session: Session, *, days: int) -> Dashboard:
    since = now_utc() - timedelta(days=days)
    by_status = store.decision_counts(session=session, since=since)
    reviewed, label_kept, routing_kept = store.reviewed_outcomes(session=session, since=since)
    try:
        directory = current_version_dir(runtime.settings.models_dir, runtime.settings.model_name)
        model, problem = f"{runtime.settings.model_name}@{directory.name}", None
    except ModelCardError as exc:
        model, problem = None, str(exc)
    return Dashboard(
        days=days, decided=sum(by_status.values()), by_status=by_status, reviewed=reviewed, label_kept=label_kept,
        routing_kept=routing_kept, volume=store.daily_queue_volume(session=session, since=since),
        histogram=store.confidence_histogram(session=session, since=since),
        models_used=store.model_versions_used(session=session, since=since),
        writebacks=store.count_by(session=session, column=WritebackRow.status),
        model_in_service=model, model_problem=problem,
        llm_cost_per_1000=_llm_cost_per_1000(runtime, session, since),
        drift=drift(runtime, session),
        **_shadow_stats(runtime, session, since),
    )


def _shadow_stats(runtime: Runtime, session: Session, since: datetime) -> dict[str, object]:
    directory = shadow_version_dir(runtime.settings.models_dir, runtime.settings.model_name)
    if directory is None:
        return {}
    return {"shadow_model": f"{runtime.settings.model_name}@{directory.name}",
            "shadow": store.shadow_outcomes(session=session, model_version=directory.name, since=since)}


def drift(runtime: Runtime, session: Session, *, now: datetime | None = None) -> DriftReport | None:
    """How far the model in service's recent predictions moved from its training data; None without a model."""
    settings = runtime.settings
    try:
        directory = current_version_dir(settings.models_dir, settings.model_name)
        metrics = card_metrics(directory)
    except ModelCardError:
        return None
    since = (now or now_utc()) - timedelta(days=settings.drift_window_days)
    labels, confidences = store.live_predictions(session=session, model_name=settings.model_name,
                                                 model_version=directory.name, since=since)
    return drift_report(metrics, model_name=settings.model_name, model_version=directory.name, labels=labels,
                        confidences=confidences, threshold=settings.drift_psi_threshold,
                        min_n=settings.drift_min_predictions)


def _llm_cost_per_1000(runtime: Runtime, session: Session, since: datetime) -> float | None:
    stats = store.llm_stats(session=session, since=since)
    if runtime.llm is None and not stats["llm_calls"]:
        return None
    return float(stats["cost_per_1000_tickets"] or 0.0)


def retrain(runtime: Runtime, session: Session) -> dict[str, object]:
    """Scheduled retraining: review feedback (+ TRIAGE_RETRAIN_DATA) -> candidate -> gate -> promote if it passes."""
    from service.retrain import retrain as run

    settings = runtime.settings
    examples, _ = feedback_examples(session)
    session.rollback()  # release the read transaction: training takes minutes
    return run(models_dir=settings.models_dir, name=settings.model_name,
               examples=[(e.text, e.label) for e in examples],
               data=Path(settings.retrain_data) if settings.retrain_data else None,
               holdout=Path(settings.retrain_holdout))
