"""Build signed generic webhooks, as the fake helpdesk (or any sender) would send them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from service.signing import sign


def signed_delivery(secret: str, ticket: dict[str, Any], *, delivery_id: str | None = None,
                    timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one POST /webhooks/generic."""
    body = json.dumps(ticket, separators=(",", ":")).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return body, {
        "Content-Type": "application/json",
        "X-Triage-Timestamp": ts,
        "X-Triage-Signature": sign(secret, ts, body),
        "X-Triage-Delivery": delivery_id or str(uuid.uuid4()),
    }
