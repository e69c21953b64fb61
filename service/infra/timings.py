"""Stage timings, stored with the tickets so that /metrics counts every process's work."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from service.infra.models import StageTiming


def timed(session: Session, ticket_id: int, stage: str, started: float) -> float:
    """Store how long a stage has taken since `started` (for /metrics) and return it in milliseconds."""
    took = round((time.perf_counter() - started) * 1000, 3)
    session.add(StageTiming(ticket_id=ticket_id, stage=stage, duration_ms=took))
    return took
