"""JSON API: submit a ticket, read a ticket's decision with its reason."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, request

from service.escalate.flow import llm_report
from service.review.pages import ticket_view
from service.runtime import runtime
from service.web.errors import ApiError
from service.web.intake import MAX_TICKET_ID
from service.web.webhooks import accept, dedupe_key

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def require_token(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        rt = runtime()
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
    rt = runtime()
    if ticket_id > MAX_TICKET_ID:  # no row has it, and SQLite cannot even bind it (OverflowError)
        raise ApiError(404, f"no ticket {ticket_id}")
    with rt.db.session() as session:
        view = ticket_view(session, ticket_id)
    if view is None:
        raise ApiError(404, f"no ticket {ticket_id}")
    return jsonify(view)


@bp.get("/stats")
@require_token
def stats() -> Response:
    """Escalation rate, LLM usage and cost per 1,000 tickets, overall and for the last 24 hours."""
    rt = runtime()
    with rt.db.session() as session:
        return jsonify(llm_report(rt, session))
