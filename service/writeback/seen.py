"""What the helpdesk shows after our write-backs: a person's re-routing there, noted from its next webhook."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from service.core.domain import InboundTicket, WritebackStatus
from service.infra.models import Correction
from service.intake.queries import find_ticket
from service.review.corrections import note_helpdesk_routing
from service.runtime import NO_HELPDESK, Runtime
from service.writeback.flow import writeback_request
from service.writeback.queries import ticket_writebacks

log = logging.getLogger(__name__)

# While one of these is on its way, the helpdesk may not show our routing yet: a difference means nothing.
_IN_FLIGHT = (WritebackStatus.PENDING, WritebackStatus.SENDING, WritebackStatus.RETRYING)


def note_helpdesk_changes(runtime: Runtime, session: Session, inbound: InboundTicket) -> list[Correction]:
    """Hold the queue or priority a person set in the helpdesk, when an update's webhook shows one that differs
    from what our last delivered write-back set there; commits what it records. Never fails the delivery."""
    try:
        return _note(runtime, session, inbound)
    except Exception:  # the update must still be taken in: losing a correction beats losing a delivery
        session.rollback()
        log.exception("could not compare the helpdesk's routing with ours", extra={"source": inbound.source})
        return []


def _note(runtime: Runtime, session: Session, inbound: InboundTicket) -> list[Correction]:
    target = runtime.helpdesk_for(inbound.source)
    if target == NO_HELPDESK:
        return []
    shown = runtime.integrations.helpdesk(target).routing_shown(inbound)
    if not shown:
        return []
    ticket = find_ticket(session=session, source=inbound.source, external_id=inbound.external_id)
    if ticket is None:
        return []
    writebacks = ticket_writebacks(session=session, ticket_id=ticket.id)
    delivered = [wb for wb in writebacks if wb.status == WritebackStatus.DONE]
    if not delivered or any(wb.status in _IN_FLIGHT for wb in writebacks):
        return []
    newest = max(delivered, key=lambda wb: (wb.done_at or wb.updated_at, wb.id))
    last = writeback_request(session, newest, review_queue=runtime.rules.review_queue)
    written = {"queue": last.queue, "priority": last.priority}
    seen = {}
    for field, names in shown.items():
        # A value shared by several of ours that includes what we wrote is no change; otherwise it must name one.
        if written.get(field) not in names and len(names) == 1:
            seen[field] = next(iter(names))
    corrections = note_helpdesk_routing(session, ticket, seen=seen, written=written, helpdesk=target)
    session.commit()
    return corrections
