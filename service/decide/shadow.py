"""The shadow model's predictions beside the served model's: recorded, never routed or written back."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from service.decide.normalize import model_text
from service.infra.models import PredictionRow, Ticket
from service.runtime import Runtime

log = logging.getLogger(__name__)


def shadow_predict(runtime: Runtime, session: Session, tickets: list[Ticket]) -> None:
    """Record the shadow model's predictions (role "shadow"): no decision, so never routed or written back."""
    try:
        model = runtime.shadow.get()
    except Exception as exc:  # a candidate that cannot load must never cost a ticket its decision
        log.warning("shadow model cannot be loaded (%s); tickets decided without shadow predictions", exc)
        return
    if model is None:
        return
    try:
        predictions = model.predict([model_text(t.subject, t.body, t.source, t.meta) for t in tickets], top_k=3)
    except Exception:  # a failing candidate must never cost a ticket its decision
        log.exception(
            "shadow model %s@%s failed; tickets decided without shadow predictions",
            model.name,
            model.version,
            extra={"ticket_ids": [t.id for t in tickets], "stage": "shadow"},
        )
        return
    for ticket, p in zip(tickets, predictions, strict=True):
        session.add(
            PredictionRow(
                ticket_id=ticket.id,
                model_name=p.model_name,
                model_version=p.model_version,
                label=p.label,
                confidence=p.confidence,
                latency_ms=p.latency_ms,
                top_k=[[lab, score] for lab, score in p.top_k],
                role="shadow",
            )
        )
