"""Sign-in for the review page: Flask-Login over sessions kept on the server, roles, sign-in, sign-out and a new
password. Sign-in attempts are limited per address and per username (service.web.throttle)."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, session, url_for
from flask import Response as FlaskResponse
from flask_limiter import RequestLimit
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from service.review import errors as review_errors
from service.review import sessions as review_sessions
from service.review import users as review_users
from service.runtime import runtime
from service.web.review.security import ERROR_CODES, error_page

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, template_folder="templates")
for _code in ERROR_CODES:
    bp.register_error_handler(_code, error_page)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to see this page."
login_manager.login_message_category = "info"


class SignedIn(UserMixin):
    """The signed-in user for one request: a plain copy of the row, never bound to a session."""

    def __init__(self, user: review_users.User, token: str) -> None:
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self._token = token  # the session's own token: its row on the server says whether it still holds
        self._active = user.active

    def get_id(self) -> str:
        return self._token

    @property
    def is_active(self) -> bool:
        return self._active

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@login_manager.user_loader
def _load(token: str) -> SignedIn | None:
    rt = runtime()
    with rt.db.session() as db:
        user = review_sessions.session_user(db, token=token, idle_s=rt.settings.session_lifetime_s)
        return SignedIn(user, token) if user is not None else None


def role_required(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Let only signed-in users with `role` through; others get 403 (or the sign-in page)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_user.role != role:
                abort(403, description=f"This page is for {role}s. Ask an admin if you need it.")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an absolute or scheme-relative URL would make sign-in an open redirect."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for("review.queue")


@bp.get("/")
def home() -> Response:
    return redirect(url_for("review.queue"))


def audit_failed_sign_in(outcome: str, user_id: int | None = None, **extra: Any) -> None:
    """One line per refused sign-in: who (by id, when the account exists), from where, and why.

    Never the password, and never what was typed as a username: people type their password there by mistake.
    """
    log.warning(
        "sign-in refused: %s",
        outcome,
        extra={
            "event": "sign_in_failed",
            "outcome": outcome,
            "user_id": user_id,
            "remote_addr": request.remote_addr,
            **extra,
        },
    )


def username_key() -> str:
    """The per-username limit's key: a digest, so no typed username (or mistyped password) lands in Redis."""
    typed = request.form.get("username", "").strip().lower()[:64]
    return "user:" + hashlib.sha256(typed.encode()).hexdigest()[:32]


def address_key() -> str:
    return "addr:" + (request.remote_addr or "-")


def too_many_sign_ins(limit: RequestLimit) -> FlaskResponse:
    """Flask-Limiter's answer when a sign-in limit is reached: the page again, with 429 and Retry-After."""
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    audit_failed_sign_in("rate_limited")
    message = f"Too many sign-in attempts. Try again in {retry_after} seconds."
    response = make_response(render_template("login.html", username="", error=message), 429)
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "GET":
        return render_template("login.html", username="")
    username = request.form.get("username", "")
    rt = runtime()
    with rt.db.session() as db:
        attempt = review_users.sign_in(db, username=username, password=request.form.get("password", ""))
        user = attempt.user
        token = (
            review_sessions.open_session(
                db,
                user_id=user.id,
                absolute_s=rt.settings.session_absolute_s,
                address=request.remote_addr,
                user_agent=request.user_agent.string,
            )
            if user is not None
            else None
        )
    if user is None or token is None:
        audit_failed_sign_in(attempt.outcome, attempt.user_id, **({"locked_now": True} if attempt.locked_now else {}))
        message = (
            f"Wrong username or password. After {review_users.MAX_FAILED_LOGINS} failed attempts an account is "
            f"locked for {review_users.LOCKOUT.seconds // 60} minutes."
        )
        return render_template("login.html", username=username, error=message), 401
    # A fresh session at sign-in: nothing an attacker planted in the old cookie survives.
    session.clear()
    session.permanent = True
    login_user(SignedIn(user, token))
    log.info("user %s signed in", user.id, extra={"event": "signed_in", "user_id": user.id})
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    """Sign out: every session of this user ends on the server, so a copied cookie is refused too."""
    if current_user.is_authenticated:
        rt = runtime()
        with rt.db.session() as db:
            review_sessions.end_user_sessions(db, user_id=current_user.id, reason="signed_out")
            db.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> Any:
    """A user's own new password; it ends every session of theirs, this one included."""
    if request.method == "GET":
        return render_template("password.html", min_chars=review_users.MIN_PASSWORD_CHARS)
    rt = runtime()
    try:
        with rt.db.session() as db:
            review_users.change_password(
                db,
                user_id=current_user.id,
                current=request.form.get("current", ""),
                new=request.form.get("new", ""),
            )
    except review_errors.ReviewError as exc:
        if exc.status == 403:
            audit_failed_sign_in("wrong_current_password", current_user.id)
        return render_template("password.html", min_chars=review_users.MIN_PASSWORD_CHARS, error=str(exc)), exc.status
    log.info("user %s changed their password", current_user.id, extra={"event": "password_changed"})
    logout_user()
    session.clear()
    flash("Password changed. Every session of yours has ended: sign in with the new password.", "success")
    return redirect(url_for("auth.login"), 303)
