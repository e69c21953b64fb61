"""Sign-in for the review page: Flask-Login sessions, roles, and the login and logout views."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

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

    def __init__(self, user: review_users.User) -> None:
        self.id = user.id
        self.username = user.username
        self.role = user.role
        self._token = user.session_token
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
        user = review_users.user_for_session(db, token=token)
        return SignedIn(user) if user is not None else None


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


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "GET":
        return render_template("login.html", username="")
    username = request.form.get("username", "")
    rt = runtime()
    with rt.db.session() as db:
        user = review_users.authenticate(db, username=username, password=request.form.get("password", ""))
    if user is None:
        # No username in the log: people type their password into that field by mistake.
        log.info("failed sign-in from %s", request.remote_addr)
        message = (
            f"Wrong username or password. After {review_users.MAX_FAILED_LOGINS} failed attempts an account is "
            f"locked for {review_users.LOCKOUT.seconds // 60} minutes."
        )
        return render_template("login.html", username=username, error=message), 401
    # A fresh session at sign-in: nothing an attacker planted in the old cookie survives.
    session.clear()
    session.permanent = True
    login_user(SignedIn(user))
    log.info("user %s signed in", user.id)
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
