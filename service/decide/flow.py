"""Use cases of deciding: claim tickets, fetch their text, classify, route, escalate, record."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.clock import aware, now_utc
from service.core.domain import (
    Decision,
    DecisionStatus,
    TicketStatus,
    WritebackStatus,
)
from service.core.ports import IntegrationError
from service.decide.held import Held, keep_held
from service.decide.language import detect_all, explained, model_languages
from service.decide.normalize import model_text, ticket_text
from service.decide.priority import kept_priority, predict_priorities, with_priority
from service.decide.queries import (
    claim_tickets,
    claim_waiting,
    extend_claims,
    failed_ticket_ids,
    release_claims,
    requeue_failed,
    settle_claims,
    stalled_ticket_ids,
)
from service.decide.shadow import shadow_predict
from service.decide.similar import store_vectors, with_similar
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
MAX_FETCH_BACKOFF_S = 600.0


def process_tickets(runtime: Runtime, session: Session, ticket_ids: Sequence[int], *, batch_size: int = 1) -> list[int]:
    """Classify and route tickets exactly once, topped up to batch_size with others that are waiting.

    Tickets that arrive together are classified in one model call (grouped by length inside the model).
    Each is claimed by a conditional UPDATE under a token of this call, so a ticket already claimed elsewhere is
    skipped and the tasks of the companions become no-ops; a decision is stored only if the claim still holds
    the revision it read. A ticket whose text cannot be fetched is handled alone. Returns the ids of the
    write-backs to deliver.
    """
    now = now_utc()
    token = secrets.token_hex(16)
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    claimed = claim_tickets(session=session, ticket_ids=ticket_ids, now=now, stale_before=stale, token=token)
    if not claimed:
        session.rollback()
        return []
    session.commit()
    tickets = [t for t in get_tickets(session=session, ticket_ids=claimed) if _fetched(runtime, session, t, token)]
    session.commit()
    if batch_size > len(tickets):
        tickets += claim_waiting(session=session, limit=batch_size - len(tickets), now=now, token=token)
        session.commit()
    if not tickets:
        return []
    # The revision each claim read: a decision is kept only for it (an update meanwhile makes a new one).
    claims = [(t.id, t.revision) for t in tickets]
    try:
        decisions = decide_many(runtime, tickets)
        asked = _escalate_all(runtime, session, tickets, decisions, token)
        # An LLM's re-route builds a new route from the rules: the model's priority is combined into it again.
        scale = runtime.rules.priorities
        decisions = [kept_priority(before, after, scale) for before, (after, _) in zip(decisions, asked, strict=True)]
        # Needs the database (earlier tickets), so it sits beside decide_many rather than in it; last, so the
        # near-duplicate note joins the final reason.
        decisions = with_similar(runtime, session, tickets, decisions)
    except Exception as exc:
        session.rollback()
        _give_back(runtime, session, tickets, claims, token, exc)
        raise
    return _record_settled(runtime, session, tickets, claims, token, decisions, [call for _, call in asked])


def stalled_tickets(runtime: Runtime, session: Session, *, now: datetime) -> list[int]:
    """Tickets the sweep must enqueue: never enqueued or lost (past a grace), due again, or left by a dead worker."""
    grace = now - timedelta(seconds=min(30, runtime.settings.sweep_interval_s))
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    return stalled_ticket_ids(session=session, received_before=grace, stale_before=stale, now=now)


def retry_failed_tickets(session: Session, *, ticket_ids: Sequence[int] = (), source: str | None = None) -> list[int]:
    """Put failed tickets back in line (an operator's action once the cause is fixed); the ids requeued."""
    ids = requeue_failed(
        session=session, ticket_ids=failed_ticket_ids(session=session, ticket_ids=ticket_ids, source=source)
    )
    session.commit()
    return ids


def deferred_tickets(session: Session, ticket_ids: Sequence[int]) -> list[tuple[int, float]]:
    """Those of the tickets that wait for a retry time (a 429 or an outage on fetch), with seconds until then."""
    now = now_utc()
    rows = session.execute(
        select(Ticket.id, Ticket.retry_at).where(
            Ticket.id.in_(ticket_ids), Ticket.status == TicketStatus.RECEIVED, Ticket.retry_at.is_not(None)
        )
    ).all()
    return [(ticket_id, max(0.0, ((aware(at) or now) - now).total_seconds())) for ticket_id, at in rows]


def tickets_in(session: Session, status: str) -> list[Ticket]:
    """Every ticket in one status, oldest first (for operators)."""
    return list(session.scalars(select(Ticket).where(Ticket.status == status).order_by(Ticket.id)))


def _escalate_all(
    runtime: Runtime, session: Session, tickets: list[Ticket], decisions: list[Decision], token: str
) -> list[tuple[Decision, LLMCall | None]]:
    """Ask the LLM about the unsure tickets one by one, renewing the batch's lease before each call."""
    asked = []
    for ticket, decision in zip(tickets, decisions, strict=True):
        if runtime.llm is not None and decision.status == DecisionStatus.NEEDS_REVIEW:
            # An LLM call may take many seconds: without a renewed lease a slow batch is handed out again
            # and the LLM paid twice.
            extend_claims(session=session, ticket_ids=[t.id for t in tickets], token=token, now=now_utc())
            session.commit()
        asked.append(escalate(runtime, session, ticket, decision))
    return asked


def _record_settled(
    runtime: Runtime,
    session: Session,
    tickets: list[Ticket],
    claims: list[tuple[int, int]],
    token: str,
    decisions: list[Decision],
    calls: list[LLMCall | None],
) -> list[int]:
    """Store the decisions of the tickets this claim still holds at the revision it read; drop the rest."""
    try:
        settled = settle_claims(session=session, claims=claims, token=token, now=now_utc())
        kept = [i for i, ticket in enumerate(tickets) if ticket.id in settled]
        _log_superseded([t for t in tickets if t.id not in settled])
        rows = _record_many(
            runtime, session, [tickets[i] for i in kept], [decisions[i] for i in kept], [calls[i] for i in kept]
        )
        shadow_predict(runtime, session, [tickets[i] for i in kept])
        session.commit()
        for i in kept:
            _log_decided(tickets[i], decisions[i])
        return [wb.id for wb in rows]
    except IntegrityError:
        session.rollback()
    # Someone decided one of these revisions meanwhile (a stale claim raced a slow worker): keep theirs, save the
    # rest, and mark the ticket decided either way, since its revision has a decision.
    saved = []
    for (ticket_id, revision), ticket, decision, call in zip(claims, tickets, decisions, calls, strict=True):
        try:
            if settle_claims(session=session, claims=[(ticket_id, revision)], token=token, now=now_utc()):
                [writeback] = _record_many(runtime, session, [ticket], [decision], [call and session.merge(call)])
                session.commit()
                saved.append(writeback.id)
                _log_decided(ticket, decision)
        except IntegrityError:
            session.rollback()
            settle_claims(session=session, claims=[(ticket_id, revision)], token=token, now=now_utc())
            session.commit()
    return saved


def _log_superseded(tickets: list[Ticket]) -> None:
    for ticket in tickets:
        log.info(
            "decision dropped: the ticket changed or was taken over while it was being decided",
            extra={"ticket_id": ticket.id, "stage": "decide"},
        )


def _fetched(runtime: Runtime, session: Session, ticket: Ticket, token: str) -> bool:
    """Fetch the text of a ticket whose webhook carried only its id; on failure defer or fail it alone."""
    if not ticket.needs_fetch:
        return True
    claim = [(ticket.id, ticket.revision)]
    try:
        _hydrate(runtime, ticket)
        return True
    except IntegrationError as exc:
        error, permanent, wait = f"fetch: {exc}", exc.permanent, exc.retry_after
    except Exception as exc:  # a bug or an unexpected answer: retried like an outage, until the give-up time
        log.exception("fetching ticket %s failed unexpectedly", ticket.id, extra={"ticket_id": ticket.id})
        error, permanent, wait = f"fetch: {type(exc).__name__}: {exc}", False, None
    session.rollback()
    now = now_utc()
    if not permanent and not _past_give_up(runtime, ticket, now):
        # A 429 says when to come back; an outage backs off. Neither counts towards giving up: only time does.
        delay = wait if wait is not None else runtime.settings.fetch_backoff_s * 2 ** min(ticket.attempts - 1, 10)
        retry_at = now + timedelta(seconds=max(1.0, min(delay, MAX_FETCH_BACKOFF_S)))
        release_claims(
            session=session, claims=claim, token=token, status=TicketStatus.RECEIVED, error=error, retry_at=retry_at
        )
        status = TicketStatus.RECEIVED
    else:
        if not permanent:
            error = f"gave up after {runtime.settings.process_give_up_s} s: {error}"
        release_claims(session=session, claims=claim, token=token, status=TicketStatus.FAILED, error=error)
        status = TicketStatus.FAILED
    session.commit()
    # The error's type only: its text may quote the helpdesk's answer; it is kept on the ticket instead.
    log.warning(
        "ticket text could not be fetched",
        extra={"ticket_id": ticket.id, "stage": "fetch", "status": status, "attempt": ticket.attempts},
    )
    return False


def _past_give_up(runtime: Runtime, ticket: Ticket, now: datetime) -> bool:
    received = aware(ticket.received_at) or now
    return (now - received).total_seconds() >= runtime.settings.process_give_up_s


def _give_back(
    runtime: Runtime, session: Session, tickets: list[Ticket], claims: list[tuple[int, int]], token: str, exc: Exception
) -> None:
    """After a failure of the whole batch (the model, the database): each ticket back in line, or failed for good
    once it has waited past the give-up time."""
    now = now_utc()
    error = f"{type(exc).__name__}: {exc}"
    permanent = isinstance(exc, IntegrationError) and exc.permanent
    for ticket, claim in zip(tickets, claims, strict=True):
        give_up = permanent or _past_give_up(runtime, ticket, now)
        status = TicketStatus.FAILED if give_up else TicketStatus.RECEIVED
        release_claims(session=session, claims=[claim], token=token, status=status, error=error)
        log.warning(
            "ticket processing failed",
            extra={
                "ticket_id": ticket.id,
                "stage": "process",
                "error": type(exc).__name__,
                "status": status,
                "attempt": ticket.attempts,
            },
        )
    session.commit()


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


def _record_many(
    runtime: Runtime, session: Session, tickets: list[Ticket], decisions: list[Decision], calls: list[LLMCall | None]
) -> list[WritebackRow]:
    """Add each ticket's prediction, the decision for its revision, its LLM call if any, and one write-back; each
    kind of row for all tickets at once (three round trips, not 3 × N). The tickets' status is settled apart."""
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
    store_vectors(session, tickets, decisions, on=runtime.settings.similar_tickets)
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
        ticket.language = d.extra.get("language")
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
    session.add_all(writebacks)
    return writebacks


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
    texts = [model_text(t.subject, t.body, t.source, t.meta) for t in tickets]
    model = runtime.models.get()
    started = time.perf_counter()
    # The routing file's promise, not the one the model was trained with, sets each label's threshold; a model
    # that answers approximately (int8) answers exactly the tickets near one.
    promised = model.thresholds(runtime.rules.target_precision, runtime.rules.groups())
    held_to = None if promised is None else runtime.rules.thresholds(model.labels, promised)
    # As many alternatives as the LLM may be offered (TRIAGE_LLM_TOP_K), and three at least for the explanation.
    predictions = model.predict(
        texts,
        top_k=max(3, runtime.settings.llm_top_k),
        thresholds=held_to,
        scope_quantile=runtime.rules.scope_quantile,
    )
    # One model call serves the whole batch: each ticket is charged its share.
    classify_ms = (time.perf_counter() - started) * 1000 / max(len(tickets), 1)
    answers, priority_ms = predict_priorities(runtime.priority, texts)
    # The ticket's own words, without the metadata the model reads beside them (a project key is no language).
    languages, language_ms = detect_all(runtime.language, [ticket_text(t.subject, t.body) for t in tickets])
    trained = model_languages(model)
    decisions = []
    for ticket, text, prediction, answer, language in zip(tickets, texts, predictions, answers, languages, strict=True):
        started = time.perf_counter()
        status, route, why = runtime.rules.route(
            prediction, text=text, metadata=ticket.meta, tags=ticket.tags, language=language, trained_languages=trained
        )
        route_ms = (time.perf_counter() - started) * 1000
        decision = Decision(
            status=status,
            route=route,
            prediction=prediction,
            reason=why,
            extra=explained(language, trained) if runtime.language is not None else {},  # off: nothing to say
            timings_ms={"classify": classify_ms, **language_ms, "route": route_ms},
        )
        # The model's priority first, which the rules may raise; then what a person set (review page, helpdesk),
        # which outlasts any automatic decision.
        decision = with_priority(decision, answer, runtime.rules.priorities, ms=priority_ms)
        decisions.append(keep_held(decision, Held.of(ticket.held)))
    return decisions
