"""Use cases of intake: store each delivery once and say whether its ticket must be (re)processed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.domain import (
    InboundTicket,
    TicketStatus,
)
from service.infra.db import Database, unavailable
from service.infra.models import (
    Ticket,
    WebhookEvent,
)
from service.infra.queries import get_ticket
from service.intake.queries import NewTicket, find_event, find_signed, find_ticket, insert_new_tickets

log = logging.getLogger(__name__)


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


class DeliveryConflict(ValueError):
    """A delivery key (delivery id, Idempotency-Key) was used before for another body."""


def new_ticket_row(
    ticket: InboundTicket, *, delivery_id: str, body_sha256: str, signed_sha256: str | None = None
) -> NewTicket:
    """The rows a delivery adds if its ticket is new."""
    return NewTicket(
        delivery_id=delivery_id,
        body_sha256=body_sha256,
        signed_sha256=signed_sha256,
        values={
            "source": ticket.source,
            "external_id": ticket.external_id,
            "subject": ticket.subject,
            "body": ticket.body,
            "requester": ticket.requester,
            "tags": list(ticket.tags),
            "metadata": dict(ticket.metadata),
            "created_at": ticket.created_at,
            "received_at": now_utc(),
            "status": TicketStatus.RECEIVED.value,
            "needs_fetch": ticket.needs_fetch,
        },
    )


def store_new_tickets(db: Database, rows: list[NewTicket]) -> list[tuple[int, int] | None | Exception]:
    """Store many deliveries' new tickets in one transaction (the web process's group commit).

    A row the database refuses for reasons of its own fails alone: the rows are then stored one by one,
    so only that delivery's sender gets an error.
    """
    try:
        with db.session() as session:
            results = insert_new_tickets(session=session, rows=rows)
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


def receive_ticket(
    session: Session,
    ticket: InboundTicket,
    *,
    delivery_id: str,
    body_sha256: str,
    store_new: Callable[[NewTicket], tuple[int, int] | None],
    is_update: bool = False,
    reroute_on_update: bool = False,
    signed_sha256: str | None = None,
    replay_window_s: int = 24 * 3600,
) -> Intake:
    """Store a delivery and its ticket once; repeats change nothing, updates re-route only if configured.

    store_new stores and commits a new ticket (the web's group commit); session looks up and records repeats.
    A delivery key reused for another body raises DeliveryConflict; the same signed request sent again under
    another delivery id within the replay window is a duplicate; a failed ticket delivered again is requeued.
    """
    # The common case, a new ticket, is stored with no look-ups first (the intake hot path).
    new = store_new(
        new_ticket_row(ticket, delivery_id=delivery_id, body_sha256=body_sha256, signed_sha256=signed_sha256)
    )
    if new is not None:
        return Intake(ticket_id=new[0], queued=True, outcome="created", status=TicketStatus.RECEIVED, event_id=new[1])
    # A known ticket or a repeated delivery: look them up.
    seen = find_event(session=session, source=ticket.source, delivery_id=delivery_id)
    if seen is not None:
        if seen.body_sha256 != body_sha256:
            raise DeliveryConflict(
                f"delivery key {delivery_id!r} was used before for another body; send a new key for a new "
                "delivery, or the same body to repeat one"
            )
        return _known(session, seen.ticket_id, "duplicate_delivery", event_id=seen.id)
    if signed_sha256 is not None:
        since = now_utc() - timedelta(seconds=replay_window_s)
        replay = find_signed(session=session, source=ticket.source, signed_sha256=signed_sha256, since=since)
        if replay is not None:
            return _known(session, replay.ticket_id, "duplicate_delivery", event_id=replay.id)
    existing = find_ticket(session=session, source=ticket.source, external_id=ticket.external_id)
    if existing is None:  # removed between the INSERT and this look-up: store it afresh
        return receive_ticket(
            session,
            ticket,
            delivery_id=delivery_id,
            body_sha256=body_sha256,
            is_update=is_update,
            reroute_on_update=reroute_on_update,
            store_new=store_new,
            signed_sha256=signed_sha256,
            replay_window_s=replay_window_s,
        )
    outcome = "known_ticket"
    if is_update and reroute_on_update and _text_changed(existing, ticket):
        existing.subject, existing.body = ticket.subject, ticket.body
        existing.needs_fetch = ticket.needs_fetch
        # In SQL, not from the loaded value: two updates at once must make two revisions, not one.
        existing.revision = Ticket.revision + 1
        existing.status, existing.claimed_at, existing.attempts = TicketStatus.RECEIVED, None, 0
        # The claim of a worker deciding the old revision no longer holds: its decision is dropped.
        existing.claim_token, existing.retry_at = None, None
        outcome = "rerouted"
    elif existing.status == TicketStatus.FAILED:
        # The helpdesk delivered it again: whatever failed may have been fixed, so it gets another chance.
        existing.status, existing.attempts, existing.retry_at, existing.claim_token = (
            TicketStatus.RECEIVED,
            0,
            None,
            None,
        )
        outcome = "requeued"
    event = WebhookEvent(
        source=ticket.source,
        delivery_id=delivery_id,
        body_sha256=body_sha256,
        signed_sha256=signed_sha256,
        ticket_id=existing.id,
        outcome=outcome,
    )
    session.add(event)
    try:
        session.commit()
    except IntegrityError:  # a concurrent delivery of the same event won the race
        session.rollback()
        seen = find_event(session=session, source=ticket.source, delivery_id=delivery_id)
        return _known(session, existing.id, "duplicate_delivery", event_id=seen.id if seen else None)
    if outcome in ("rerouted", "requeued"):
        return Intake(
            ticket_id=existing.id, queued=True, outcome=outcome, status=TicketStatus.RECEIVED, event_id=event.id
        )
    return _known(session, existing.id, outcome, event_id=event.id)


def _text_changed(row: Ticket, ticket: InboundTicket) -> bool:
    return ticket.needs_fetch or (row.subject, row.body) != (ticket.subject, ticket.body)


def _known(session: Session, ticket_id: int | None, outcome: str, *, event_id: int | None = None) -> Intake:
    ticket = get_ticket(session=session, ticket_id=ticket_id) if ticket_id is not None else None
    return Intake(
        ticket_id=ticket_id,
        queued=False,
        outcome=outcome,
        status=ticket.status if ticket else "unknown",
        event_id=event_id,
    )
