"""Signing agents in to the review page and giving them decided tickets to review."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from service.infra import queries as infra_queries
from service.infra.models import DecisionRow, PredictionRow, Ticket

PASSWORD = "correct horse battery staple"
SECRET_KEY = "review-test-secret-key-0123456789"


def csrf_token(client: Any, path: str = "/login") -> str:
    """The token a page's forms carry, read from the page as a browser would."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: Any, username: str, password: str = PASSWORD) -> Any:
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


def decided_ticket(
    rt: Any,
    *,
    status: str = "needs_review",
    label: str = "card_arrival",
    confidence: float = 0.4,
    queue: str = "cards",
    priority: str = "normal",
    subject: str = "Where is my card?",
    body: str = "I ordered a card two weeks ago and it has not arrived.",
    model_version: str = "v1",
    decided_at: datetime | None = None,
    external_id: str | None = None,
    source: str = "generic",
) -> int:
    """A ticket with a prediction and a decision exactly as given (no model involved); return its id."""
    when = decided_at or datetime.now(UTC)
    with rt.db.session() as session:
        ticket = Ticket(
            source=source,
            external_id=external_id or f"ext-{datetime.now(UTC).timestamp()}-{label}",
            subject=subject,
            body=body,
            status="decided",
            received_at=when,
            processed_at=when,
        )
        session.add(ticket)
        session.flush()
        if external_id is None:
            ticket.external_id = f"T-{ticket.id}"
        top = [
            [label, confidence],
            ["lost_or_stolen_card", round((1 - confidence) * 0.6, 4)],
            ["exchange_rate", round((1 - confidence) * 0.3, 4)],
        ]
        prediction = PredictionRow(
            ticket_id=ticket.id,
            model_name="baseline",
            model_version=model_version,
            label=label,
            confidence=confidence,
            top_k=top,
            latency_ms=1.0,
            created_at=when,
        )
        session.add(prediction)
        session.flush()
        reason = {
            "status": status,
            "queue": queue,
            "priority": priority,
            "rule": f"label {label!r} -> queue {queue!r}",
            "threshold": 0.45,
            "label": label,
            "confidence": confidence,
            "top_k": [{"label": lab, "score": s} for lab, s in top],
            "model": f"baseline@{model_version}",
            "reason": f"confidence {confidence:.2f} vs threshold 0.45",
        }
        session.add(
            DecisionRow(
                ticket_id=ticket.id,
                revision=1,
                prediction_id=prediction.id,
                queue=queue,
                priority=priority,
                status=status,
                rule=reason["rule"],
                threshold=0.45,
                reason=reason,
                created_at=when,
            )
        )
        session.commit()
        return ticket.id


def decision_id(rt: Any, ticket_id: int) -> int:
    with rt.db.session() as session:
        ticket = infra_queries.get_ticket(session=session, ticket_id=ticket_id)
        assert ticket is not None and ticket.decision is not None
        return ticket.decision.id


def days_ago(n: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=n)
