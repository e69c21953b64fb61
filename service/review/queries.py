"""The review page's queries: users, the queue view by tab and filter, feedback."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select, update
from sqlalchemy.orm import Session, selectinload

from service.infra.models import (
    DecisionRow,
    Feedback,
    PredictionRow,
    Ticket,
    User,
    UserSession,
)
from service.review.filters import REVIEW_TABS, ReviewFilter

log = logging.getLogger(__name__)


def find_user(*, session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def record_failed_sign_in(*, session: Session, user_id: int, max_failures: int, lock_until: datetime) -> bool:
    """Count one failed sign-in in a single UPDATE; at `max_failures` lock the account and reset the count.

    One statement, so parallel guesses each count: reading the count, adding one and writing it back would let
    sixteen concurrent requests count as one. True when this failure locked the account.
    """
    reached = User.failed_logins + 1 >= max_failures
    count = session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            failed_logins=case((reached, 0), else_=User.failed_logins + 1),
            locked_until=case((reached, lock_until), else_=User.locked_until),
        )
        .returning(User.failed_logins)
    ).scalar_one_or_none()
    return count == 0


def live_session(*, session: Session, token_sha256: str) -> UserSession | None:
    """The session with this token, if it has not been ended (expiry is the caller's rule)."""
    return session.scalars(
        select(UserSession).where(UserSession.token_sha256 == token_sha256, UserSession.ended_at.is_(None))
    ).first()


def end_sessions(*, session: Session, user_id: int, now: datetime, reason: str, session_id: int | None = None) -> int:
    """End a user's open sessions (or just one of them); return how many were open."""
    query = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if session_id is not None:
        query = query.where(UserSession.id == session_id)
    result = session.execute(query.values(ended_at=now, end_reason=reason))
    return int(getattr(result, "rowcount", 0))


def open_sessions(*, session: Session, now: datetime, idle_since: datetime) -> list[UserSession]:
    """Sessions that have not ended, expired or gone idle, newest first, with their users."""
    return list(
        session.scalars(
            select(UserSession)
            .where(
                UserSession.ended_at.is_(None),
                UserSession.expires_at > now,
                UserSession.last_seen_at > idle_since,
            )
            .options(selectinload(UserSession.user))
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def _latest_decisions() -> Any:
    return (
        select(DecisionRow.ticket_id, func.max(DecisionRow.revision).label("revision"))
        .group_by(DecisionRow.ticket_id)
        .subquery("latest")
    )


def _reviewed() -> ColumnElement[bool]:
    return exists().where(Feedback.decision_id == DecisionRow.id)


def review_base(columns: Sequence[Any], filters: ReviewFilter) -> Select[Any]:
    latest = _latest_decisions()
    query = (
        select(*columns)
        .select_from(Ticket)
        .join(latest, latest.c.ticket_id == Ticket.id)
        .join(DecisionRow, and_(DecisionRow.ticket_id == Ticket.id, DecisionRow.revision == latest.c.revision))
        .join(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
    )
    if filters.queue:
        query = query.where(DecisionRow.queue == filters.queue)
    if filters.label:
        query = query.where(PredictionRow.label == filters.label)
    if filters.min_confidence is not None:
        query = query.where(PredictionRow.confidence >= filters.min_confidence)
    if filters.max_confidence is not None:
        query = query.where(PredictionRow.confidence <= filters.max_confidence)
    if filters.model_version:
        query = query.where(PredictionRow.model_version == filters.model_version)
    if filters.decided_from:
        query = query.where(DecisionRow.created_at >= datetime.combine(filters.decided_from, dtime.min, UTC))
    if filters.decided_to:
        # Inclusive of the whole last day.
        query = query.where(
            DecisionRow.created_at < datetime.combine(filters.decided_to + timedelta(days=1), dtime.min, UTC)
        )
    return query


def _in_tab(tab: str) -> ColumnElement[bool] | None:
    if tab == "all":
        return None
    if tab == "reviewed":
        return _reviewed()
    return and_(DecisionRow.status == tab, ~_reviewed())


def _ordered(query: Select[Any], sort: str, priorities: Sequence[str]) -> Select[Any]:
    newest = (DecisionRow.created_at.desc(), DecisionRow.id.desc())
    if sort == "oldest":
        return query.order_by(DecisionRow.created_at.asc(), DecisionRow.id.asc())
    if sort == "confidence":
        return query.order_by(PredictionRow.confidence.asc(), DecisionRow.id.asc())
    if sort == "confidence_desc":
        return query.order_by(PredictionRow.confidence.desc(), DecisionRow.id.asc())
    if sort == "priority" and priorities:
        # Priorities are listed lowest first in the routing rules; unknown ones sort last.
        rank = case({p: i for i, p in enumerate(priorities)}, value=DecisionRow.priority, else_=-1)
        return query.order_by(rank.desc(), *newest)
    return query.order_by(*newest)


def review_page(
    *, session: Session, tab: str, filters: ReviewFilter, sort: str, priorities: Sequence[str], offset: int, limit: int
) -> tuple[list[tuple[Ticket, DecisionRow, PredictionRow]], int]:
    """One page of the queue view and the number of tickets on all pages."""
    condition = _in_tab(tab)
    counted = review_base([func.count()], filters)
    listed = review_base([Ticket, DecisionRow, PredictionRow], filters)
    if condition is not None:
        counted, listed = counted.where(condition), listed.where(condition)
    total = int(session.scalar(counted) or 0)
    rows = session.execute(_ordered(listed, sort, priorities).offset(offset).limit(limit)).all()
    return [(t, d, p) for t, d, p in rows], total


def review_ids(
    *, session: Session, tab: str, filters: ReviewFilter, sort: str, priorities: Sequence[str], limit: int = 5000
) -> list[int]:
    """Ticket ids of a queue view in order, for moving to the previous and next ticket."""
    condition = _in_tab(tab)
    query = review_base([Ticket.id], filters)
    if condition is not None:
        query = query.where(condition)
    return list(session.scalars(_ordered(query, sort, priorities).limit(limit)))


def review_tab_counts(*, session: Session, filters: ReviewFilter) -> dict[str, int]:
    """How many tickets each tab of the queue view holds under the same filters."""
    bucket = case((_reviewed(), "reviewed"), else_=DecisionRow.status)
    query = review_base([bucket, func.count()], filters).group_by(bucket)
    counts = {str(k): int(v) for k, v in session.execute(query)}
    result = {tab: counts.get(tab, 0) for tab in REVIEW_TABS}
    result["all"] = sum(counts.values())
    return result


def latest_feedback(*, session: Session, decision_ids: Sequence[int]) -> dict[int, Feedback]:
    """The newest feedback on each of these decisions (decisions without any are left out)."""
    if not decision_ids:
        return {}
    newest = select(func.max(Feedback.id)).where(Feedback.decision_id.in_(decision_ids)).group_by(Feedback.decision_id)
    rows = session.scalars(select(Feedback).where(Feedback.id.in_(newest)).options(selectinload(Feedback.user)))
    return {f.decision_id: f for f in rows}


def ticket_feedback(*, session: Session, ticket_id: int) -> list[Feedback]:
    return list(
        session.scalars(
            select(Feedback)
            .where(Feedback.ticket_id == ticket_id)
            .options(selectinload(Feedback.user))
            .order_by(Feedback.id.desc())
        )
    )


def feedback_for_export(*, session: Session, corrections_only: bool = False) -> list[Feedback]:
    """The newest feedback per decision, with its ticket, oldest first."""
    newest = select(func.max(Feedback.id)).group_by(Feedback.decision_id)
    query = select(Feedback).where(Feedback.id.in_(newest)).options(selectinload(Feedback.ticket))
    if corrections_only:
        query = query.where(Feedback.kind == "corrected")
    return list(session.scalars(query.order_by(Feedback.id)))
