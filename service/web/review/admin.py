"""User management for admins: list users, add one, stop or restore one's access, see and end sessions."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from service.review import errors as review_errors
from service.review import sessions as review_sessions
from service.review import users as review_users
from service.review.pages import users_page
from service.runtime import runtime
from service.web.auth import role_required
from service.web.errors import MAX_ROW_ID
from service.web.review import bp


@bp.get("/admin/users")
@role_required("admin")
def users() -> str:
    rt = runtime()
    with rt.db.session() as session:
        rows = users_page(session)
    return render_template(
        "admin_users.html", users=rows, roles=review_users.ROLES, min_chars=review_users.MIN_PASSWORD_CHARS
    )


@bp.post("/admin/users")
@role_required("admin")
def create_user() -> Response | tuple[str, int]:
    rt = runtime()
    username = request.form.get("username", "")
    try:
        with rt.db.session() as session:
            user = review_users.create_user(
                session, username=username, password=request.form.get("password", ""), role=request.form.get("role", "")
            )
    except review_errors.ReviewError as exc:
        with rt.db.session() as session:
            rows = users_page(session)
        return render_template(
            "admin_users.html",
            users=rows,
            roles=review_users.ROLES,
            min_chars=review_users.MIN_PASSWORD_CHARS,
            error=str(exc),
            username=username,
        ), exc.status
    flash(f"User {user.username} ({user.role}) added. Give them their password by a channel you trust.", "success")
    return redirect(url_for("review.users"), 303)


@bp.post("/admin/users/<int:user_id>/active")
@role_required("admin")
def set_active(user_id: int) -> Response:
    rt = runtime()
    active = request.form.get("active") == "true"
    try:
        with rt.db.session() as session:
            user = review_users.set_user_active(session, user_id=user_id, active=active, by_user_id=current_user.id)
    except review_errors.ReviewError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{user.username} can {'sign in again' if active else 'no longer sign in'}.", "success")
    return redirect(url_for("review.users"), 303)


@bp.get("/admin/sessions")
@role_required("admin")
def sessions() -> str:
    """Every session that still signs someone in: who, since when, last seen, until when, from where."""
    rt = runtime()
    with rt.db.session() as session:
        rows = review_sessions.active_sessions(session, idle_s=rt.settings.session_lifetime_s)
        return render_template(
            "admin_sessions.html",
            sessions=rows,
            idle_s=rt.settings.session_lifetime_s,
            absolute_s=rt.settings.session_absolute_s,
        )


@bp.post("/admin/sessions/<int:user_id>/end")
@role_required("admin")
def end_sessions(user_id: int) -> Response:
    """End one session (session_id in the form) or every session of a user."""
    rt = runtime()
    raw = request.form.get("session_id", "")
    session_id = int(raw) if raw.isascii() and raw.isdigit() and int(raw) <= MAX_ROW_ID else None
    if raw and session_id is None:
        flash(f"session_id {raw[:40]!r} is not a session; nothing was ended.", "error")
        return redirect(url_for("review.sessions"), 303)
    with rt.db.session() as session:
        ended = review_sessions.end_user_sessions(
            session, user_id=user_id, reason="ended_by_admin", session_id=session_id
        )
        session.commit()
    flash(f"{ended} session(s) ended.", "success")
    return redirect(url_for("review.sessions"), 303)
