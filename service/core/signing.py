"""HMAC signatures over raw request bytes, compared in constant time, with a replay window."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

from service.core.ports import SignatureError

__all__ = ["SignatureError", "sign", "signed_delivery", "verify"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Signature header value for a generic webhook: sha256=hex(HMAC(secret, timestamp + '.' + body))."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    tolerance_s: int,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless `signature` is the HMAC of this timestamp and body, and fresh."""
    if not signature:
        raise SignatureError("missing X-Triage-Signature header")
    if not timestamp:
        raise SignatureError("missing X-Triage-Timestamp header")
    # ASCII digits only: int() would also take "١٢", " 12" and "1_2", and a huge value overflows the age check.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("X-Triage-Timestamp must be Unix seconds")
    ts = int(timestamp)
    # Check the MAC first, so the answer for a forged request does not depend on its timestamp.
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature does not match the body; check the shared secret")
    age = (time.time() if now is None else now) - ts
    if abs(age) > tolerance_s:
        raise SignatureError(f"timestamp is {int(age)} s off; the window is {tolerance_s} s (replay?)")


def signed_delivery(
    secret: str, ticket: dict[str, Any], *, delivery_id: str | None = None, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one POST /webhooks/generic, as any sender (or the demo) would send it."""
    body = json.dumps(ticket, separators=(",", ":")).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return body, {
        "Content-Type": "application/json",
        "X-Triage-Timestamp": ts,
        "X-Triage-Signature": sign(secret, ts, body),
        "X-Triage-Delivery": delivery_id or str(uuid.uuid4()),
    }
