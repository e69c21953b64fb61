"""The OpenAPI 3.1 document for the API and webhook endpoints, built from the same schema we validate."""

from __future__ import annotations

from typing import Any

from integrations.catalog import openapi_operations
from service.web.intake import MAX_TICKET_ID, TICKET_SCHEMA

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_JSON = "application/json"
_TEXT = {"type": "string"}


def _problems(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed JSON, text the database cannot store, or an invalid ticket (detail says which)",
        401: "Missing or invalid signature / token",
        404: "Not found, or the integration is not enabled",
        405: "Method not allowed",
        413: "Body too large",
        415: "Not application/json (UTF-8)",
        429: "Too many requests from this address; Retry-After says when to come back",
        422: "The delivery key was used before for another body, or the id cannot be a ticket of the helpdesk "
        "that receives the write-back",
        503: "Not configured, or a dependency is down",
    }
    return {
        str(c): {"description": text[c], "content": {"application/problem+json": {"schema": _PROBLEM}}} for c in codes
    }


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _header(name: str, pattern: str, *, required: bool = True, description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string", "pattern": pattern},
    }


_INTAKE_RESPONSES = {
    "202": _json("Accepted", "Stored and queued"),
    "200": _json("Accepted", "Already received; not processed again"),
}
# A helpdesk's own webhook: an object that is not a ticket event gets 200 {ignored}, a ticket event the service
# cannot read (no id, no text) gets 400. Each integration describes its operation (integrations/*/openapi.py).
_VENDOR_RESPONSES = {
    **_INTAKE_RESPONSES,
    "200": {
        "description": "Already received, or ignored (not a ticket event)",
        "content": {
            _JSON: {
                "schema": {
                    "oneOf": [{"$ref": "#/components/schemas/Accepted"}, {"$ref": "#/components/schemas/Ignored"}]
                }
            }
        },
    },
    **_problems(400, 401, 404, 413, 415, 422),
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Triage",
            "version": "1",
            "description": "Ticket classification and routing. Intake answers at once; decisions "
            "follow asynchronously at the status URL. Every error is "
            "application/problem+json whose detail says what is wrong.",
        },
        "paths": {
            "/webhooks/generic": {
                "post": {
                    "summary": "Receive a signed ticket",
                    "description": "X-Triage-Signature is sha256=hex(HMAC-SHA256(secret, timestamp + '.' + "
                    "raw body)); X-Triage-Timestamp is Unix seconds within the replay window. "
                    "X-Triage-Delivery (optional) deduplicates retries; without it the body "
                    "hash does.",
                    "parameters": [
                        _header("X-Triage-Signature", "^sha256=[0-9a-f]{64}$"),
                        _header("X-Triage-Timestamp", "^[0-9]{1,12}$"),
                        {"name": "X-Triage-Delivery", "in": "header", "schema": {"type": "string", "maxLength": 128}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Ticket"}}},
                    },
                    "responses": {**_INTAKE_RESPONSES, **_problems(400, 401, 413, 415, 422, 503)},
                }
            },
            **{
                f"/webhooks/{name}": {"post": {**operation, "responses": _VENDOR_RESPONSES}}
                for name, operation in openapi_operations().items()
            },
            "/api/v1/tickets": {
                "post": {
                    "summary": "Submit a ticket",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 128}}
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Ticket"}}},
                    },
                    "responses": {**_INTAKE_RESPONSES, **_problems(400, 401, 413, 415, 422, 503)},
                }
            },
            "/api/v1/tickets/{ticket_id}": {
                "get": {
                    "summary": "A ticket with its decision and the reason for it",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {
                            "name": "ticket_id",
                            "in": "path",
                            "required": True,
                            "example": 1,
                            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_TICKET_ID},
                        }
                    ],
                    "responses": {"200": _json("TicketView", "The ticket"), **_problems(401, 404, 503)},
                }
            },
            "/api/v1/stats": {
                "get": {
                    "summary": "Escalation rate, LLM usage and cost per 1,000 tickets, overall and for 24 hours",
                    "security": [{"bearer": []}],
                    "responses": {"200": _json("Stats", "The numbers"), **_problems(401, 503)},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {
                        "200": {
                            "description": "Alive",
                            "content": {
                                _JSON: {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status"],
                                        "properties": {"status": {"const": "ok"}},
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Database and broker reachable (bearer TRIAGE_METRICS_TOKEN, or the ops app)",
                    "responses": {
                        "200": _json("Readiness", "Ready"),
                        "503": _json("Readiness", "Not ready; checks say which"),
                        **_problems(401, 404, 429),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (bearer TRIAGE_METRICS_TOKEN, or the ops app)",
                    "responses": {
                        "200": {
                            "description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": _TEXT}},
                        },
                        **_problems(401, 404, 429),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": {_JSON: {"schema": {"type": "object"}}}}
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Ticket": TICKET_SCHEMA,
                "Accepted": {
                    "type": "object",
                    "required": ["ticket_id", "status", "duplicate", "status_url"],
                    "properties": {
                        "ticket_id": {"type": "integer"},
                        "status": _TEXT,
                        "duplicate": {"type": "boolean"},
                        "outcome": _TEXT,
                        "status_url": _TEXT,
                    },
                },
                "Ignored": {
                    "type": "object",
                    "required": ["ignored", "reason"],
                    "properties": {"ignored": {"const": True}, "reason": _TEXT},
                },
                "Problem": {
                    "type": "object",
                    "required": ["status", "title", "detail"],
                    "properties": {
                        "status": {"type": "integer"},
                        "title": _TEXT,
                        "detail": _TEXT,
                        "errors": {"type": "array", "items": _TEXT},
                    },
                },
                "Readiness": {
                    "type": "object",
                    "required": ["status", "checks"],
                    "properties": {
                        "status": {"enum": ["ready", "not ready"]},
                        "checks": {"type": "object", "additionalProperties": _TEXT},
                    },
                },
                "TicketView": _TICKET_VIEW,
                "Stats": {
                    "type": "object",
                    "required": ["all_time", "last_24h", "llm_configured"],
                    "properties": {
                        "all_time": _LLM_STATS,
                        "last_24h": _LLM_STATS,
                        "llm_configured": {"type": "boolean"},
                    },
                },
            },
        },
    }


_NULLABLE_TEXT = {"type": ["string", "null"]}
_NUMBER = {"type": "number"}
_COUNT = {"type": "integer", "minimum": 0}
_LLM_STATS = {
    "type": "object",
    "required": [
        "decided",
        "escalated",
        "escalation_rate",
        "llm_calls",
        "tokens_in",
        "tokens_out",
        "llm_cost",
        "llm_mean_latency_ms",
        "cost_per_1000_tickets",
        "llm_reviewed",
        "llm_accuracy_on_reviewed",
    ],
    "properties": {
        "decided": _COUNT,
        "escalated": _COUNT,
        "escalation_rate": _NUMBER,
        "llm_calls": _COUNT,
        "tokens_in": _COUNT,
        "tokens_out": _COUNT,
        "llm_cost": _NUMBER,
        "llm_mean_latency_ms": {"type": ["number", "null"]},
        "cost_per_1000_tickets": _NUMBER,
        "llm_reviewed": _COUNT,
        "llm_accuracy_on_reviewed": {"type": ["number", "null"]},
    },
}
_DECISION = {
    "type": "object",
    "required": [
        "status",
        "queue",
        "priority",
        "label",
        "classifier_label",
        "confidence",
        "top_k",
        "model",
        "decided_at",
        "writebacks",
    ],
    "properties": {
        "status": _TEXT,
        "queue": _TEXT,
        "priority": _TEXT,
        "rule": _NULLABLE_TEXT,
        "threshold": {"type": ["number", "null"]},
        "label": _TEXT,
        "classifier_label": _TEXT,
        "confidence": _NUMBER,
        "top_k": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["label", "score"],
                "properties": {"label": _TEXT, "score": _NUMBER},
            },
        },
        "model": {"type": "object", "required": ["name", "version"], "properties": {"name": _TEXT, "version": _TEXT}},
        "reason": _NULLABLE_TEXT,
        "language_gate": _NULLABLE_TEXT,
        # The priority model's answer (null without one) and whether it or the rules set the priority.
        "priority_model": {
            "type": ["object", "null"],
            "properties": {
                "priority": _TEXT,
                "confidence": _NUMBER,
                "cutoff": {"type": ["number", "null"]},
                "model": _TEXT,
            },
        },
        "priority_from": {"type": ["string", "null"], "enum": ["model", "rules", None]},
        "llm": {"type": ["object", "null"]},
        # The most similar earlier tickets when it was decided (null: it looked for none) and the near-duplicate.
        "similar": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["ticket_id", "similarity"],
                "properties": {"ticket_id": _COUNT, "similarity": _NUMBER},
            },
        },
        "duplicate_of": {
            "type": ["object", "null"],
            "properties": {
                "ticket_id": _COUNT,
                "source": _TEXT,
                "external_id": _TEXT,
                "subject": _TEXT,
                "similarity": _NUMBER,
                "why": {"type": "string", "enum": ["same requester", "still open"]},
            },
        },
        "decided_at": _NULLABLE_TEXT,
        "writebacks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["target", "status", "attempts"],
                "properties": {
                    "target": _TEXT,
                    "status": _TEXT,
                    "attempts": _COUNT,
                    "last_error": _NULLABLE_TEXT,
                    "next_attempt_at": _NULLABLE_TEXT,
                    "done_at": _NULLABLE_TEXT,
                },
            },
        },
    },
}
_TICKET_VIEW = {
    "type": "object",
    "required": [
        "id",
        "source",
        "external_id",
        "subject",
        "status",
        "received_at",
        "processed_at",
        "last_error",
        "held",
        "corrections",
        "decision",
    ],
    "properties": {
        "id": {"type": "integer"},
        "source": _TEXT,
        "external_id": _TEXT,
        "subject": _TEXT,
        "status": _TEXT,
        "received_at": _NULLABLE_TEXT,
        "processed_at": _NULLABLE_TEXT,
        "last_error": _NULLABLE_TEXT,
        "language": {
            "type": ["string", "null"],
            "description": "ISO 639-1 code of the ticket's detected language; null: not detected (too short to tell)",
        },
        "held": {"type": "object", "description": "label, queue or priority a person set; later decisions keep them"},
        "corrections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["origin", "actor", "field", "from", "to", "at"],
                "properties": {
                    "origin": {"type": "string", "enum": ["review", "helpdesk"]},
                    "actor": _TEXT,
                    "field": _TEXT,
                    "from": _TEXT,
                    "to": _TEXT,
                    "at": _NULLABLE_TEXT,
                },
            },
        },
        "decision": {"oneOf": [{"type": "null"}, _DECISION]},
    },
}
