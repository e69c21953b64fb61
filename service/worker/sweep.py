"""What the beat's sweep puts back in the queue: tickets and write-backs that should be there."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.decide.queries import stalled_ticket_ids
from service.runtime import Runtime
from service.writeback.queries import due_writeback_ids

log = logging.getLogger(__name__)


def stragglers(runtime: Runtime, session: Session) -> tuple[list[int], list[int]]:
    """Tickets and write-backs that should be in the queue but may not be; safe to enqueue twice."""
    now = now_utc()
    grace = now - timedelta(seconds=min(30, runtime.settings.sweep_interval_s))
    stale = now - timedelta(seconds=runtime.settings.claim_lease_s)
    tickets = stalled_ticket_ids(session=session, received_before=grace, stale_before=stale)
    writebacks = due_writeback_ids(session=session, now=now, created_before=grace, stale_before=stale)
    return tickets, writebacks
