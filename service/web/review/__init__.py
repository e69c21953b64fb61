"""The agent review page: queue, ticket, dashboard and user admin, rendered on the server.

A thin shell over flows and store: views parse the request, call one flow or a few queries, and render.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

from service.core.settings import Settings
from service.web.review.security import ERROR_CODES, error_page

log = logging.getLogger(__name__)
bp = Blueprint("review", __name__, url_prefix="/review", template_folder="../templates", static_folder="../static")
for _code in ERROR_CODES:
    bp.register_error_handler(_code, error_page)
csrf = CSRFProtect()


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, not even opened under the token-authenticated URL prefixes."""

    def __init__(self, skip_prefixes: tuple[str, ...]) -> None:
        # Opening one builds a signing serializer: a few percent of a webhook's CPU, for a cookie it never has.
        self.skip_prefixes = skip_prefixes

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(self.skip_prefixes):
            return None  # Flask then uses a null session, which refuses writes
        return super().open_session(app, request)


def register(app: Flask, settings: Settings, *, token_authenticated: Iterable[Blueprint]) -> None:
    """Sessions, CSRF, sign-in and the review blueprints; `token_authenticated` blueprints skip CSRF."""
    from service.web import auth
    from service.web.review import admin, dashboard, intents, queue, ticket  # noqa: F401  (they add routes to bp)

    key = settings.secret_key.reveal()
    if not key:
        key = secrets.token_hex(32)
        log.warning(
            "TRIAGE_SECRET_KEY is unset: using a random key, so review-page sign-ins end when this "
            "process stops and do not carry over to other web processes"
        )
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME="triage_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_lifetime_s),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        # A token lives as long as the sign-in: an agent who leaves a ticket open for an hour can still send it.
        WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    token_authenticated = tuple(token_authenticated)
    for blueprint in token_authenticated:
        # Bearer tokens and HMAC signatures authenticate these; no browser cookie is involved.
        csrf.exempt(blueprint)
    app.session_interface = CookieSessions(tuple(f"{b.url_prefix}/" for b in token_authenticated if b.url_prefix))
    auth.login_manager.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(bp)


@bp.app_template_filter("pct")
def _pct(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


@bp.app_template_filter("when")
def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("day_time")
def _day_time(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%b %d, %H:%M")


@bp.app_template_filter("words")
def _words(value: Any) -> str:
    return str(value).replace("_", " ")
