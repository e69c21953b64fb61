"""Talks to the fake helpdesk: over HTTP to integrations.fake.server, or into a process-wide list."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import requests

from integrations.http import call

_MEMORY: list[dict[str, Any]] = []
_LOCK = threading.Lock()


def recorded() -> list[dict[str, Any]]:
    """What the in-memory fake has received in this process (a copy)."""
    with _LOCK:
        return list(_MEMORY)


class FakeClient:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._http = requests.Session() if url else None

    def update_ticket(self, ticket_id: str, fields: dict[str, Any], *, idempotency_key: str) -> None:
        if self._http is None:
            with _LOCK:
                _MEMORY.append({"ticket_id": ticket_id, "idempotency_key": idempotency_key, **fields})
            return
        call(
            self._http,
            "PUT",
            f"{self.url}/api/tickets/{quote(ticket_id, safe='')}/triage",
            timeout=self.timeout_s,
            json=fields,
            headers={"Idempotency-Key": idempotency_key},
        )
