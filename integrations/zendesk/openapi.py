"""Zendesk's webhook in the OpenAPI document: the operation, without the responses every webhook shares."""

from __future__ import annotations

from typing import Any

OPERATION: dict[str, Any] = {
    "summary": "Receive a Zendesk webhook (trigger body or event subscription)",
    "description": "Signed by Zendesk: X-Zendesk-Webhook-Signature is base64(HMAC-SHA256(secret, "
    "timestamp + raw body)). 404 unless zendesk is in TRIAGE_INTEGRATIONS.",
    "parameters": [
        {
            "name": "X-Zendesk-Webhook-Signature",
            "in": "header",
            "required": True,
            "description": "",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9+/]{43}=$"},
        },
        {
            "name": "X-Zendesk-Webhook-Signature-Timestamp",
            "in": "header",
            "required": True,
            "description": "",
            "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"},
        },
    ],
    # Which objects make a ticket is Zendesk's format: anything else gets 200 {ignored}.
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "A trigger body ({event, ticket}) or an event subscription "
                    "({type: zen:event-type:..., detail}).",
                }
            }
        },
    },
}
