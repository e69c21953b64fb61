"""POST /webhooks/<source>: verify on raw bytes, store once, enqueue after commit, answer 202."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from service import flows
from service.runtime import Runtime
from service.signing import SignatureError, verify
from service.tasks import enqueue, process_ticket
from service.web import metrics
from service.web.errors import ApiError
from service.web.intake import parse_ticket, read_json

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


def accept(source: str, delivery_id: str | None) -> Response:
    """Shared tail of every intake endpoint: parse, store, enqueue, answer."""
    started = time.perf_counter()
    rt: Runtime = current_app.extensions["triage"]
    ticket = parse_ticket(read_json(request), source=source)
    body = request.get_data(cache=True)
    digest = flows.body_digest(body)
    with rt.db.session() as session:
        result = flows.receive_ticket(session, ticket, delivery_id=delivery_id or f"sha256:{digest}",
                                      body_sha256=digest)
    if result.created:
        assert result.ticket_id is not None
        enqueue(process_ticket, result.ticket_id)
    metrics.INTAKE.labels(source=source, outcome=result.outcome).inc()
    metrics.INTAKE_SECONDS.labels(source=source).observe(time.perf_counter() - started)
    payload = {
        "ticket_id": result.ticket_id,
        "status": result.status,
        "duplicate": not result.created,
        "outcome": result.outcome,
        "status_url": url_for("api.get_ticket", ticket_id=result.ticket_id) if result.ticket_id else None,
    }
    response = jsonify(payload)
    response.status_code = 202 if result.created else 200
    if result.created:
        response.headers["Location"] = payload["status_url"]
    return response


@bp.post("/generic")
def generic() -> Response:
    rt: Runtime = current_app.extensions["triage"]
    secret = rt.settings.webhook_secret.reveal()
    if not secret:
        raise ApiError(503, "webhook secret is not configured: set TRIAGE_WEBHOOK_SECRET or "
                            "TRIAGE_WEBHOOK_SECRET_FILE")
    try:
        verify(secret, timestamp=request.headers.get("X-Triage-Timestamp"),
               signature=request.headers.get("X-Triage-Signature"), body=request.get_data(cache=True),
               tolerance_s=rt.settings.signature_tolerance_s)
    except SignatureError as exc:
        metrics.INTAKE.labels(source="generic", outcome="bad_signature").inc()
        raise ApiError(401, str(exc)) from None
    delivery = request.headers.get("X-Triage-Delivery", "").strip()[:128] or None
    return accept("generic", delivery)
