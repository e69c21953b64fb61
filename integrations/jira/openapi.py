"""Jira's webhook in the OpenAPI document: the operation, without the responses every webhook shares."""

from __future__ import annotations

from typing import Any

OPERATION: dict[str, Any] = {
    "summary": "Receive a Jira webhook (issue created or updated)",
    "description": "Signed by Jira: X-Hub-Signature is sha256=hex(HMAC-SHA256(secret, raw body)). "
    "404 unless jira is in TRIAGE_INTEGRATIONS.",
    "parameters": [
        {
            "name": "X-Hub-Signature",
            "in": "header",
            "required": True,
            "description": "",
            "schema": {"type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["webhookEvent"],
                    "description": "A Jira webhook event; "
                    "jira:issue_created and jira:issue_updated carry the issue, every other event is ignored.",
                    "properties": {"webhookEvent": {"type": "string", "minLength": 1}},
                }
            }
        },
    },
}
