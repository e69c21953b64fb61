"""Shared pieces of the fuzz tests: the app under test, a signing sender, strategies, the case tally."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from service import create_app
from service.core.signing import sign
from service.infra.migrate import upgrade
from tests.support.settings import SECRET, make_settings
from tests.support.vendors import JIRA_SECRET, ZENDESK_SECRET, jira_env, zendesk_env

# Cases each fuzz test must run; the tests assert they reached them, and these add up to the 10,000 promised.
BUDGET = {
    "openapi": 2000,
    "generic_json": 2000,
    "generic_bytes": 2000,
    "generic_valid": 600,
    "zendesk": 1200,
    "jira": 1200,
    "unknown_source": 300,
    "api_post": 500,
    "api_get": 400,
    "review_get": 400,
    "review_post": 200,
}
TALLY: Counter[str] = Counter()
# Nothing listens on port 9 (discard): intake never calls a vendor, and a stray call would fail at once.
NOWHERE = "http://127.0.0.1:9"


def fuzz_settings(max_examples: int) -> settings:
    """Deterministic runs (fixed seed, no example database) so CI sees the same cases every time."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
    )


def make_app(directory: Path, models_dir: Path) -> Any:
    """The real app on its own SQLite file, with the Zendesk and Jira webhooks enabled."""
    url = f"sqlite:///{directory / 'fuzz.db'}"
    upgrade(url)
    env = {**zendesk_env(NOWHERE), **jira_env(NOWHERE)}
    return create_app(make_settings(url, models_dir, integrations="zendesk,jira"), environ=env)


def app_fixtures(name: str) -> tuple[Any, Any]:
    """Module-scoped `app` and `client` fixtures for a fuzz module: make_app on a SQLite file of its own."""

    @pytest.fixture(scope="module")
    def app(tmp_path_factory: Any, models_dir: Path) -> Any:
        application = make_app(tmp_path_factory.mktemp(name), models_dir)
        yield application
        application.extensions["triage"].db.dispose()

    @pytest.fixture(scope="module")
    def client(app: Any) -> Any:
        return app.test_client()

    return app, client


class SigningSender:
    """WSGI middleware that plays the honest sender: it signs the exact bytes that reach the app.

    A request gets a valid signature only when it carries well-formed signature headers; a request with
    missing or malformed ones goes through untouched, so the 401 paths stay reachable too.
    """

    GENERIC = (re.compile(r"sha256=[0-9a-f]{64}"), re.compile(r"[0-9]{1,12}"))
    ZENDESK = (re.compile(r"[A-Za-z0-9+/]{43}="), re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"))
    JIRA = re.compile(r"sha256=[0-9a-fA-F]{64}")

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        path = environ.get("PATH_INFO", "")
        if path == "/webhooks/generic" and self._well_formed(
            environ, "HTTP_X_TRIAGE_SIGNATURE", "HTTP_X_TRIAGE_TIMESTAMP", self.GENERIC
        ):
            environ.update(generic_headers_environ(body))
        elif path == "/webhooks/zendesk" and self._well_formed(
            environ, "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE", "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP", self.ZENDESK
        ):
            ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            environ["HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP"] = ts
            environ["HTTP_X_ZENDESK_WEBHOOK_SIGNATURE"] = zendesk_signature(body, ts)
        elif path == "/webhooks/jira" and self.JIRA.fullmatch(environ.get("HTTP_X_HUB_SIGNATURE", "")):
            environ["HTTP_X_HUB_SIGNATURE"] = jira_signature(body)
        return self.app(environ, start_response)

    @staticmethod
    def _well_formed(environ: dict[str, Any], sig: str, ts: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
        return bool(patterns[0].fullmatch(environ.get(sig, "")) and patterns[1].fullmatch(environ.get(ts, "")))


def generic_headers_environ(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"HTTP_X_TRIAGE_TIMESTAMP": ts, "HTTP_X_TRIAGE_SIGNATURE": sign(SECRET, ts, body)}


def generic_headers(body: bytes, content_type: str | None = "application/json") -> dict[str, str]:
    ts = str(int(time.time()))
    headers = {"X-Triage-Timestamp": ts, "X-Triage-Signature": sign(SECRET, ts, body)}
    return headers | ({"Content-Type": content_type} if content_type is not None else {})


def zendesk_signature(body: bytes, ts: str) -> str:
    return base64.b64encode(hmac.new(ZENDESK_SECRET.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()


def jira_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(JIRA_SECRET.encode(), body, hashlib.sha256).hexdigest()


def assert_precise_answer(response: Any) -> None:
    """No 5xx; a 4xx is problem+json whose detail says what is wrong; a 2xx is JSON; a 3xx says where."""
    status = response.status_code
    assert status < 500, f"{status}: {response.get_data(as_text=True)[:500]}"
    if 300 <= status < 400:
        # Werkzeug merges the slashes of "/webhooks//x" (a decoded %2F) with a 308 to the merged path.
        assert response.headers.get("Location"), response.headers
    elif status >= 400:
        assert response.mimetype == "application/problem+json", response.mimetype
        problem = response.get_json()
        assert problem["status"] == status and problem["title"], problem
        assert isinstance(problem["detail"], str) and len(problem["detail"]) >= 10, problem
    else:
        assert response.mimetype == "application/json", response.mimetype
        assert isinstance(response.get_json(), dict)


# Text that has broken parsers, templates and databases before: NUL, lone surrogates, RTL and bidi
# overrides, zero-width and combining characters, emoji (astral, ZWJ sequences), and markup.
HOSTILE = [
    "\x00",
    "\ud800",
    "\udfff",
    "\u202e",
    "\u200f",
    "\u2066",
    "\u200b",
    "\ufeff",
    "\ufffd",
    "e\u0301",
    "\U0001f600",
    "\U0001f469\u200d\U0001f4bb",
    "\U0001f1fa\U0001f1f8",
    "ﷺ",
    "𒐫",
    "\u0085",
    "\u2028",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"'><svg/onload=alert(1)>",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "'; DROP TABLE tickets; --",
    "%s%n",
    "\\",
    '"',
    "\r\n",
    "\t",
]
# Everything Unicode has, surrogates included, so text can carry unpaired ones as JSON escapes.
any_char = st.characters(codec=None, exclude_categories=())
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=any_char, max_size=20),
    st.lists(st.sampled_from(HOSTILE), max_size=4).map("".join),
    st.text(alphabet=st.sampled_from("aZ09 -_.@"), max_size=12),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12,
)


def encode(value: Any, ascii_only: bool) -> bytes:
    """JSON bytes as a sender would write them; a lone surrogate without escaping becomes invalid UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def record(name: str, response: Any = None) -> None:
    """Count one case, and the status it got, so a run shows which paths the cases reached."""
    TALLY[name] += 1
    if response is not None:
        TALLY[f"{name} {response.status_code}"] += 1


def assert_budget_met(name: str) -> None:
    assert TALLY[name] >= BUDGET[name], f"{name}: ran {TALLY[name]} cases, budget {BUDGET[name]}"
