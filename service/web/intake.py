"""The documented generic ticket format, and turning a request body into an InboundTicket."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from flask import Request
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from service.core.domain import InboundTicket
from service.web.errors import ApiError

# Whitespace as Python, ECMA-262 and Rust regexes each define it (they disagree), spelled out so that the
# id pattern means the same to us, to the OpenAPI document's readers and to any schema-driven client.
_SPACE = " \t\n\r\f\v\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_ID_PATTERN = f"^[^{_SPACE}\\x00]([^\n\r\u2028\u2029\\x00]*[^{_SPACE}\\x00])?$"
# Postgres text cannot hold NUL, so no string may carry one (read_json names the field that does). Said as
# "not a string with NUL in it" because a "^[^\\x00]*$" pattern next to maxLength 100000 takes schema tools
# seconds to compile.
_NO_NUL = {"not": {"type": "string", "pattern": "\\x00"}}


def _text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, **_NO_NUL}


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
        "id": {
            "description": "The ticket's id in the sending system (unique per source).",
            "oneOf": [
                {"type": "string", "minLength": 1, "maxLength": 128, "pattern": _ID_PATTERN},
                {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
            ],
        },
        "subject": _text(1000),
        "body": _text(100000),
        "requester": {
            "description": "Who asked: an e-mail address or {email, name}.",
            "oneOf": [
                _text(320),
                {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"email": _text(320), "name": _text(200)},
                },
            ],
        },
        "created_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 time the ticket was opened, with its offset (2026-11-30T10:00:00Z).",
        },
        "tags": {"type": "array", "maxItems": 50, "items": _text(100)},
        "metadata": {
            "type": "object",
            "maxProperties": 50,
            "description": "Flat key/value facts used by routing overrides (e.g. tier: vip).",
            "propertyNames": _NO_NUL,
            "additionalProperties": {"type": ["string", "number", "boolean", "null"], **_NO_NUL},
        },
    },
}
MAX_DEPTH = 32
MAX_TICKET_ID = 2**63 - 1  # the largest row id that SQLite and a Postgres bigint hold
# RFC 3339 (what "format": "date-time" means), narrower than what datetime.fromisoformat takes.
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(\.\d+)?([Zz]|[+-]\d\d:\d\d)", re.ASCII)
# The database cannot store NUL (Postgres text) nor unpaired surrogates (they have no UTF-8 encoding).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or parse_date_time(value) is not None


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    # JSON Schema patterns are ECMA-262, where "$" ends the string; Python's "$" also matches before a final
    # newline, which let the id "x\n" through.
    regex = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    if validator.is_type(instance, "string") and not re.search(regex, instance):
        yield ValidationError(f"{_shown(instance)} does not match {pattern!r}")


_VALIDATOR = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})(TICKET_SCHEMA, format_checker=_FORMATS)


def parse_date_time(value: str) -> datetime | None:
    """An RFC 3339 date-time as an aware datetime, or None if it is not one; a leap second reads as :59."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = (match.group(7) or "")[:7], match.group(8).upper()
    if offset != "Z" and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        return None
    # datetime has no leap second; RFC 3339 allows :60, so keep the second before it.
    second = 59 if second == 60 else second
    try:
        return datetime.fromisoformat(
            f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
            f"{fraction}{'+00:00' if offset == 'Z' else offset}"
        )
    except ValueError:
        return None


def read_json(request: Request, *, replace_nul: bool = False) -> Any:
    """Parse the body as UTF-8 JSON or raise a 4xx that says exactly what is wrong.

    NUL in text is refused, or with replace_nul (a vendor's payload, which must not be lost over it) turned
    into U+FFFD; unpaired surrogates are always refused. The database can store neither.
    """
    if request.mimetype != "application/json":
        raise ApiError(415, f"Content-Type must be application/json, got {request.mimetype or 'none'!r}")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, f"JSON must be UTF-8 (RFC 8259); charset={charset[:40]!r} is not accepted")
    return parse_json(request.get_data(cache=True), replace_nul=replace_nul)


def parse_json(raw: bytes, *, replace_nul: bool = False) -> Any:
    """The body as JSON, or a 400 that says exactly what is wrong with it (see read_json)."""
    if not raw:
        raise ApiError(400, "request body is empty; send a JSON ticket")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"body is not valid UTF-8 (byte {exc.start})") from None
    if _nesting(text) > MAX_DEPTH:
        raise ApiError(400, f"JSON is nested deeper than {MAX_DEPTH} levels")
    try:
        payload = json.loads(
            text, object_pairs_hook=_object, parse_constant=_constant, parse_float=_float, parse_int=_int
        )
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return _storable(payload, "", replace_nul=replace_nul)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # One body must mean one thing: on duplicate keys parsers disagree about which value wins.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ApiError(400, f"malformed JSON: duplicate key {_shown(key)} in an object")
            seen.add(key)
    return obj


def _constant(name: str) -> Any:
    raise ApiError(400, f"malformed JSON: {name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ApiError(400, f"number {text[:40]} is out of range (beyond a 64-bit float)")
    return value


def _int(text: str) -> int:
    # int() refuses over 4300 digits with a ValueError that json.loads lets through as is (a 500).
    if len(text) > 1000:
        raise ApiError(400, f"number {text[:20]}… has {len(text)} digits; integers that long are not accepted")
    return int(text)


def _storable(value: Any, path: str, *, replace_nul: bool) -> Any:
    """The payload with every string checked (recursion is bounded by MAX_DEPTH)."""
    if isinstance(value, str):
        return _text_at(value, path or "(body)", replace_nul=replace_nul)
    if isinstance(value, list):
        return [
            _storable(item, f"{path}/{i}" if path else str(i), replace_nul=replace_nul) for i, item in enumerate(value)
        ]
    if isinstance(value, dict):
        return {
            _text_at(key, f"{path}/{key}" if path else key, replace_nul=replace_nul, key=True): _storable(
                item, f"{path}/{key}" if path else key, replace_nul=replace_nul
            )
            for key, item in value.items()
        }
    return value


def _text_at(text: str, path: str, *, replace_nul: bool, key: bool = False) -> str:
    if _UNSTORABLE.search(text) is None:
        return text
    surrogate = _SURROGATE.search(text)
    if surrogate is None and replace_nul:
        return text.replace("\x00", "\ufffd")
    what = (
        f"unpaired surrogate \\u{ord(surrogate.group()):04x} is not valid Unicode (an astral character "
        "needs both halves)"
        if surrogate
        else "NUL (\\u0000) is not allowed in text"
    )
    where = _shown(_UNSTORABLE.sub("\ufffd", path))
    raise ApiError(400, f"{'the key ' if key else ''}{where}: {what}")


def _shown(text: str) -> str:
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


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


_ID_SHAPE = re.compile(_ID_PATTERN[:-1] + r"\Z")  # "$" as ECMA-262 reads it (see _ecma_pattern)
_PLAIN_TEXT = {"subject": 1000, "body": 100000, "requester": 320}


def plainly_valid(payload: Any) -> bool:
    """True only for tickets TICKET_SCHEMA accepts, in the shape nearly every sender uses (id, subject, body,
    a requester address, tags); anything else, valid or not, goes through the full validator.

    The full validator cost about a tenth of an intake request's CPU; this costs a few microseconds.
    """
    if type(payload) is not dict or not payload.keys() <= _PLAIN_FIELDS:
        return False
    ticket_id = payload.get("id")
    if type(ticket_id) is str:
        if not (len(ticket_id) <= 128 and _ID_SHAPE.match(ticket_id)):
            return False
    elif type(ticket_id) is not int or not 0 <= ticket_id <= MAX_TICKET_ID:
        return False
    for name, longest in _PLAIN_TEXT.items():
        value = payload.get(name, "")
        if type(value) is not str or len(value) > longest or "\x00" in value:
            return False
    if not (payload.get("subject") or payload.get("body")):
        return False
    tags = payload.get("tags", [])
    return (
        type(tags) is list
        and len(tags) <= 50
        and all(type(t) is str and len(t) <= 100 and "\x00" not in t for t in tags)
    )


_PLAIN_FIELDS = {"id", "subject", "body", "requester", "tags"}


def parse_ticket(payload: Any, *, source: str) -> InboundTicket:
    """Validate against TICKET_SCHEMA; list every problem with its JSON path."""
    errors = (
        [] if plainly_valid(payload) else sorted(_VALIDATOR.iter_errors(payload), key=lambda e: list(e.absolute_path))
    )
    if errors:
        problems = [f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {_message(e)}" for e in errors]
        raise ApiError(400, "invalid ticket: " + "; ".join(problems[:10]), errors=problems[:50])
    created_at = parse_date_time(payload["created_at"]) if "created_at" in payload else None
    requester = payload.get("requester", "")
    if isinstance(requester, dict):
        requester = requester.get("email") or requester.get("name") or ""
    ticket_id = payload["id"]
    # JSON Schema counts 1e3 as an integer; store it as the id 1000, not "1000.0".
    external_id = str(int(ticket_id)) if isinstance(ticket_id, float) else str(ticket_id)
    return InboundTicket(
        source=source,
        external_id=external_id,
        subject=payload.get("subject", ""),
        body=payload.get("body", ""),
        requester=requester,
        created_at=created_at,
        tags=tuple(payload.get("tags", [])),
        metadata=dict(payload.get("metadata", {})),
    )


def _message(error: Any) -> str:
    if error.validator == "anyOf" and not error.absolute_path:
        return "needs a non-empty subject or body"
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "additionalProperties":
        return error.message.replace("were unexpected", "are not fields of a ticket").replace(
            "was unexpected", "is not a field of a ticket"
        )
    if error.validator == "oneOf" and error.absolute_path and error.absolute_path[-1] == "id":
        return "must be a non-empty string (no surrounding spaces, ≤128 chars) or an integer from 0 to 2^63-1"
    if error.validator == "format" and error.validator_value == "date-time":
        return f"{_shown(str(error.instance))} is not an RFC 3339 date-time with an offset, like 2026-11-30T10:00:00Z"
    return str(error.message)[:200]
