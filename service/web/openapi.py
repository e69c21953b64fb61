"""The OpenAPI 3.1 document for the API and webhook endpoints, built from the same schema we validate."""

from __future__ import annotations

from typing import Any

from service.web.intake import TICKET_SCHEMA

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _problems(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed JSON or an invalid ticket", 401: "Missing or invalid signature / token",
            404: "Not found", 413: "Body too large", 415: "Not application/json",
            503: "Not configured, or a dependency is down"}
    return {str(c): {"description": text[c], "content": {"application/problem+json": {"schema": _PROBLEM}}}
            for c in codes}


_ACCEPTED = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Triage", "version": "1",
                 "description": "Ticket classification and routing. Intake answers at once; decisions "
                                "follow asynchronously at the status URL."},
        "paths": {
            "/webhooks/generic": {"post": {
                "summary": "Receive a signed ticket",
                "description": "X-Triage-Signature is sha256=hex(HMAC-SHA256(secret, timestamp + '.' + "
                               "raw body)); X-Triage-Timestamp is Unix seconds within the replay window. "
                               "X-Triage-Delivery (optional) deduplicates retries; without it the body "
                               "hash does.",
                "parameters": [
                    {"name": "X-Triage-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
                    {"name": "X-Triage-Timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
                    {"name": "X-Triage-Delivery", "in": "header", "schema": {"type": "string", "maxLength": 128}},
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Ticket"}}}},
                "responses": {"202": {"description": "Stored and queued", **_ACCEPTED},
                              "200": {"description": "Already received; not processed again", **_ACCEPTED},
                              **_problems(400, 401, 413, 415, 503)},
            }},
            "/api/v1/tickets": {"post": {
                "summary": "Submit a ticket",
                "security": [{"bearer": []}],
                "parameters": [{"name": "Idempotency-Key", "in": "header",
                                "schema": {"type": "string", "maxLength": 128}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Ticket"}}}},
                "responses": {"202": {"description": "Stored and queued", **_ACCEPTED},
                              "200": {"description": "Already received", **_ACCEPTED},
                              **_problems(400, 401, 413, 415, 503)},
            }},
            "/api/v1/tickets/{ticket_id}": {"get": {
                "summary": "A ticket with its decision and the reason for it",
                "security": [{"bearer": []}],
                "parameters": [{"name": "ticket_id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "The ticket", "content": {"application/json": {
                    "schema": {"type": "object"}}}}, **_problems(401, 404)},
            }},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "Alive"}}}},
            "/readyz": {"get": {"summary": "Database and broker reachable",
                                "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Ticket": TICKET_SCHEMA,
                "Accepted": {"type": "object", "required": ["ticket_id", "status", "duplicate", "status_url"],
                             "properties": {"ticket_id": {"type": "integer"}, "status": {"type": "string"},
                                            "duplicate": {"type": "boolean"}, "outcome": {"type": "string"},
                                            "status_url": {"type": "string"}}},
                "Problem": {"type": "object", "properties": {"status": {"type": "integer"},
                                                             "title": {"type": "string"},
                                                             "detail": {"type": "string"}}},
            },
        },
    }
