"""What the beat's sweep puts back in the queue: tickets and write-backs that should be there."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.decide.flow import stalled_tickets
from service.runtime import Runtime
from service.writeback.flow import due_writebacks


def stragglers(runtime: Runtime, session: Session) -> tuple[list[int], list[int]]:
    """Tickets and write-backs that should be in the queue but may not be; safe to enqueue twice."""
    now = now_utc()
    return stalled_tickets(runtime, session, now=now), due_writebacks(runtime, session, now=now)
