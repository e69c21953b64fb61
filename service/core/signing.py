"""HMAC signatures over raw request bytes, compared in constant time, with a replay window."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from service.core.ports import SignatureError

__all__ = ["SignatureError", "any_matches", "keys", "sign", "signed_delivery", "verify"]


def keys(secret: str | Sequence[str]) -> list[str]:
    """One key, or several accepted at once while a key is rotated (old and new)."""
    return [secret] if isinstance(secret, str) else [k for k in secret if k]


def any_matches(received: bytes, expected_for: Callable[[str], bytes], secret: str | Sequence[str]) -> bool:
    """Whether `received` is what one of the keys gives; every key is tried, each compared in constant time."""
    return any([hmac.compare_digest(expected_for(key), received) for key in keys(secret)])


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Signature header value for a generic webhook: sha256=hex(HMAC(secret, timestamp + '.' + body))."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str | Sequence[str],
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    tolerance_s: int,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless `signature` is the HMAC of this timestamp and body under one of the keys, and
    fresh. Several keys are accepted while senders move from the old one to the new one."""
    if not signature:
        raise SignatureError("missing X-Triage-Signature header")
    if not timestamp:
        raise SignatureError("missing X-Triage-Timestamp header")
    # ASCII digits only: int() would also take "١٢", " 12" and "1_2", and a huge value overflows the age check.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("X-Triage-Timestamp must be Unix seconds")
    ts = int(timestamp)
    # Check the MAC first, so the answer for a forged request does not depend on its timestamp.
    if not any_matches(signature.strip().encode(), lambda key: sign(key, timestamp, body).encode(), secret):
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
