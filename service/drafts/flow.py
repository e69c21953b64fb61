"""Use cases of drafting: propose a reply for a decision, once, bounded in time."""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.domain import (
    WritebackStatus,
)
from service.drafts.queries import draft_for
from service.infra.models import (
    DecisionRow,
    DraftRow,
    WritebackRow,
)
from service.infra.timings import timed
from service.review.errors import ReviewError
from service.runtime import Runtime

log = logging.getLogger(__name__)


def draft_reply(runtime: Runtime, session: Session, writeback_id: int) -> DraftRow | None:
    """Draft the reply for the decision behind a write-back (once), so its internal note carries the draft."""
    wb = session.get(WritebackRow, writeback_id)
    drafter = runtime.drafter() if wb is not None and wb.kind in ("decision", "review") else None
    if wb is None or drafter is None:
        return None
    decision = wb.decision
    existing = draft_for(session=session, decision_id=decision.id)
    if existing is not None:
        return existing
    # A guess is not drafted from: the reply is written once an agent settles the label (a review write-back).
    settled = wb.feedback if wb.kind == "review" else None
    if settled is None and decision.is_guess:
        log.info("no draft yet: the label is a guess until an agent settles it", extra={"decision_id": decision.id})
        return None
    if wb.kind == "review" and not decision.is_guess:
        return None  # a decision's own draft was made (or declined) with its first write-back
    ticket = decision.ticket
    started = time.perf_counter()
    result = drafter.draft(
        ticket_id=ticket.external_id,
        requester=ticket.requester,
        subject=ticket.subject,
        body=ticket.body,
        queue=settled.to_queue if settled else decision.queue,
        label=settled.to_label if settled else decision.label,
    )
    took = timed(session, ticket.id, "draft", started)
    draft = propose_draft(session, decision_id=decision.id, text=result.text, source=result.source)
    draft.generated, draft.guard, draft.detail = result.generated, result.guard, result.detail or None
    draft.generation_ms = round(result.generation_s * 1000, 1) if result.tokens else None
    if decision.queue in runtime.settings.auto_send_queue_names and draft.status == "proposed":
        # An operator chose to skip approval for this queue: the draft goes out as the reply.
        draft.status, draft.reviewed_at = "approved", now_utc()
        session.add(
            WritebackRow(
                decision_id=decision.id,
                target=wb.target,
                kind="reply",
                draft_id=draft.id,
                status=WritebackStatus.PENDING,
                created_at=now_utc(),
            )
        )
    session.commit()
    log.info(
        "reply drafted",
        extra={
            "ticket_id": ticket.id,
            "decision_id": decision.id,
            "draft_id": draft.id,
            "stage": "draft",
            "draft_source": result.source,
            "guard": result.guard,
            "duration_ms": took,
        },
    )
    return draft


MAX_REPLY_CHARS = 20_000


def reply_text(text: str) -> str:
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()
    if len(text) > MAX_REPLY_CHARS:
        raise ReviewError(f"a reply may have at most {MAX_REPLY_CHARS:,} characters; this one has {len(text):,}")
    return text


def propose_draft(session: Session, *, decision_id: int, text: str, source: str) -> DraftRow:
    """Store the reply a drafter proposes for a decision; a decision keeps its first proposal."""
    existing = draft_for(session=session, decision_id=decision_id)
    if existing is not None:
        return existing
    decision = session.get(DecisionRow, decision_id)
    if decision is None:
        raise ReviewError(f"no decision {decision_id}", status=404)
    text = reply_text(text)
    draft = DraftRow(
        ticket_id=decision.ticket_id,
        decision_id=decision_id,
        text=text,
        original_text=text,
        source=source,
        status="proposed",
        version=1,
        created_at=now_utc(),
    )
    session.add(draft)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        found = draft_for(session=session, decision_id=decision_id)
        assert found is not None
        return found
    return draft
