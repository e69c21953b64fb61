"""Settings of the fake helpdesk, read from TRIAGE_FAKE_* variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FakeSettings:
    url: str = ""
    timeout_s: float = 10.0
    limit_per_minute: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> FakeSettings:
        return cls(
            url=environ.get("TRIAGE_FAKE_HELPDESK_URL", "").rstrip("/"),
            timeout_s=float(environ.get("TRIAGE_HTTP_TIMEOUT_S", "10")),
            limit_per_minute=int(environ.get("TRIAGE_FAKE_LIMIT_PER_MINUTE", "0")),
        )
