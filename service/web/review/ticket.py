"""The ticket view and the agent's actions on it: accept, correct, and edit, approve or reject the reply."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from service import flows, store
from service.runtime import Runtime
from service.tasks import deliver_writeback, enqueue
from service.web.review import bp, filters
from service.web.review.sanitize import render_body


@bp.get("/tickets/<int:ticket_id>")
@login_required
def ticket(ticket_id: int) -> str:
    args = filters.parse(request.args)
    rt: Runtime = current_app.extensions["triage"]
    with rt.db.session() as session:
        row = store.get_ticket(session=session, ticket_id=ticket_id)
        if row is None:
            abort(404, description=f"There is no ticket {ticket_id}. Go back to the queue and pick another.")
        decision = row.decision
        history = store.ticket_feedback(session=session, ticket_id=ticket_id)
        latest = next((f for f in history if decision is not None and f.decision_id == decision.id), None)
        draft = store.draft_for(session=session, decision_id=decision.id) if decision is not None else None
        choices = flows.review_choices(rt, session)
        routing = flows.current_routing(decision, latest) if decision is not None else None
        neighbours = _neighbours(session, rt, args, ticket_id)
        writebacks = sorted(decision.writebacks, key=lambda w: w.id) if decision is not None else []
        subject_html, _ = render_body(row.subject)
        body_html, body_is_html = render_body(row.body)
        return render_template(
            "ticket.html", ticket=row, decision=decision, prediction=decision.prediction if decision else None,
            reason=decision.reason if decision else {}, routing=routing, latest=latest, history=history,
            draft=draft, choices=choices, writebacks=writebacks, args=args, body_html=body_html,
            body_is_html=body_is_html, prev_id=neighbours[0], next_id=neighbours[1], subject_html=subject_html,
            reviewable=decision is not None and decision.revision == row.revision)


def _neighbours(session: Any, rt: Runtime, args: filters.QueueArgs, ticket_id: int) -> tuple[int | None, int | None]:
    """The tickets before and after this one in the queue view the agent came from."""
    ids = store.review_ids(session=session, tab=args.tab, filters=args.filters, sort=args.sort,
                           priorities=rt.rules.priorities)
    if ticket_id not in ids:
        return None, ids[0] if ids else None
    i = ids.index(ticket_id)
    return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)


def _context() -> filters.QueueArgs:
    """The queue view the form was sent from (carried in a hidden field), parsed like a URL."""
    from urllib.parse import parse_qsl

    return filters.parse(dict(parse_qsl(request.form.get("ctx", ""))))


def _int(name: str) -> int:
    raw = request.form.get(name, "")
    if not raw.lstrip("-").isdigit():
        abort(400, description=f"The form is missing {name}. Reload the page and try again.")
    return int(raw)


@bp.post("/tickets/<int:ticket_id>/review")
@login_required
def review(ticket_id: int) -> Response:
    """Accept the decision as it stands, or correct its label, queue or priority."""
    rt: Runtime = current_app.extensions["triage"]
    ctx = _context()
    action = request.form.get("action", "accept")
    fields: dict[str, str | None] = {}
    if action == "correct":
        fields = {name: (request.form.get(name) or "").strip() or None for name in ("label", "queue", "priority")}
    elif action != "accept":
        abort(400, description="Unknown action; use Accept or Save correction.")
    try:
        with rt.db.session() as session:
            verdict = flows.review_ticket(rt, session, ticket_id=ticket_id, decision_id=_int("decision_id"),
                                          user_id=current_user.id, **fields)
    except flows.ReviewError as exc:
        flash(str(exc), "error")
        return redirect(url_for("review.ticket", ticket_id=ticket_id, **ctx.params()), 303)
    enqueue(deliver_writeback, verdict.writeback_id)
    if verdict.kind == "accepted":
        flash(f"Ticket {ticket_id} accepted; the helpdesk is being updated.", "success")
    else:
        flash(f"Ticket {ticket_id} corrected; the correction is kept as training feedback and the helpdesk is "
              "being updated.", "success")
    next_id = request.form.get("next_id", "")
    if request.form.get("stay") != "1" and next_id.isdigit():
        return redirect(url_for("review.ticket", ticket_id=int(next_id), **ctx.params()), 303)
    return redirect(url_for("review.ticket", ticket_id=ticket_id, **ctx.params()), 303)


@bp.post("/tickets/<int:ticket_id>/draft")
@login_required
def draft(ticket_id: int) -> Response:
    """Save, approve (and send) or reject the reply draft."""
    rt: Runtime = current_app.extensions["triage"]
    ctx = _context()
    action = request.form.get("action", "save")
    common = {"ticket_id": ticket_id, "decision_id": _int("decision_id"), "user_id": current_user.id,
              "version": _int("version")}
    writeback_id = None
    try:
        with rt.db.session() as session:
            if action == "approve":
                writeback_id = flows.approve_draft(rt, session, text=request.form.get("text", ""), **common)
                message = "Reply approved; it is on its way to the helpdesk."
            elif action == "reject":
                flows.reject_draft(session, **common)
                message = "Draft rejected. You can still write a reply yourself."
            elif action == "save":
                flows.save_draft(session, text=request.form.get("text", ""), **common)
                message = "Draft saved."
            else:
                abort(400, description="Unknown action; use Save, Approve and send, or Reject.")
    except flows.ReviewError as exc:
        flash(str(exc), "error")
        return redirect(url_for("review.ticket", ticket_id=ticket_id, **ctx.params()) + "#reply", 303)
    if writeback_id is not None:
        enqueue(deliver_writeback, writeback_id)
    flash(message, "success")
    return redirect(url_for("review.ticket", ticket_id=ticket_id, **ctx.params()) + "#reply", 303)
