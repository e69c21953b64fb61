"""Chat Completions over HTTP: response-format negotiation, timeouts, bounded retries, a circuit breaker."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from typing import Any

import requests

from integrations.http import call
from integrations.llm.settings import LLMSettings
from service.core.ports import IntegrationError

log = logging.getLogger(__name__)

# integrations/http.py words every HTTP error as "<METHOD> <url>: HTTP <status>: <body>".
_STATUS = re.compile(r": HTTP (\d{3})")
# What servers say when they do not take a response format: llama-cpp-python answers 500 "Input should be
# 'text' or 'json_object'" at ('body', 'response_format', 'type'); OpenAI answers 400 "Invalid parameter:
# 'response_format' of type 'json_schema' is not supported with this model".
_REFUSAL_WORDS = ("response_format", "json_schema", "json_object", "guided_json", "schema", "grammar")


class CircuitOpen(IntegrationError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"LLM circuit open for another {seconds:.0f} s after repeated failures", permanent=False)


def refused(exc: IntegrationError) -> bool:
    """Whether the server turned down the response format we asked for, as opposed to failing."""
    match = _STATUS.search(str(exc))
    if match is None or int(match.group(1)) in (401, 403, 404, 408, 429):
        return False
    detail = str(exc)[match.end() :].lower()
    return any(word in detail for word in _REFUSAL_WORDS)


def with_format(body: dict[str, Any], rung: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    """The request body asking for an answer in this rung's form (settings.LADDERS names the rungs)."""
    out = dict(body)
    if schema is None and rung in ("json_schema", "json_object_schema", "guided_json"):
        rung = "json_object"
    if rung == "json_schema":
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "ticket_label", "strict": True, "schema": schema},
        }
    elif rung == "json_object_schema":
        out["response_format"] = {"type": "json_object", "schema": schema}
    elif rung == "guided_json":
        out["response_format"] = {"type": "json_object"}
        out["guided_json"] = schema
    elif rung == "json_object":
        out["response_format"] = {"type": "json_object"}
    return out


class ChatClient:
    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.http = requests.Session()
        if settings.auth == "api-key":
            self.http.headers["api-key"] = settings.api_key
        elif settings.api_key:
            self.http.headers["Authorization"] = f"Bearer {settings.api_key}"
        # The runtime builds one client per process, so what it settles on holds for the process.
        self._format: str | None = None
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0

    @property
    def response_format(self) -> str | None:
        """The response format this server accepted, once one call has gone through."""
        with self._lock:
            return self._format

    def complete(self, body: dict[str, Any], *, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        """One completion within TRIAGE_LLM_DEADLINE_S, in the best response format the server takes.

        Until a format has worked, a refusal steps down the ladder at once (no retry, no breaker count);
        afterwards 429/5xx/timeouts are retried within bounds and repeated failures open the breaker."""
        with self._lock:
            wait = self._open_until - time.monotonic()
            if wait > 0:
                raise CircuitOpen(wait)
        deadline = time.monotonic() + self.settings.deadline_s
        ladder = self.settings.ladder
        known = self.response_format
        for i in range(ladder.index(known) if known in ladder else 0, len(ladder)):
            negotiating = known is None and i + 1 < len(ladder)
            try:
                data = self._send(with_format(body, ladder[i], schema), deadline, negotiating=negotiating)
            except IntegrationError as exc:
                if negotiating and refused(exc):
                    log.info(
                        "LLM server refused a response format; trying the next",
                        extra={"response_format": ladder[i], "next": ladder[i + 1]},
                    )
                    continue
                self._failed()
                raise
            self._succeeded()
            if known is None:
                self._remember(ladder[i])
            return data
        raise AssertionError("unreachable: the last rung either answers or raises")  # pragma: no cover

    def _send(self, body: dict[str, Any], deadline: float, *, negotiating: bool) -> dict[str, Any]:
        s = self.settings
        url = f"{s.base_url}/chat/completions" + (f"?api-version={s.api_version}" if s.api_version else "")
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IntegrationError(
                    f"LLM call gave up after {s.deadline_s:g} s in all (TRIAGE_LLM_DEADLINE_S)", permanent=False
                )
            try:
                # Reference: https://platform.openai.com/docs/api-reference/chat/create
                response = call(self.http, "POST", url, timeout=round(min(s.timeout_s, remaining), 1), json=body)
                return dict(response.json())
            except IntegrationError as exc:
                if negotiating and refused(exc):
                    raise
                delay = exc.retry_after if exc.retry_after is not None else 0.5 * 2**attempt + random.random() * 0.2
                too_late = time.monotonic() + delay >= deadline
                if exc.permanent or attempt >= s.max_retries or delay > s.max_wait_s or too_late:
                    raise
                attempt += 1
                time.sleep(delay)
            except ValueError:
                raise IntegrationError("LLM answered with a body that is not JSON", permanent=False) from None

    def _remember(self, rung: str) -> None:
        with self._lock:
            first = self._format is None
            self._format = self._format or rung
        if first:
            log.info(
                "LLM response format settled for this process",
                extra={"response_format": rung, "server": self.settings.server, "model": self.settings.model},
            )

    def _succeeded(self) -> None:
        with self._lock:
            self._failures = 0

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.settings.breaker_failures:
                self._open_until = time.monotonic() + self.settings.breaker_cooldown_s
                self._failures = 0
