"""Agents' work on reply drafts: edit, approve (and send), reject; optimistic versions."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.domain import (
    WritebackStatus,
)
from service.drafts.flow import reply_text
from service.drafts.queries import draft_for, update_draft
from service.infra.models import (
    DecisionRow,
    DraftRow,
    WritebackRow,
)
from service.review.errors import ReviewError
from service.review.verdicts import decision_under_review
from service.runtime import Runtime

log = logging.getLogger(__name__)


def _write_draft(
    session: Session, decision: DecisionRow, *, user_id: int, text: str, version: int, status: str
) -> DraftRow:
    """Create or change the draft of a decision if nobody changed it since `version` was read."""
    now = now_utc()
    draft = draft_for(session=session, decision_id=decision.id)
    reviewed = {"reviewed_by_id": user_id, "reviewed_at": now} if status != "proposed" else {}
    if draft is None:
        if version != 0:
            raise ReviewError("this draft is gone; reload the ticket", status=409)
        draft = DraftRow(
            ticket_id=decision.ticket_id,
            decision_id=decision.id,
            text=text,
            original_text=text,
            source="agent",
            status=status,
            version=1,
            edited_by_id=user_id,
            edited_at=now,
            created_at=now,
            **reviewed,
        )
        session.add(draft)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise ReviewError(
                "someone else started a draft for this ticket meanwhile; reload to see it", status=409
            ) from None
        return draft
    values = {"status": status, **reviewed}
    if text != draft.text:
        values.update(text=text, edited_by_id=user_id, edited_at=now)
    if not update_draft(session=session, draft_id=draft.id, version=version, values=values):
        session.rollback()
        raise ReviewError(
            "someone else changed or sent this draft since you opened it; reload to see their version", status=409
        )
    session.refresh(draft)
    return draft


def save_draft(
    session: Session, *, ticket_id: int, decision_id: int, user_id: int, text: str, version: int
) -> DraftRow:
    """Keep an agent's edit of the reply (re-opening a rejected draft)."""
    _, decision = decision_under_review(session, ticket_id, decision_id)
    text = reply_text(text)
    if not text:
        raise ReviewError("the reply is empty; write something before saving, or reject the draft")
    draft = _write_draft(session, decision, user_id=user_id, text=text, version=version, status="proposed")
    session.commit()
    return draft


def approve_draft(
    runtime: Runtime, session: Session, *, ticket_id: int, decision_id: int, user_id: int, text: str, version: int
) -> int:
    """Approve the reply as the agent left it and queue its write-back; return the write-back id."""
    ticket, decision = decision_under_review(session, ticket_id, decision_id)
    text = reply_text(text)
    if not text:
        raise ReviewError("the reply is empty; write it before approving")
    draft = _write_draft(session, decision, user_id=user_id, text=text, version=version, status="approved")
    writeback = WritebackRow(
        decision_id=decision.id,
        target=runtime.helpdesk_for(ticket.source),
        kind="reply",
        draft_id=draft.id,
        status=WritebackStatus.PENDING,
        created_at=now_utc(),
    )
    session.add(writeback)
    session.commit()
    return writeback.id


def reject_draft(session: Session, *, ticket_id: int, decision_id: int, user_id: int, version: int) -> DraftRow:
    """Mark the proposed reply as not fit to send; an agent may still write their own."""
    _, decision = decision_under_review(session, ticket_id, decision_id)
    draft = draft_for(session=session, decision_id=decision.id)
    if draft is None:
        raise ReviewError("there is no draft to reject", status=409)
    draft = _write_draft(session, decision, user_id=user_id, text=draft.text, version=version, status="rejected")
    session.commit()
    return draft
