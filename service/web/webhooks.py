"""POST /webhooks/<source>: verify on raw bytes, store once, answer 202, enqueue (batched) after commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import NoReturn, cast

from flask import Blueprint, Response, g, jsonify, request, url_for

from service.core.domain import InboundEvent
from service.core.ports import PayloadError
from service.core.signing import SignatureError, verify
from service.intake import flow as intake_flow
from service.runtime import Runtime, runtime
from service.web.errors import ApiError
from service.web.intake import parse_ticket, read_json
from service.writeback import seen

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
MAX_KEY_LENGTH = 128  # webhook_events.delivery_id


def accept(source: str, delivery_id: str | None, *, signed_sha256: str | None = None) -> Response:
    """The tail of our own intake endpoints: validate the generic ticket, then store and enqueue it."""
    ticket = parse_ticket(read_json(request), source=source)
    # Refused now rather than failed at write-back: the helpdesk that receives these tickets could not hold it.
    problem = runtime().writeback_id_problem(source, ticket.external_id)
    if problem is not None:
        raise ApiError(422, f"id: {problem}; TRIAGE_HELPDESK writes these tickets back there")
    event = InboundEvent(ticket=ticket, reason="created", delivery_id=delivery_id)
    return store_and_enqueue(source, event, signed_sha256=signed_sha256)


def dedupe_key(header: str) -> str | None:
    """A sender's delivery or idempotency key; refused when too long, since cutting it could merge two keys."""
    value = request.headers.get(header, "").strip()
    if len(value) > MAX_KEY_LENGTH:
        raise ApiError(400, f"{header} is {len(value)} characters long; at most {MAX_KEY_LENGTH} are accepted")
    return value or None


def store_and_enqueue(source: str, event: InboundEvent, *, signed_sha256: str | None = None) -> Response:
    """Store the delivery and ticket once, enqueue after commit, answer 202 (queued) or 200 (known)."""
    started = time.perf_counter()
    try:
        result = store(runtime(), event, request.get_data(cache=True), signed_sha256=signed_sha256)
    except intake_flow.DeliveryConflict as exc:
        g.intake_outcome = "conflict"
        raise ApiError(422, str(exc)) from None
    g.intake_outcome = result.outcome
    log_delivery(source, event, result, started)
    payload = answer(result, url_for("api.get_ticket", ticket_id=result.ticket_id) if result.ticket_id else None)
    response = jsonify(payload)
    response.status_code = 202 if result.queued else 200
    if result.queued:
        response.headers["Location"] = str(payload["status_url"])
    return response


def store(rt: Runtime, event: InboundEvent, body: bytes, *, signed_sha256: str | None) -> intake_flow.Intake:
    """Store the delivery and its ticket once, and enqueue a new one once it is committed."""
    assert event.ticket is not None
    digest = intake_flow.body_digest(body)
    with rt.db.session() as session:
        if event.is_update:
            # Before the update is taken in: a re-decision it triggers must already keep a person's re-routing.
            seen.note_helpdesk_changes(rt, session, event.ticket)
        result = intake_flow.receive_ticket(
            session,
            event.ticket,
            delivery_id=event.delivery_id or f"sha256:{digest}",
            body_sha256=digest,
            is_update=event.is_update,
            reroute_on_update=rt.settings.reroute_on_update,
            store_new=rt.store_new,
            signed_sha256=signed_sha256,
            replay_window_s=rt.settings.replay_window_s,
        )
    if result.queued:
        assert result.ticket_id is not None
        rt.dispatch(result.ticket_id)
    return result


def log_delivery(source: str, event: InboundEvent, result: intake_flow.Intake, started: float) -> None:
    """One line per stored delivery: ids and outcome only, never the ticket's text or the signature headers."""
    if not log.isEnabledFor(logging.INFO):
        return  # the fields below cost more than the check
    assert event.ticket is not None
    log.info(
        "delivery %s",
        result.outcome,
        extra={
            "source": source,
            "ticket_id": result.ticket_id,
            "event_id": result.event_id,
            "delivery_id": event.delivery_id,
            "external_id": event.ticket.external_id,
            "outcome": result.outcome,
            "queued": result.queued,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        },
    )


def answer(result: intake_flow.Intake, status_url: str | None) -> dict[str, object]:
    """The body of a 202 (queued) or 200 (known) answer to a delivery."""
    return {
        "ticket_id": result.ticket_id,
        "status": result.status,
        "duplicate": result.outcome == "duplicate_delivery",
        "outcome": result.outcome,
        "status_url": status_url,
    }


@bp.post("/generic")
def generic() -> Response:
    rt = runtime()
    secret = rt.settings.webhook_secrets
    if not secret:
        raise ApiError(503, "webhook secret is not configured: set TRIAGE_WEBHOOK_SECRET or TRIAGE_WEBHOOK_SECRET_FILE")
    try:
        verify(
            secret,
            timestamp=request.headers.get("X-Triage-Timestamp"),
            signature=request.headers.get("X-Triage-Signature"),
            body=request.get_data(cache=True),
            tolerance_s=rt.settings.signature_tolerance_s,
        )
    except SignatureError as exc:
        refuse_signature("generic", exc)
    signed = intake_flow.body_digest(request.headers.get("X-Triage-Signature", "").encode())
    return accept("generic", dedupe_key("X-Triage-Delivery"), signed_sha256=signed)


@bp.post("/<source>")
def platform(source: str) -> Response:
    """A helpdesk's own webhook: its signature scheme, its payloads."""
    rt = runtime()
    if source not in rt.integrations.enabled:
        raise ApiError(404, f"no integration {source!r} is enabled here; enable it with TRIAGE_INTEGRATIONS")
    adapter = rt.integrations.webhook_source(source)
    if adapter is None:
        raise ApiError(404, f"{source!r} does not send webhooks")
    # Werkzeug's Headers: a case-insensitive mapping of str to str, which is what adapters look names up in.
    headers = cast(Mapping[str, str], request.headers)
    try:
        adapter.verify(headers, request.get_data(cache=True))
    except SignatureError as exc:
        refuse_signature(source, exc)
    try:
        event = adapter.parse(read_json(request, replace_nul=True), headers)
    except PayloadError as exc:
        raise ApiError(400, f"not a {source} ticket payload: {exc}") from None
    if event.ticket is None:
        g.intake_outcome = "ignored"
        log.info("event ignored: %s", event.reason, extra={"source": source})
        return jsonify({"ignored": True, "reason": event.reason})
    return store_and_enqueue(source, event, signed_sha256=adapter.signed_digest(headers))


def refuse_signature(source: str, exc: SignatureError) -> NoReturn:
    """401 for a missing, forged or stale signature; the log says why, never what the signature was."""
    g.intake_outcome = "bad_signature"
    log.warning("delivery refused: %s", exc, extra={"source": source, "remote_addr": request.remote_addr})
    raise ApiError(401, str(exc))
