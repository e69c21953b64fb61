"""Headers and error pages shared by the sign-in and review blueprints."""

from __future__ import annotations

from flask import render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

# Scripts and styles only from our own static files: an injected inline script or handler cannot run.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
ERROR_CODES = (400, 403, 404, 405, 409)


def secure_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "review.static":
        # Pages show customers' messages: no shared or back-button cache may keep a copy.
        response.headers["Cache-Control"] = "no-store"
    return response


def error_page(exc: HTTPException) -> tuple[str, int]:
    """An HTML error page that says what to do next (the JSON API keeps its problem+json answers)."""
    code = exc.code or 500
    if isinstance(exc, CSRFError):
        detail = ("The form was sent without a valid security token: it may have expired, or come from another "
                  "site. Go back, reload the page and try again.")
    else:
        detail = exc.description or ""
    return render_template("error.html", code=code, title=exc.name, detail=detail), code
