"""User management for admins: list users, add one, stop or restore one's access."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from service import flows, store
from service.runtime import Runtime
from service.web.auth import role_required
from service.web.review import bp


@bp.get("/admin/users")
@role_required("admin")
def users() -> str:
    rt: Runtime = current_app.extensions["triage"]
    with rt.db.session() as session:
        rows = store.list_users(session=session)
    return render_template("admin_users.html", users=rows, roles=flows.ROLES, min_chars=flows.MIN_PASSWORD_CHARS)


@bp.post("/admin/users")
@role_required("admin")
def create_user() -> Response | tuple[str, int]:
    rt: Runtime = current_app.extensions["triage"]
    username = request.form.get("username", "")
    try:
        with rt.db.session() as session:
            user = flows.create_user(session, username=username, password=request.form.get("password", ""),
                                     role=request.form.get("role", ""))
    except flows.ReviewError as exc:
        with rt.db.session() as session:
            rows = store.list_users(session=session)
        return render_template("admin_users.html", users=rows, roles=flows.ROLES, min_chars=flows.MIN_PASSWORD_CHARS,
                               error=str(exc), username=username), exc.status
    flash(f"User {user.username} ({user.role}) added. Give them their password by a channel you trust.", "success")
    return redirect(url_for("review.users"), 303)


@bp.post("/admin/users/<int:user_id>/active")
@role_required("admin")
def set_active(user_id: int) -> Response:
    rt: Runtime = current_app.extensions["triage"]
    active = request.form.get("active") == "true"
    try:
        with rt.db.session() as session:
            user = flows.set_user_active(session, user_id=user_id, active=active, by_user_id=current_user.id)
    except flows.ReviewError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{user.username} can {'sign in again' if active else 'no longer sign in'}.", "success")
    return redirect(url_for("review.users"), 303)
