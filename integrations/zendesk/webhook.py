"""Zendesk intake: verify the webhook signature, turn trigger and event-subscription bodies into tickets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from service.core.domain import InboundEvent, InboundTicket
from service.core.ports import PayloadError, SignatureError
from service.core.signing import any_matches

SOURCE = "zendesk"
_TICKET_NUMBER = re.compile(r"[0-9]{1,19}")
CREATED_EVENTS = {"zen:event-type:ticket.created"}
# Event subscriptions that change what a ticket says; re-routing on them is opt-in (see settings).
UPDATE_EVENTS = {
    "zen:event-type:ticket.comment_added",
    "zen:event-type:ticket.subject_changed",
    "zen:event-type:ticket.description_changed",
}


def verify(
    secret: str | Sequence[str], headers: Mapping[str, str], body: bytes, *, tolerance_s: int, now: float | None = None
) -> None:
    """Check X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(secret, timestamp + body)) and its age; any of
    several secrets is accepted while one is rotated."""
    # Reference: https://developer.zendesk.com/documentation/webhooks/verifying/
    signature = headers.get("X-Zendesk-Webhook-Signature")
    timestamp = headers.get("X-Zendesk-Webhook-Signature-Timestamp")
    if not signature or not timestamp:
        raise SignatureError("missing X-Zendesk-Webhook-Signature or X-Zendesk-Webhook-Signature-Timestamp")

    def expected(key: str) -> bytes:
        return base64.b64encode(hmac.new(key.encode(), timestamp.encode() + body, hashlib.sha256).digest())

    if not any_matches(signature.strip().encode(), expected, secret):
        raise SignatureError("Zendesk signature does not match the body; check the webhook's signing secret")
    try:
        sent = datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SignatureError("X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time") from None
    age = (time.time() if now is None else now) - sent
    if abs(age) > tolerance_s:
        raise SignatureError(f"Zendesk timestamp is {int(age)} s off; the window is {tolerance_s} s (replay?)")


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """Zendesk's id of this invocation: stable across its retries of one event. Never the webhook's own id
    (X-Zendesk-Webhook-Id), which every delivery of the webhook shares: without an invocation id the body hash
    keys the delivery."""
    value = headers.get("X-Zendesk-Webhook-Invocation-Id")
    return value.strip()[:128] if value else None


def parse(payload: Any, headers: Mapping[str, str]) -> InboundEvent:
    """A trigger body, an event subscription, or a ticket object -> an event; anything else is ignored."""
    if not isinstance(payload, dict):
        raise PayloadError("a Zendesk webhook body must be a JSON object")
    event_type = payload.get("type")
    if isinstance(event_type, str) and event_type.startswith("zen:event-type:"):
        return _event_subscription(payload, event_type, headers)
    if isinstance(payload.get("ticket"), dict):
        # Triage's trigger body (docs/zendesk.md) and Zendesk's own ticket objects share this shape.
        kind = str(payload.get("event") or "ticket.created")
        ticket = _ticket(payload["ticket"], requester=payload.get("requester"))
        return InboundEvent(
            ticket=ticket, reason=kind, delivery_id=delivery_id(headers), is_update=kind != "ticket.created"
        )
    for key in ("tickets", "requests", "results"):
        if isinstance(payload.get(key), list):
            return InboundEvent.ignore(
                f"a list of {key} is an export, not a webhook: train from it with `triage train --format zendesk`"
            )
    keys = ", ".join(sorted(payload)[:5]) or "nothing"
    return InboundEvent.ignore(f"not a ticket event (top-level keys: {keys})")


def _event_subscription(payload: dict[str, Any], event_type: str, headers: Mapping[str, str]) -> InboundEvent:
    # Reference: https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/
    if event_type not in CREATED_EVENTS | UPDATE_EVENTS:
        return InboundEvent.ignore(f"{event_type} does not change what a ticket asks for")
    detail = payload.get("detail")
    if not isinstance(detail, dict):
        raise PayloadError(f"{event_type}: 'detail' must be the ticket object")
    ticket = _ticket(detail)
    return InboundEvent(
        ticket=ticket,
        reason=event_type,
        is_update=event_type not in CREATED_EVENTS,
        delivery_id=str(payload.get("id") or "")[:128] or delivery_id(headers),
    )


def ticket_from_api(ticket: dict[str, Any], requester: dict[str, Any] | None) -> InboundTicket:
    """A ticket object from GET /api/v2/tickets/{id} (with its requester side-loaded)."""
    return _ticket(ticket, requester=requester, allow_fetch=False)


def _ticket(t: dict[str, Any], requester: Any = None, *, allow_fetch: bool = True) -> InboundTicket:
    ticket_id = t.get("id")
    # ASCII digits only (str.isdigit also takes "²" and "١"), and no longer than a 64-bit id.
    if isinstance(ticket_id, bool) or not _TICKET_NUMBER.fullmatch(str(ticket_id).strip()):
        raise PayloadError(f"ticket.id must be a Zendesk ticket number, got {_short(ticket_id)}")
    subject = _text(t.get("subject") or t.get("raw_subject") or t.get("title"))
    comment = t.get("comment")
    body = _text(t.get("description")) or (_text(comment.get("body")) if isinstance(comment, dict) else "")
    if not subject and not body and not allow_fetch:
        raise PayloadError(f"Zendesk ticket {ticket_id} has neither subject nor description")
    tags = t.get("tags") or []
    if isinstance(tags, str):  # {{ticket.tags}} renders as a space-separated string
        tags = tags.split()
    elif not isinstance(tags, list):
        raise PayloadError(f"ticket.tags must be a list or a space-separated string, got {_short(tags)}")
    via = t.get("via")
    channel = via.get("channel") if isinstance(via, dict) else via
    who = requester if isinstance(requester, dict) else t.get("requester")
    email = who.get("email") if isinstance(who, dict) else None
    metadata: dict[str, Any] = {
        "channel": channel,
        "zendesk_priority": _lower(t.get("priority")),
        "zendesk_type": _lower(t.get("type")),
        "group_id": t.get("group_id"),
        "requester_id": t.get("requester_id"),
        "brand_id": t.get("brand_id"),
    }
    custom_fields = t.get("custom_fields") or []
    if not isinstance(custom_fields, list):
        raise PayloadError(f"ticket.custom_fields must be a list, got {_short(custom_fields)}")
    for field in custom_fields:
        if isinstance(field, dict) and field.get("value") not in (None, "", []):
            metadata[f"custom_field_{field.get('id')}"] = field["value"]
    return InboundTicket(
        source=SOURCE,
        external_id=str(ticket_id).strip(),
        subject=subject,
        body=body,
        requester=str(email or t.get("requester_id") or "")[:320],
        created_at=_time(t.get("created_at")),
        tags=tuple(str(x) for x in tags if str(x).strip())[:50],
        metadata={k: v for k, v in metadata.items() if v not in (None, "")},
        # A trigger body that carries only the id (the safe template in docs/zendesk.md): fetch the text.
        needs_fetch=not subject and not body,
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
