"""Security headers on every response, set in one after_request hook: pages, API, webhooks and ops alike."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.wrappers import Response

from service.core.settings import Settings

# Review pages: scripts and styles only from our own static files, so an injected inline script or handler
# cannot run.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# JSON and text answers load nothing, so a browser that renders one by mistake may run and load nothing either.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Two years, the HSTS preload list's minimum; sent only when the deployment says it is served over HTTPS.
HSTS = "max-age=63072000"


def api_headers(settings: Settings) -> list[tuple[str, str]]:
    """What the hook below sets on a JSON answer, for the WSGI layers that answer before Flask does."""
    headers = [*COMMON.items(), ("Content-Security-Policy", API_CSP), ("Cache-Control", "no-store")]
    return headers + ([("Strict-Transport-Security", HSTS)] if settings.session_cookie_secure else [])


def register(app: Flask, settings: Settings) -> None:
    https = settings.session_cookie_secure

    @app.after_request
    def _secure_headers(response: Response) -> Response:
        for name, value in COMMON.items():
            response.headers.setdefault(name, value)
        html = response.mimetype == "text/html"
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP if html else API_CSP)
        if not (request.endpoint or "").endswith(".static"):
            # Pages and API answers carry customers' messages: no shared or back-button cache may keep a copy.
            response.headers["Cache-Control"] = "no-store"
        if https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
