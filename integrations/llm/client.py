"""Chat Completions over HTTP with timeouts, bounded retries, Retry-After, and a circuit breaker."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import requests

from integrations.http import call
from integrations.llm.settings import LLMSettings
from service.core.ports import IntegrationError


class CircuitOpen(IntegrationError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"LLM circuit open for another {seconds:.0f} s after repeated failures", permanent=False)


class ChatClient:
    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.http = requests.Session()
        if settings.auth == "api-key":
            self.http.headers["api-key"] = settings.api_key
        elif settings.api_key:
            self.http.headers["Authorization"] = f"Bearer {settings.api_key}"
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """One completion; retries 429/5xx/timeouts within bounds; opens the breaker after repeated failures."""
        with self._lock:
            wait = self._open_until - time.monotonic()
            if wait > 0:
                raise CircuitOpen(wait)
        s = self.settings
        url = f"{s.base_url}/chat/completions" + (f"?api-version={s.api_version}" if s.api_version else "")
        attempt = 0
        while True:
            try:
                # Reference: https://platform.openai.com/docs/api-reference/chat/create
                response = call(self.http, "POST", url, timeout=s.timeout_s, json=body)
                self._succeeded()
                return response.json()
            except IntegrationError as exc:
                delay = exc.retry_after if exc.retry_after is not None else 0.5 * 2**attempt + random.random() * 0.2
                if exc.permanent or attempt >= s.max_retries or delay > s.max_wait_s:
                    self._failed()
                    raise
                attempt += 1
                time.sleep(delay)
            except ValueError:
                self._failed()
                raise IntegrationError("LLM answered with a body that is not JSON", permanent=False) from None

    def _succeeded(self) -> None:
        with self._lock:
            self._failures = 0

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.settings.breaker_failures:
                self._open_until = time.monotonic() + self.settings.breaker_cooldown_s
                self._failures = 0
