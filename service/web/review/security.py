"""Error pages shared by the sign-in and review blueprints (their headers: service.web.headers)."""

from __future__ import annotations

from flask import render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

ERROR_CODES = (400, 403, 404, 405, 409)


def error_page(exc: HTTPException) -> tuple[str, int]:
    """An HTML error page that says what to do next (the JSON API keeps its problem+json answers)."""
    code = exc.code or 500
    if isinstance(exc, CSRFError):
        detail = (
            "The form was sent without a valid security token: it may have expired, or come from another "
            "site. Go back, reload the page and try again."
        )
    else:
        detail = exc.description or ""
    return render_template("error.html", code=code, title=exc.name, detail=detail), code
