"""Operations endpoints: liveness, readiness (database, its schema, and broker), metrics, OpenAPI.

/readyz and /metrics are answered by OpsGate in front of Flask: a bearer token (TRIAGE_METRICS_TOKEN) or an
address of their own (the ops app, service.wsgi_ops), a per-address throttle, and answers computed once per
interval. Before Flask, because a refusal or a cached answer then costs tens of microseconds instead of a whole
Flask request (session, limiter, hooks): a flood of scrapes must not take the CPU that intake needs.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from limits import parse_many
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.core.settings import Settings
from service.ops.cache import Cached
from service.ops.health import readiness
from service.runtime import runtime
from service.web.headers import api_headers
from service.web.openapi import document

bp = Blueprint("ops", __name__)
GATED = ("/metrics", "/readyz")
GATE_EXTENSION = "triage_ops_gate"
# Readiness is asked by every load balancer and probe: once a second per process is fresh enough for them.
READY_CACHE_S = 1.0

Answer = tuple[int, bytes, str]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


class AddressWindows:
    """Fixed-window counts per client address in this process: a few microseconds per request.

    The ops endpoints need no shared count: the throttle protects this process's CPU, and its cached answers
    protect the database. (The limits library's own memory storage took ten times as long per hit.)
    """

    def __init__(self, spec: str) -> None:
        self.windows = [(item.amount, float(item.get_expiry())) for item in parse_many(spec)]
        self.spec = spec
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], tuple[float, int]] = {}

    def hit(self, address: str, now: float | None = None) -> float:
        """Count one request; 0 when it is within every window's limit, else seconds until the window resets."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            if len(self._counts) > 50_000:  # many addresses: forget the windows that have ended
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < self.windows[k[1]][1]}
            for i, (amount, seconds) in enumerate(self.windows):
                started, count = self._counts.get((address, i), (now, 0))
                if now - started >= seconds:
                    started, count = now, 0
                self._counts[(address, i)] = (started, count + 1)
                if count + 1 > amount:
                    wait = max(wait, started + seconds - now)
        return wait


class OpsGate:
    """WSGI middleware that answers GET /metrics and /readyz: authorise, throttle, then serve a cached answer."""

    def __init__(self, app: Flask, inner: WsgiApp, settings: Settings, *, open_without_token: bool) -> None:
        self.app, self.inner = app, inner
        self.tokens = [t.encode() for t in settings.metrics_tokens]
        # Open where the deployment said so (the ops app on its own private address, token or not; one
        # embedded process with no token); elsewhere a token is asked for, or a 404 says how to set one.
        self.open = open_without_token
        self.throttle = AddressWindows(settings.ops_rate_limit)
        self.headers = api_headers(settings)
        ttl = settings.metrics_cache_s
        self.answers: dict[str, Cached[Answer]] = {
            "/metrics": Cached(lambda: self._in_app(_metrics), ttl),
            "/readyz": Cached(lambda: self._in_app(_readiness), min(READY_CACHE_S, ttl)),
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path not in GATED:
            return self.inner(environ, start_response)
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            status, body, content_type = _problem(405, f"{path} answers GET and HEAD only")
            extra = [("Allow", "GET, HEAD")]
        else:
            status, body, content_type, extra = self._answer(path, environ)
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *self.headers, *extra]
        start_response(f"{status} {_PHRASES[status]}", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    def _answer(self, path: str, environ: dict[str, Any]) -> tuple[int, bytes, str, list[tuple[str, str]]]:
        wait_s = self.throttle.hit(environ.get("REMOTE_ADDR") or "-")
        if wait_s > 0:
            wait = max(1, math.ceil(wait_s))
            detail = f"more than {self.throttle.spec} from this address to /metrics and /readyz; retry in {wait} s"
            return (*_problem(429, detail), [("Retry-After", str(wait))])
        if not self.open:
            if not self.tokens:
                detail = (
                    f"{path} is not served on this address: set TRIAGE_METRICS_TOKEN and send it as a bearer token, "
                    "or serve the ops app (service.wsgi_ops:app) on an address of its own"
                )
                return (*_problem(404, detail), [])
            if not self._authorised(environ.get("HTTP_AUTHORIZATION", "")):
                detail = f"{path} needs Authorization: Bearer <one of TRIAGE_METRICS_TOKEN>"
                return (*_problem(401, detail), [("WWW-Authenticate", 'Bearer realm="triage-ops"')])
        status, body, content_type = self.answers[path].get()
        return status, body, content_type, []

    def _authorised(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return False
        offered = given.strip().encode()
        # Every token compared, in constant time each: the answer's timing says nothing about which one matched.
        return any([hmac.compare_digest(offered, token) for token in self.tokens])

    def _in_app(self, compute: Callable[[], Answer]) -> Answer:
        with self.app.app_context():
            return compute()


def _metrics() -> Answer:
    registry = runtime().metrics
    assert registry is not None, "create_app() builds the metrics registry"
    return 200, generate_latest(registry), CONTENT_TYPE_LATEST


def _readiness() -> Answer:
    ready, checks = readiness(runtime())
    body = json.dumps({"status": "ready" if ready else "not ready", "checks": checks}).encode() + b"\n"
    return (200 if ready else 503), body, "application/json"


def _problem(status: int, detail: str) -> tuple[int, bytes, str]:
    body = {"status": status, "title": _PHRASES[status], "detail": detail}
    return status, json.dumps(body).encode(), "application/problem+json"


_PHRASES = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def install(app: Flask, settings: Settings, *, ops_app: bool = False) -> OpsGate:
    """Put the gate in front of the app: open without a token on the ops app, or in one embedded process."""
    # The ops app shares the web app's environment (compose, k8s), token included: it stays open, since its
    # address is the deployment's access control.
    open_without_token = ops_app or (settings.embedded and not settings.metrics_tokens)
    gate = OpsGate(app, app.wsgi_app, settings, open_without_token=open_without_token)
    app.wsgi_app = gate  # type: ignore[method-assign]  # Flask's documented way to add WSGI middleware
    app.extensions[GATE_EXTENSION] = gate  # other middleware may wrap it later; this finds it
    return gate
