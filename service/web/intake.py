"""The documented generic ticket format, and turning a request body into an InboundTicket."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Request
from jsonschema import Draft202012Validator

from service.domain import InboundTicket
from service.web.errors import ApiError

TICKET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Ticket",
    "description": "A new helpdesk ticket to classify and route.",
    "required": ["id"],
    "anyOf": [
        {"required": ["subject"], "properties": {"subject": {"minLength": 1}}},
        {"required": ["body"], "properties": {"body": {"minLength": 1}}},
    ],
    "additionalProperties": False,
    "properties": {
        "id": {"description": "The ticket's id in the sending system (unique per source).",
               "oneOf": [{"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^\S(.*\S)?$"},
                         {"type": "integer", "minimum": 0}]},
        "subject": {"type": "string", "maxLength": 1000},
        "body": {"type": "string", "maxLength": 100000},
        "requester": {"description": "Who asked: an e-mail address or {email, name}.",
                      "oneOf": [{"type": "string", "maxLength": 320},
                                {"type": "object", "additionalProperties": False,
                                 "properties": {"email": {"type": "string", "maxLength": 320},
                                                "name": {"type": "string", "maxLength": 200}}}]},
        "created_at": {"type": "string", "format": "date-time",
                       "description": "ISO 8601 time the ticket was opened."},
        "tags": {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 100}},
        "metadata": {"type": "object", "maxProperties": 50, "description": "Flat key/value facts used by "
                     "routing overrides (e.g. tier: vip).",
                     "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
    },
}
_VALIDATOR = Draft202012Validator(TICKET_SCHEMA)
MAX_DEPTH = 32


def read_json(request: Request) -> Any:
    """Parse the body as UTF-8 JSON or raise a 4xx that says exactly what is wrong."""
    if request.mimetype != "application/json":
        raise ApiError(415, f"Content-Type must be application/json, got {request.mimetype or 'none'!r}")
    raw = request.get_data(cache=True)
    if not raw:
        raise ApiError(400, "request body is empty; send a JSON ticket")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"body is not valid UTF-8 (byte {exc.start})") from None
    if _nesting(text) > MAX_DEPTH:
        raise ApiError(400, f"JSON is nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _nesting(text: str) -> int:
    """Bracket depth outside strings, counted without recursion (json.loads would recurse)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_ticket(payload: Any, *, source: str) -> InboundTicket:
    """Validate against TICKET_SCHEMA; list every problem with its JSON path."""
    errors = sorted(_VALIDATOR.iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        problems = [f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {_message(e)}" for e in errors]
        raise ApiError(400, "invalid ticket: " + "; ".join(problems[:10]), errors=problems[:50])
    created_at = None
    if "created_at" in payload:
        try:
            created_at = datetime.fromisoformat(payload["created_at"].replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, "invalid ticket: created_at: not an ISO 8601 date-time") from None
    requester = payload.get("requester", "")
    if isinstance(requester, dict):
        requester = requester.get("email") or requester.get("name") or ""
    return InboundTicket(
        source=source, external_id=str(payload["id"]), subject=payload.get("subject", ""),
        body=payload.get("body", ""), requester=requester, created_at=created_at,
        tags=tuple(payload.get("tags", [])), metadata=dict(payload.get("metadata", {})),
    )


def _message(error: Any) -> str:
    if error.validator == "anyOf" and not error.absolute_path:
        return "needs a non-empty subject or body"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "additionalProperties":
        return error.message.replace("were unexpected", "are not fields of a ticket").replace(
            "was unexpected", "is not a field of a ticket")
    if error.validator == "oneOf" and error.absolute_path and error.absolute_path[-1] == "id":
        return "must be a non-empty string (no surrounding spaces, ≤128 chars) or a non-negative integer"
    return str(error.message)[:200]
