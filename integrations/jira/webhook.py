"""Jira intake: verify X-Hub-Signature, turn issue events (Server and Cloud shapes) into tickets."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from service.core.domain import InboundEvent, InboundTicket
from service.core.ports import PayloadError, SignatureError
from service.core.signing import any_matches

SOURCE = "jira"
ISSUE_EVENTS = {"jira:issue_created": False, "jira:issue_updated": True}  # event -> is an update


def verify(
    secret: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    window_s: int = 24 * 3600,
    now: float | None = None,
) -> None:
    """Check `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>` (Jira Cloud admin webhooks), and that
    the event time the signed body carries is within `window_s`, which bounds replays: Jira signs no header. Any of
    several secrets is accepted while one is rotated."""
    # Reference: https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks
    signature = headers.get("X-Hub-Signature")
    if not signature:
        raise SignatureError("missing X-Hub-Signature header; set the webhook's secret in Jira")
    method, _, received = signature.strip().partition("=")
    if method != "sha256" or not received:
        raise SignatureError("X-Hub-Signature must be sha256=<hex>")

    def expected(key: str) -> bytes:
        return hmac.new(key.encode(), body, hashlib.sha256).hexdigest().encode()

    if not any_matches(received.lower().encode(), expected, secret):
        raise SignatureError("Jira signature does not match the body; check the webhook's secret")
    sent = _event_time(body)
    if sent is not None:
        age = (time.time() if now is None else now) - sent
        if abs(age) > window_s:
            raise SignatureError(
                f"the signed event time is {int(age)} s off; deliveries older than {window_s} s are refused "
                "(TRIAGE_REPLAY_WINDOW_S)"
            )


def _event_time(body: bytes) -> float | None:
    """The body's `timestamp` (milliseconds since the epoch) in seconds; None when there is none to read.

    A body that is not a JSON object is left to parse(), which refuses it with its own message.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # a nesting bomb too: parse() refuses it with its own message
        return None
    value = payload.get("timestamp") if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) / 1000


def delivery_id(headers: Mapping[str, str]) -> str | None:
    value = headers.get("X-Atlassian-Webhook-Identifier")
    return value.strip()[:128] if value else None


def parse(payload: Any, headers: Mapping[str, str]) -> InboundEvent:
    """An issue created/updated event -> a ticket; comments, links, projects and the rest are ignored."""
    if not isinstance(payload, dict):
        raise PayloadError("a Jira webhook body must be a JSON object")
    event = payload.get("webhookEvent")
    if not isinstance(event, str) or not event:
        raise PayloadError("missing webhookEvent: is this a Jira webhook?")
    if event not in ISSUE_EVENTS:
        return InboundEvent.ignore(f"{event} is not a new or changed issue; nothing to classify")
    issue = payload.get("issue")
    if not isinstance(issue, dict) or not isinstance(issue.get("fields"), dict):
        raise PayloadError(f"{event}: 'issue' with 'fields' is missing")
    kind = payload.get("issue_event_type_name") or event
    return InboundEvent(
        ticket=_ticket(issue), reason=str(kind), delivery_id=delivery_id(headers), is_update=ISSUE_EVENTS[event]
    )


def ticket_from_issue(issue: dict[str, Any]) -> InboundTicket:
    """An issue from GET /rest/api/2/issue/{key} or a search result."""
    if not isinstance(issue, dict) or not isinstance(issue.get("fields"), dict):
        raise PayloadError("an issue needs 'key' and 'fields'")
    return _ticket(issue)


def _ticket(issue: dict[str, Any]) -> InboundTicket:
    key = issue.get("key")
    # Keys are short (a project key, a dash, a number); a long one would not fit the external id either.
    if not isinstance(key, str) or "-" not in key or len(key) > 128 or key != key.strip():
        shown = repr(key) if len(repr(key)) <= 60 else repr(key)[:60] + "…"
        raise PayloadError(f"issue.key must be a Jira issue key like ABC-123, got {shown}")
    fields = issue["fields"]
    subject = fields.get("summary") if isinstance(fields.get("summary"), str) else ""
    body = adf_text(fields.get("description"))
    if not subject.strip() and not body.strip():
        raise PayloadError(f"Jira issue {key} has neither summary nor description")
    person = fields.get("reporter") or fields.get("creator") or {}
    # Key on ids, never display names: types and statuses are localised ("Tarea", "К выполнению").
    metadata = {
        "issue_id": issue.get("id"),
        "project": _get(fields, "project", "key"),
        "project_id": _get(fields, "project", "id"),
        "issuetype_id": _get(fields, "issuetype", "id"),
        # The name as well, which the models read (integrations/catalog.py); exports give names, not ids.
        "issuetype": _get(fields, "issuetype", "name"),
        "status_id": _get(fields, "status", "id"),
        "jira_priority_id": _get(fields, "priority", "id"),
        "components": ",".join(str(c.get("id")) for c in _list(fields.get("components")) if isinstance(c, dict)),
        # Names too, for mappings that name components and priorities rather than give their ids.
        "component_names": "\n".join(
            str(c.get("name")) for c in _list(fields.get("components")) if isinstance(c, dict)
        ),
        "jira_priority": _get(fields, "priority", "name"),
    }
    return InboundTicket(
        source=SOURCE,
        external_id=key,
        subject=subject.strip(),
        body=body.strip(),
        requester=str(_person(person))[:320],
        created_at=_time(fields.get("created")),
        tags=tuple(str(label) for label in _list(fields.get("labels")))[:50],
        metadata={k: v for k, v in metadata.items() if v not in (None, "")},
    )


def _person(person: Any) -> str:
    """Server users have name/key (and often an e-mail); Cloud users only an accountId."""
    if not isinstance(person, dict):
        return ""
    return str(person.get("emailAddress") or person.get("accountId") or person.get("name") or person.get("key") or "")


def adf_text(value: Any) -> str:
    """Descriptions are wiki text in REST v2 and Atlassian Document Format (a tree) in v3: flatten both."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("text", "") if value.get("type") == "text" else ""
        parts = [adf_text(child) for child in _list(value.get("content"))]
        sep = "\n" if value.get("type") in ("doc", "bulletList", "orderedList") else " "
        return (text + sep.join(p for p in parts if p)).strip()
    if isinstance(value, list):
        return "\n".join(adf_text(v) for v in value)
    return ""


def _list(value: Any) -> list[Any]:
    """An optional list field; anything else (null, a number, an object) reads as empty, like a missing field."""
    return value if isinstance(value, list) else []


def _get(fields: dict[str, Any], name: str, key: str) -> Any:
    value = fields.get(name)
    return value.get(key) if isinstance(value, dict) else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
