"""Queries over the tables; keyword-only arguments, no business rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, exists, func, literal, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, aliased, selectinload

from service.domain import TicketStatus, WritebackStatus
from service.models import DecisionRow, DraftRow, Feedback, PredictionRow, Ticket, User, WebhookEvent, WritebackRow


def get_ticket(*, session: Session, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id, options=[
        selectinload(Ticket.decisions).selectinload(DecisionRow.writebacks),
        selectinload(Ticket.decisions).selectinload(DecisionRow.prediction),
    ])


@dataclass(frozen=True)
class NewTicket:
    """A delivery of a ticket not seen before, as the intake stores it: the ticket's columns and the delivery's."""

    values: dict[str, Any]  # the tickets row: source, external_id, subject, body, ..., received_at, status
    delivery_id: str
    body_sha256: str


def insert_new_tickets(*, session: Session, rows: Sequence[NewTicket]) -> list[tuple[int, int] | None]:
    """Insert tickets and their deliveries where neither exists yet: one round trip for the lot on Postgres.

    Per row: (ticket id, event id), or None for a known ticket, a repeated delivery, or a row whose ticket or
    delivery repeats an earlier row's; the caller looks those up once this transaction is committed.
    """
    fresh, keys, deliveries = [], set(), set()
    for i, row in enumerate(rows):
        key, delivery = (row.values["source"], row.values["external_id"]), (row.values["source"], row.delivery_id)
        if key not in keys and delivery not in deliveries:
            fresh.append(i)
            keys.add(key)
            deliveries.add(delivery)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        inserted = _insert_new_postgres(conn, [rows[i] for i in fresh])
    else:
        inserted = _insert_new_portable(conn, [rows[i] for i in fresh])
    results: list[tuple[int, int] | None] = [None] * len(rows)
    orphans = []
    for i, (ticket_id, event_id) in zip(fresh, inserted, strict=True):
        if ticket_id is not None and event_id is None:
            orphans.append(ticket_id)  # the delivery was recorded before, for another ticket: this one is not new
        elif ticket_id is not None:
            results[i] = (ticket_id, event_id)
    if orphans:
        conn.execute(delete(Ticket.__table__).where(Ticket.__table__.c.id.in_(orphans)))
    return results


# Both rows of one delivery in one statement; the ticket id comes back even when the delivery was known, so that
# the caller can remove the ticket again. Sent for many deliveries at once in psycopg's pipeline mode.
_NEW_TICKET_SQL = """
WITH new_ticket AS (
    INSERT INTO tickets (source, external_id, subject, body, requester, tags, metadata, created_at, received_at,
                         status, needs_fetch, attempts)
    VALUES (%(source)s, %(external_id)s, %(subject)s, %(body)s, %(requester)s, %(tags)s, %(metadata)s,
            %(created_at)s, %(received_at)s, %(status)s, %(needs_fetch)s, 0)
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING id
), new_event AS (
    INSERT INTO webhook_events (source, delivery_id, body_sha256, ticket_id, outcome, received_at)
    SELECT %(source)s, %(delivery_id)s, %(body_sha256)s, new_ticket.id, 'created', %(received_at)s FROM new_ticket
    ON CONFLICT (source, delivery_id) DO NOTHING
    RETURNING id
)
SELECT new_ticket.id, new_event.id FROM new_ticket LEFT JOIN new_event ON true
"""


def _insert_new_postgres(conn: Connection, rows: list[NewTicket]) -> list[tuple[int | None, int | None]]:
    """One round trip for the lot: psycopg pipelines the statements of an executemany."""
    import psycopg
    from psycopg.types.json import Json

    params = [{**row.values, "tags": Json(row.values["tags"]), "metadata": Json(row.values["metadata"]),
               "delivery_id": row.delivery_id, "body_sha256": row.body_sha256} for row in rows]
    out: list[tuple[int | None, int | None]] = []
    dbapi = conn.connection.dbapi_connection
    try:
        with dbapi.cursor() as cur:  # type: ignore[union-attr]
            cur.executemany(_NEW_TICKET_SQL, params, returning=True)
            while True:
                row = cur.fetchone()
                out.append((row[0], row[1]) if row else (None, None))
                if not cur.nextset():
                    break
    except psycopg.Error as exc:
        # Past SQLAlchemy, so do what it would: drop a dead connection, and raise its error types (a 503 upstream).
        invalidated = conn.dialect.is_disconnect(exc, dbapi, None)
        if invalidated:
            conn.invalidate(exc)
        raise DBAPIError.instance(_NEW_TICKET_SQL, None, exc, psycopg.Error, hide_parameters=True,
                                  connection_invalidated=invalidated) from None
    return out


def _insert_new_portable(conn: Connection, rows: list[NewTicket]) -> list[tuple[int | None, int | None]]:
    """The same with two multi-row INSERTs (SQLite, embedded: one process, so no pipelining to gain)."""
    from sqlalchemy.dialects.sqlite import insert

    tickets, events = Ticket.__table__, WebhookEvent.__table__
    created = {(r.source, r.external_id): r.id for r in conn.execute(
        insert(tickets).on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(tickets.c.id, tickets.c.source, tickets.c.external_id), [row.values for row in rows])}
    ticket_ids = [created.get((row.values["source"], row.values["external_id"])) for row in rows]
    new = [(row, ticket_id) for row, ticket_id in zip(rows, ticket_ids, strict=True) if ticket_id is not None]
    logged = {(r.source, r.delivery_id): r.id for r in conn.execute(
        insert(events).on_conflict_do_nothing(index_elements=["source", "delivery_id"])
        .returning(events.c.id, events.c.source, events.c.delivery_id),
        [{"source": row.values["source"], "delivery_id": row.delivery_id, "body_sha256": row.body_sha256,
          "ticket_id": ticket_id, "outcome": "created", "received_at": row.values["received_at"]}
         for row, ticket_id in new])} if new else {}
    return [(ticket_id, logged.get((row.values["source"], row.delivery_id)) if ticket_id is not None else None)
            for row, ticket_id in zip(rows, ticket_ids, strict=True)]


def find_event(*, session: Session, source: str, delivery_id: str) -> WebhookEvent | None:
    return session.scalars(
        select(WebhookEvent).where(WebhookEvent.source == source, WebhookEvent.delivery_id == delivery_id)
    ).first()


def find_ticket(*, session: Session, source: str, external_id: str) -> Ticket | None:
    return session.scalars(
        select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)
    ).first()


def claim_tickets(*, session: Session, ticket_ids: Sequence[int], now: datetime, stale_before: datetime) -> list[int]:
    """Mark tickets as being processed: the ids whose conditional UPDATE this caller won, in id order."""
    claimed = session.scalars(
        update(Ticket)
        .where(Ticket.id.in_(ticket_ids), or_(
            Ticket.status == TicketStatus.RECEIVED,
            (Ticket.status == TicketStatus.PROCESSING) & (Ticket.claimed_at < stale_before),
        ))
        .values(status=TicketStatus.PROCESSING, claimed_at=now, attempts=Ticket.attempts + 1)
        .returning(Ticket.id).execution_options(synchronize_session=False))
    return sorted(claimed)


def get_tickets(*, session: Session, ticket_ids: Sequence[int]) -> list[Ticket]:
    return list(session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)).order_by(Ticket.id)))


def claim_writeback(*, session: Session, writeback_id: int, now: datetime, stale_before: datetime) -> bool:
    """Take a write-back that is due; the conditional UPDATE makes concurrent deliveries a no-op."""
    result = session.execute(
        update(WritebackRow)
        .where(WritebackRow.id == writeback_id, or_(
            WritebackRow.status == WritebackStatus.PENDING,
            (WritebackRow.status == WritebackStatus.RETRYING) & (WritebackRow.next_attempt_at <= now),
            (WritebackRow.status == WritebackStatus.SENDING) & (WritebackRow.claimed_at < stale_before),
        ))
        .values(status=WritebackStatus.SENDING, claimed_at=now, attempts=WritebackRow.attempts + 1,
                updated_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def claim_waiting(*, session: Session, limit: int, now: datetime) -> list[Ticket]:
    """Claim up to `limit` received tickets with their text present, oldest first (batch companions), at once.

    One UPDATE for the lot; on Postgres rows another worker is claiming are skipped rather than waited for.
    The status test in the UPDATE itself keeps a ticket from being claimed twice either way.
    """
    waiting = (select(Ticket.id).where(Ticket.status == TicketStatus.RECEIVED, Ticket.needs_fetch.is_(False))
               .order_by(Ticket.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        waiting = waiting.with_for_update(skip_locked=True)
    ids = list(session.scalars(
        update(Ticket).where(Ticket.id.in_(waiting.scalar_subquery()), Ticket.status == TicketStatus.RECEIVED)
        .values(status=TicketStatus.PROCESSING, claimed_at=now, attempts=Ticket.attempts + 1)
        .returning(Ticket.id).execution_options(synchronize_session=False)))
    return get_tickets(session=session, ticket_ids=ids) if ids else []


def mark_writeback_done(*, session: Session, writeback_id: int, now: datetime) -> None:
    """Record a delivered write-back as done, whoever holds its claim now."""
    session.execute(update(WritebackRow).where(WritebackRow.id == writeback_id)
                    .values(status=WritebackStatus.DONE, done_at=now, last_error=None, updated_at=now))


def llm_usage(*, session: Session, since: datetime) -> tuple[int, float]:
    """LLM calls made and money spent since a moment, across every worker."""
    from service.models import LLMCall

    calls, spend = session.execute(
        select(func.count(LLMCall.id), func.coalesce(func.sum(LLMCall.cost), 0.0)).where(LLMCall.created_at >= since)
    ).one()
    return int(calls), float(spend)


def stalled_ticket_ids(*, session: Session, received_before: datetime, stale_before: datetime,
                       limit: int = 500) -> list[int]:
    """Tickets acknowledged but not decided: never enqueued, lost by the broker, or whose worker died."""
    return list(session.scalars(
        select(Ticket.id).where(or_(
            (Ticket.status == TicketStatus.RECEIVED) & (Ticket.received_at < received_before),
            (Ticket.status == TicketStatus.PROCESSING) & (Ticket.claimed_at < stale_before),
        )).order_by(Ticket.id).limit(limit)
    ))


def due_writeback_ids(*, session: Session, now: datetime, created_before: datetime, stale_before: datetime,
                      limit: int = 500) -> list[int]:
    return list(session.scalars(
        select(WritebackRow.id).where(or_(
            (WritebackRow.status == WritebackStatus.PENDING) & (WritebackRow.created_at < created_before),
            (WritebackRow.status == WritebackStatus.RETRYING) & (WritebackRow.next_attempt_at <= now),
            (WritebackRow.status == WritebackStatus.SENDING) & (WritebackRow.claimed_at < stale_before),
        )).order_by(WritebackRow.id).limit(limit)
    ))


def failed_writeback_ids(*, session: Session) -> list[int]:
    return list(session.scalars(
        select(WritebackRow.id).where(WritebackRow.status == WritebackStatus.FAILED).order_by(WritebackRow.id)
    ))


def count_by(*, session: Session, column: Any) -> dict[str, int]:
    """Row counts grouped by one column, e.g. count_by(session=s, column=Ticket.status)."""
    return {str(k): int(v) for k, v in session.execute(select(column, func.count()).group_by(column))}


def find_user(*, session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).first()


def user_by_session_token(*, session: Session, token: str) -> User | None:
    return session.scalars(select(User).where(User.session_token == token)).first()


def list_users(*, session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


# Review page. A ticket is listed by its latest decision (the one for the newest revision that has one);
# once an agent has given feedback on that decision it counts as reviewed.
REVIEW_TABS = ("needs_review", "escalated", "auto_routed", "reviewed", "all")
REVIEW_SORTS = ("newest", "oldest", "confidence", "confidence_desc", "priority")


@dataclass(frozen=True)
class ReviewFilter:
    """What the queue view narrows tickets down to; None means no constraint."""

    queue: str | None = None
    label: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    model_version: str | None = None
    decided_from: date | None = None
    decided_to: date | None = None


def _latest_decisions() -> Any:
    return (select(DecisionRow.ticket_id, func.max(DecisionRow.revision).label("revision"))
            .group_by(DecisionRow.ticket_id).subquery("latest"))


def _reviewed() -> ColumnElement[bool]:
    return exists().where(Feedback.decision_id == DecisionRow.id)


def _review_base(columns: Sequence[Any], filters: ReviewFilter) -> Select[Any]:
    latest = _latest_decisions()
    query = (select(*columns)
             .select_from(Ticket)
             .join(latest, latest.c.ticket_id == Ticket.id)
             .join(DecisionRow, and_(DecisionRow.ticket_id == Ticket.id, DecisionRow.revision == latest.c.revision))
             .join(PredictionRow, PredictionRow.id == DecisionRow.prediction_id))
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
        query = query.where(DecisionRow.created_at >= datetime.combine(filters.decided_from, time.min, UTC))
    if filters.decided_to:
        # Inclusive of the whole last day.
        query = query.where(DecisionRow.created_at < datetime.combine(filters.decided_to + timedelta(days=1),
                                                                      time.min, UTC))
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


def review_page(*, session: Session, tab: str, filters: ReviewFilter, sort: str, priorities: Sequence[str],
                offset: int, limit: int) -> tuple[list[tuple[Ticket, DecisionRow, PredictionRow]], int]:
    """One page of the queue view and the number of tickets on all pages."""
    condition = _in_tab(tab)
    counted = _review_base([func.count()], filters)
    listed = _review_base([Ticket, DecisionRow, PredictionRow], filters)
    if condition is not None:
        counted, listed = counted.where(condition), listed.where(condition)
    total = int(session.scalar(counted) or 0)
    rows = session.execute(_ordered(listed, sort, priorities).offset(offset).limit(limit)).all()
    return [(t, d, p) for t, d, p in rows], total


def review_ids(*, session: Session, tab: str, filters: ReviewFilter, sort: str, priorities: Sequence[str],
               limit: int = 5000) -> list[int]:
    """Ticket ids of a queue view in order, for moving to the previous and next ticket."""
    condition = _in_tab(tab)
    query = _review_base([Ticket.id], filters)
    if condition is not None:
        query = query.where(condition)
    return list(session.scalars(_ordered(query, sort, priorities).limit(limit)))


def review_tab_counts(*, session: Session, filters: ReviewFilter) -> dict[str, int]:
    """How many tickets each tab of the queue view holds under the same filters."""
    bucket = case((_reviewed(), "reviewed"), else_=DecisionRow.status)
    query = _review_base([bucket, func.count()], filters).group_by(bucket)
    counts = {str(k): int(v) for k, v in session.execute(query)}
    result = {tab: counts.get(tab, 0) for tab in REVIEW_TABS}
    result["all"] = sum(counts.values())
    return result


def latest_feedback(*, session: Session, decision_ids: Sequence[int]) -> dict[int, Feedback]:
    """The newest feedback on each of these decisions (decisions without any are left out)."""
    if not decision_ids:
        return {}
    newest = (select(func.max(Feedback.id)).where(Feedback.decision_id.in_(decision_ids))
              .group_by(Feedback.decision_id))
    rows = session.scalars(select(Feedback).where(Feedback.id.in_(newest))
                           .options(selectinload(Feedback.user)))
    return {f.decision_id: f for f in rows}


def ticket_feedback(*, session: Session, ticket_id: int) -> list[Feedback]:
    return list(session.scalars(select(Feedback).where(Feedback.ticket_id == ticket_id)
                                .options(selectinload(Feedback.user)).order_by(Feedback.id.desc())))


def draft_for(*, session: Session, decision_id: int) -> DraftRow | None:
    return session.scalars(select(DraftRow).where(DraftRow.decision_id == decision_id)
                           .options(selectinload(DraftRow.edited_by), selectinload(DraftRow.reviewed_by))).first()


def distinct_values(*, session: Session, column: Any) -> list[str]:
    """Every value a column holds, sorted (labels and model versions for the filter lists)."""
    return sorted(str(v) for v in session.scalars(select(column).distinct()) if v is not None)


def feedback_for_export(*, session: Session, corrections_only: bool = False) -> list[Feedback]:
    """The newest feedback per decision, with its ticket, oldest first."""
    newest = select(func.max(Feedback.id)).group_by(Feedback.decision_id)
    query = select(Feedback).where(Feedback.id.in_(newest)).options(selectinload(Feedback.ticket))
    if corrections_only:
        query = query.where(Feedback.kind == "corrected")
    return list(session.scalars(query.order_by(Feedback.id)))


def _day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, as the database spells it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def decision_counts(*, session: Session, since: datetime) -> dict[str, int]:
    """Latest decisions per ticket made since `since`, by status."""
    query = _review_base([DecisionRow.status, func.count()], ReviewFilter()).where(DecisionRow.created_at >= since)
    return {str(k): int(v) for k, v in session.execute(query.group_by(DecisionRow.status))}


def reviewed_outcomes(*, session: Session, since: datetime) -> tuple[int, int, int]:
    """Reviewed decisions since `since`: how many, how many kept the label, how many kept queue and priority."""
    newest = select(func.max(Feedback.id)).group_by(Feedback.decision_id)
    kept_label = case((Feedback.to_label == PredictionRow.label, 1), else_=0)
    kept_route = case((and_(Feedback.to_queue == DecisionRow.queue, Feedback.to_priority == DecisionRow.priority),
                       1), else_=0)
    query = (_review_base([func.count(), func.sum(kept_label), func.sum(kept_route)], ReviewFilter())
             .join(Feedback, Feedback.decision_id == DecisionRow.id)
             .where(Feedback.id.in_(newest), DecisionRow.created_at >= since))
    total, label, route = session.execute(query).one()
    return int(total or 0), int(label or 0), int(route or 0)


def daily_queue_volume(*, session: Session, since: datetime) -> list[tuple[str, str, int]]:
    """(day, queue, tickets) for latest decisions since `since`."""
    day = _day(session, DecisionRow.created_at)
    query = (_review_base([day, DecisionRow.queue, func.count()], ReviewFilter())
             .where(DecisionRow.created_at >= since).group_by(day, DecisionRow.queue).order_by(day))
    return [(str(d), str(q), int(n)) for d, q, n in session.execute(query)]


def confidence_histogram(*, session: Session, since: datetime, bins: int = 10) -> list[tuple[int, str, int]]:
    """(bin, decision status, tickets): confidences cut into `bins` equal bins from 0 to 1."""
    # Explicit edges rather than CAST or FLOOR: Postgres rounds a CAST, and SQLite may lack FLOOR.
    bucket = case(*((PredictionRow.confidence < (i + 1) / bins, i) for i in range(bins - 1)), else_=bins - 1)
    query = (_review_base([bucket, DecisionRow.status, func.count()], ReviewFilter())
             .where(DecisionRow.created_at >= since).group_by(bucket, DecisionRow.status))
    return [(int(b), str(s), int(n)) for b, s, n in session.execute(query)]


def live_predictions(*, session: Session, model_name: str, model_version: str, since: datetime, bins: int = 10,
                     ) -> tuple[dict[str, int], dict[str, int]]:
    """Label counts and confidence-bin counts ("0".."9") of one model version's serving predictions since
    `since` (drift alarm); counted in the database, as this runs on every metrics scrape."""
    where = (PredictionRow.model_name == model_name, PredictionRow.model_version == model_version,
             PredictionRow.role == "serving", PredictionRow.created_at >= since)
    labels = {str(label): int(n) for label, n in session.execute(
        select(PredictionRow.label, func.count()).where(*where).group_by(PredictionRow.label))}
    bucket = case(*((PredictionRow.confidence < (i + 1) / bins, i) for i in range(bins - 1)), else_=bins - 1)
    confidences = {str(i): 0 for i in range(bins)}
    for b, n in session.execute(select(bucket, func.count()).where(*where).group_by(bucket)):
        confidences[str(int(b))] = int(n)
    return labels, confidences


@dataclass(frozen=True)
class ShadowOutcomes:
    """How a shadow model compared with the one in service on the same tickets."""

    predicted: int
    agreed: int
    reviewed: int
    shadow_right: int
    serving_right: int


def shadow_outcomes(*, session: Session, model_version: str, since: datetime) -> ShadowOutcomes:
    """Shadow predictions of `model_version` since `since` against the latest decisions' serving predictions,
    and, on tickets an agent reviewed, against the agent's label."""
    shadow = aliased(PredictionRow)
    agreed = case((shadow.label == PredictionRow.label, 1), else_=0)
    base = (_review_base([func.count(), func.sum(agreed)], ReviewFilter())
            .join(shadow, and_(shadow.ticket_id == Ticket.id, shadow.role == "shadow",
                               shadow.model_version == model_version))
            .where(shadow.created_at >= since))
    predicted, agree = session.execute(base).one()
    newest = select(func.max(Feedback.id)).group_by(Feedback.decision_id)
    reviewed = (base.with_only_columns(func.count(), func.sum(case((shadow.label == Feedback.to_label, 1), else_=0)),
                                       func.sum(case((PredictionRow.label == Feedback.to_label, 1), else_=0)))
                .join(Feedback, Feedback.decision_id == DecisionRow.id).where(Feedback.id.in_(newest)))
    n_reviewed, shadow_right, serving_right = session.execute(reviewed).one()
    return ShadowOutcomes(int(predicted or 0), int(agree or 0), int(n_reviewed or 0), int(shadow_right or 0),
                          int(serving_right or 0))


def model_versions_used(*, session: Session, since: datetime) -> list[tuple[str, str, int]]:
    """(model name, version, tickets) among latest decisions since `since`, most used first."""
    query = (_review_base([PredictionRow.model_name, PredictionRow.model_version, func.count()], ReviewFilter())
             .where(DecisionRow.created_at >= since)
             .group_by(PredictionRow.model_name, PredictionRow.model_version).order_by(func.count().desc()))
    return [(str(n), str(v), int(c)) for n, v, c in session.execute(query)]


def update_draft(*, session: Session, draft_id: int, version: int, values: dict[str, Any]) -> bool:
    """Change a draft that is still at `version` and not yet sent; false if someone got there first."""
    result = session.execute(
        update(DraftRow)
        .where(DraftRow.id == draft_id, DraftRow.version == version, DraftRow.status != "approved")
        .values(version=DraftRow.version + 1, **values)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def llm_stats(*, session: Session, since: datetime | None = None) -> dict[str, float | int | None]:
    """Escalation rate, LLM calls, tokens, cost per 1,000 tickets, and LLM accuracy on tickets people reviewed."""
    from service.models import LLMCall

    def window(column: Any) -> Any:
        return column >= since if since is not None else True

    decided = session.scalar(select(func.count(DecisionRow.id)).where(window(DecisionRow.created_at))) or 0
    escalated = session.scalar(
        select(func.count(func.distinct(LLMCall.ticket_id))).where(window(LLMCall.created_at))) or 0
    calls, tokens_in, tokens_out, cost, latency = session.execute(
        select(func.count(LLMCall.id), func.coalesce(func.sum(LLMCall.tokens_in), 0),
               func.coalesce(func.sum(LLMCall.tokens_out), 0), func.coalesce(func.sum(LLMCall.cost), 0.0),
               func.avg(LLMCall.latency_ms)).where(window(LLMCall.created_at))
    ).one()
    judged, right = session.execute(
        select(func.count(LLMCall.id),
               func.coalesce(func.sum(case((LLMCall.label == Feedback.to_label, 1), else_=0)), 0))
        .join(Feedback, Feedback.decision_id == LLMCall.decision_id)
        .where(LLMCall.label.is_not(None), window(LLMCall.created_at))
    ).one()
    return {
        "decided": int(decided),
        "escalated": int(escalated),
        "escalation_rate": escalated / decided if decided else 0.0,
        "llm_calls": int(calls),
        "tokens_in": int(tokens_in),
        "tokens_out": int(tokens_out),
        "llm_cost": round(float(cost), 6),
        "llm_mean_latency_ms": round(float(latency), 1) if latency is not None else None,
        "cost_per_1000_tickets": round(float(cost) / decided * 1000, 4) if decided else 0.0,
        "llm_reviewed": int(judged),
        "llm_accuracy_on_reviewed": int(right) / judged if judged else None,
    }


def histogram(*, session: Session, value: Any, bounds: Sequence[float], group: Any = None,
              where: ColumnElement[bool] | None = None) -> dict[str, tuple[list[int], float, int]]:
    """Cumulative counts of `value` <= each bound, its sum and count, per `group` value ("" without one).

    One aggregate query: the rows are counted where they lie, never loaded.
    """
    aggregates = [func.count(), func.coalesce(func.sum(value), 0.0),
                  *(func.sum(case((value <= bound, 1), else_=0)) for bound in bounds)]
    query = select(group, *aggregates).group_by(group) if group is not None else select(literal(""), *aggregates)
    if where is not None:
        query = query.where(where)
    return {str(row[0]): ([int(c or 0) for c in row[3:]], float(row[2]), int(row[1]))
            for row in session.execute(query) if row[1]}


def oldest_waiting_ticket(*, session: Session) -> datetime | None:
    """When the oldest ticket that was acknowledged but not yet decided arrived."""
    return session.scalar(select(func.min(Ticket.received_at)).where(
        Ticket.status.in_([TicketStatus.RECEIVED, TicketStatus.PROCESSING])))
