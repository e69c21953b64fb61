"""Use cases of write-back: deliver each decision to its helpdesk exactly once, retry or fail visibly."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.domain import (
    DecisionStatus,
    WritebackRequest,
    WritebackStatus,
)
from service.core.ports import IntegrationError
from service.drafts.queries import draft_for
from service.infra.db import unavailable
from service.infra.models import (
    WritebackRow,
)
from service.infra.timings import timed
from service.review.queries import latest_feedback
from service.review.verdicts import current_routing
from service.runtime import NO_HELPDESK, NOT_WRITTEN_BACK, Runtime
from service.writeback.notes import render_note, render_reply_note, render_review_note
from service.writeback.queries import claim_writeback, due_writeback_ids, failed_writeback_ids, mark_writeback_done

log = logging.getLogger(__name__)


MAX_BACKOFF_S = 600.0


@dataclass(frozen=True)
class Delivery:
    """What happened to one write-back attempt; retry_in is set when it should be tried again."""

    outcome: str
    retry_in: float | None = None


def deliver_writeback(runtime: Runtime, session: Session, writeback_id: int) -> Delivery:
    """Send one write-back if it is due; record success, a scheduled retry, or a permanent failure."""
    now = now_utc()
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    if not claim_writeback(session=session, writeback_id=writeback_id, now=now, stale_before=stale):
        session.rollback()
        return Delivery("not_due")
    session.commit()
    wb = session.get(WritebackRow, writeback_id)
    assert wb is not None
    ticket = wb.decision.ticket
    if wb.target == NO_HELPDESK:
        wb.status, wb.last_error, wb.done_at = WritebackStatus.NOT_SENT, NOT_WRITTEN_BACK, now_utc()
        session.commit()
        return Delivery("not_sent")
    if wb.kind != "reply" and wb.decision.revision != ticket.revision:
        # The ticket was updated and routed again: this routing would overwrite the newer one in the helpdesk.
        # (An approved reply still goes out: an agent wrote it for this requester.)
        wb.status = WritebackStatus.SUPERSEDED
        wb.last_error = (
            f"superseded: the ticket is at revision {ticket.revision}, this is revision {wb.decision.revision}"
        )
        session.commit()
        return Delivery("superseded")
    request = writeback_request(session, wb, review_queue=runtime.rules.review_queue)
    helpdesk = runtime.integrations.helpdesk(wb.target)
    wait = max((runtime.limiter.acquire(limit) for limit in helpdesk.rate_limits(request)), default=0.0)
    if wait > 0:
        # Our own throttle, not a failure: the attempt is given back and the call waits for a free slot.
        wb.attempts -= 1
        wb.status = WritebackStatus.RETRYING
        wb.next_attempt_at = now_utc() + timedelta(seconds=wait)
        session.commit()
        return Delivery("throttled", retry_in=wait)
    ids = {
        "writeback_id": wb.id,
        "ticket_id": ticket.id,
        "target": wb.target,
        "kind": wb.kind,
        "stage": "writeback",
        "attempt": wb.attempts,
    }
    started = time.perf_counter()
    try:
        problem = helpdesk.external_id_problem(request.ticket_external_id)
        if problem is not None:
            raise IntegrationError(problem, permanent=True)
        if request.public_reply is not None:
            helpdesk.post_reply(request)
        else:
            helpdesk.write_back(request)
    except Exception as exc:
        if isinstance(exc, IntegrationError):
            failure = exc
        else:
            # Not an answer from the helpdesk (a bug, an unexpected value): retried a bounded number of times, so it
            # is never left "sending" to be resent every lease.
            log.exception("write-back %s raised unexpectedly", wb.id, extra=ids)
            failure = IntegrationError(f"{type(exc).__name__}: {exc}", permanent=False)
        took = timed(session, ticket.id, "writeback", started)
        wb.last_error = str(failure)[:2000]
        if failure.retry_after is not None and not failure.permanent:
            # A 429 that says when to come back is the helpdesk pacing us, like our own limiter above: it gives
            # the attempt back, so a rate-limit storm neither fails write-backs for good nor lengthens the backoff
            # of a real failure after it. At least 1 s, so "Retry-After: 0" cannot spin.
            wb.attempts -= 1
            wb.status = WritebackStatus.RETRYING
            wb.next_attempt_at = now_utc() + timedelta(seconds=max(failure.retry_after, 1.0))
            session.commit()
            return Delivery("throttled", retry_in=max(failure.retry_after, 1.0))
        if failure.permanent or wb.attempts >= runtime.settings.writeback_max_attempts:
            wb.status = WritebackStatus.FAILED
            session.commit()
            log.warning(
                "write-back %s failed for good after %s attempt(s)",
                wb.id,
                wb.attempts,
                extra={**ids, "duration_ms": took, "error": str(failure)[:300]},
            )
            return Delivery("failed")
        delay = min(runtime.settings.writeback_backoff_s * 2 ** (wb.attempts - 1), MAX_BACKOFF_S)
        wb.status = WritebackStatus.RETRYING
        wb.next_attempt_at = now_utc() + timedelta(seconds=delay)
        session.commit()
        log.info(
            "write-back will be retried",
            extra={**ids, "duration_ms": took, "retry_in_s": delay, "error": str(failure)[:300]},
        )
        return Delivery("retrying", retry_in=delay)
    took = timed(session, ticket.id, "writeback", started)
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


def _record_done(runtime: Runtime, writeback_id: int) -> None:
    """Mark a delivered write-back done on fresh connections, while the database comes back, up to one lease."""
    deadline = time.monotonic() + runtime.settings.claim_lease_s
    delay = 0.25
    while True:
        try:
            with runtime.db.session() as session:
                mark_writeback_done(session=session, writeback_id=writeback_id, now=now_utc())
                session.commit()
            return
        except Exception as exc:
            if not unavailable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "write-back %s was delivered but the database is unavailable; recording it in %.1f s",
                writeback_id,
                delay,
                extra={"writeback_id": writeback_id},
            )
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def writeback_request(session: Session, wb: WritebackRow, *, review_queue: str | None = None) -> WritebackRequest:
    """What one write-back applies: always the ticket's current routing, with the note of its own kind.

    A guess (below threshold, nobody has settled it yet) only tags the ticket for review and notes the top
    guesses: it never changes the group, label or priority, except to move it to the routing's review queue
    and to raise priority on the ticket's own evidence (a rule on its words, metadata or tags)."""
    decision = wb.decision
    # The newest review wins even when an older write-back is delivered after it (retries reorder them).
    latest = latest_feedback(session=session, decision_ids=[decision.id]).get(decision.id)
    routing = current_routing(decision, latest)
    queue: str | None = routing.queue
    priority: str | None = routing.priority
    label: str | None = routing.label
    reply = None
    if wb.kind == "review" and latest is not None:
        note, tag = render_review_note(latest), "triage_reviewed"
    elif wb.kind == "reply" and wb.draft is not None:
        note, tag, reply = render_reply_note(wb.draft), "triage_reply_approved", wb.draft.text
    else:
        note, tag = render_note(decision.reason), f"triage_{decision.status}"
        draft = draft_for(session=session, decision_id=decision.id)
        if draft is not None:
            note += f"\n\nDraft reply (not sent; an agent approves it in Triage):\n{draft.text}"
    if latest is None and decision.is_guess:
        queue, priority, label = review_queue, decision.reason.get("evidence_priority"), None
    tags: tuple[str, ...] = (tag,) if queue is None else (f"triage_{queue}", tag)
    duplicate_of = _duplicate_of(decision.reason, decision.ticket.source) if wb.kind == "decision" else None
    if duplicate_of is not None:
        tags += ("triage_duplicate",)
    language = decision.reason.get("language") if wb.kind == "decision" else None
    if isinstance(language, str) and language.isalpha():
        tags += (f"triage_lang_{language}",)  # the helpdesk's own views and triggers can then sort by language
    return WritebackRequest(
        writeback_id=wb.id,
        ticket_external_id=decision.ticket.external_id,
        queue=queue,
        priority=priority,
        label=label,
        status=DecisionStatus(decision.status),
        note=note,
        tags=tags,
        public_reply=reply,
        duplicate_of=duplicate_of,
    )


def _duplicate_of(reason: dict[str, Any], source: str) -> str | None:
    """The helpdesk id of the earlier ticket the decision flagged as a near-duplicate, when in the same helpdesk."""
    duplicate = reason.get("duplicate_of")
    if not isinstance(duplicate, dict) or duplicate.get("source") != source:
        return None
    external = duplicate.get("external_id")
    return str(external) if external else None


def retry_failed_writebacks(session: Session) -> list[int]:
    """Put every failed write-back back in line (operator action after fixing the cause)."""
    ids = failed_writeback_ids(session=session)
    for wb_id in ids:
        wb = session.get(WritebackRow, wb_id)
        assert wb is not None
        wb.status = WritebackStatus.PENDING
        wb.attempts = 0
        wb.next_attempt_at = None
    session.commit()
    return ids


def writebacks_in(session: Session, status: str) -> list[WritebackRow]:
    """Every write-back in one status, oldest first (for operators)."""
    return list(session.scalars(select(WritebackRow).where(WritebackRow.status == status).order_by(WritebackRow.id)))


def due_writebacks(runtime: Runtime, session: Session, *, now: datetime) -> list[int]:
    """Write-backs the sweep must enqueue: pending past a grace, due for a retry, or left by a dead worker."""
    grace = now - timedelta(seconds=min(30, runtime.settings.sweep_interval_s))
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    return due_writeback_ids(session=session, now=now, created_before=grace, stale_before=stale)
