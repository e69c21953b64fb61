"""JSON API: submit a ticket, read a ticket's decision with its reason."""

from __future__ import annotations

import hmac
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from service import store
from service.models import Ticket
from service.runtime import Runtime
from service.web.errors import ApiError
from service.web.intake import MAX_TICKET_ID
from service.web.webhooks import accept, dedupe_key

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def require_token(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        rt: Runtime = current_app.extensions["triage"]
        tokens = rt.settings.api_token_list
        if not tokens:
            raise ApiError(503, "API tokens are not configured: set TRIAGE_API_TOKENS or TRIAGE_API_TOKENS_FILE")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "send Authorization: Bearer <token>")
        # Compare against every token so timing does not reveal which one nearly matched.
        matched = False
        for candidate in tokens:
            matched |= hmac.compare_digest(candidate.encode(), token.strip().encode())
        if not matched:
            raise ApiError(401, "API token is not valid")
        return view(*args, **kwargs)

    return wrapper


@bp.post("/tickets")
@require_token
def create_ticket() -> Response:
    return accept("api", dedupe_key("Idempotency-Key"))


@bp.get("/tickets/<int:ticket_id>")
@require_token
def get_ticket(ticket_id: int) -> Response:
    rt: Runtime = current_app.extensions["triage"]
    if ticket_id > MAX_TICKET_ID:  # no row has it, and SQLite cannot even bind it (OverflowError)
        raise ApiError(404, f"no ticket {ticket_id}")
    with rt.db.session() as session:
        ticket = store.get_ticket(session=session, ticket_id=ticket_id)
        if ticket is None:
            raise ApiError(404, f"no ticket {ticket_id}")
        return jsonify(ticket_view(ticket))


@bp.get("/stats")
@require_token
def stats() -> Response:
    """Escalation rate, LLM usage and cost per 1,000 tickets, overall and for the last 24 hours."""
    from datetime import UTC, datetime, timedelta

    rt: Runtime = current_app.extensions["triage"]
    with rt.db.session() as session:
        return jsonify({"all_time": store.llm_stats(session=session),
                        "last_24h": store.llm_stats(session=session, since=datetime.now(UTC) - timedelta(hours=24)),
                        "llm_configured": rt.llm is not None})


def ticket_view(ticket: Ticket) -> dict[str, Any]:
    decision = ticket.decision
    return {
        "id": ticket.id,
        "source": ticket.source,
        "external_id": ticket.external_id,
        "subject": ticket.subject,
        "status": ticket.status,
        "received_at": _iso(ticket.received_at),
        "processed_at": _iso(ticket.processed_at),
        "last_error": ticket.last_error,
        "decision": None if decision is None else {
            "status": decision.status,
            "queue": decision.queue,
            "priority": decision.priority,
            "rule": decision.rule,
            "threshold": decision.threshold,
            "label": decision.label,
            "classifier_label": decision.prediction.label,
            "confidence": decision.prediction.confidence,
            "top_k": [{"label": lab, "score": score} for lab, score in decision.prediction.top_k],
            "model": {"name": decision.prediction.model_name, "version": decision.prediction.model_version},
            "reason": decision.reason.get("reason"),
            "llm": decision.reason.get("llm"),
            "decided_at": _iso(decision.created_at),
            "writebacks": [
                {"target": wb.target, "status": wb.status, "attempts": wb.attempts, "last_error": wb.last_error,
                 "next_attempt_at": _iso(wb.next_attempt_at), "done_at": _iso(wb.done_at)}
                for wb in decision.writebacks
            ],
        },
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
