"""The HTTP helper every adapter uses: timeouts always, vendor errors mapped to IntegrationError."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import requests

from service.core.ports import IntegrationError

PERMANENT = {400, 401, 403, 404, 405, 409, 410, 422}


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def call(session: requests.Session, method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
    """One HTTP call; raise IntegrationError(permanent=...) for anything but 2xx."""
    try:
        response = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise IntegrationError(f"{method} {url}: timed out after {timeout} s", permanent=False) from None
    except requests.RequestException as exc:
        raise IntegrationError(f"{method} {url}: {type(exc).__name__}", permanent=False) from None
    if response.status_code < 300:
        return response
    detail = response.text[:500].strip()
    message = f"{method} {url}: HTTP {response.status_code}" + (f": {detail}" if detail else "")
    if response.status_code == 429:
        raise IntegrationError(
            message, permanent=False, retry_after=retry_after_seconds(response.headers.get("Retry-After"))
        )
    if response.status_code in PERMANENT or 400 <= response.status_code < 500:
        raise IntegrationError(message, permanent=True)
    raise IntegrationError(message, permanent=False)
