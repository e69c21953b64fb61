"""The ticket view and the agent's actions on it: accept, correct, and edit, approve or reject the reply."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from service.review import drafts as review_drafts
from service.review import errors as review_errors
from service.review import verdicts as review_verdicts
from service.review.pages import ticket_page
from service.runtime import NO_HELPDESK, runtime
from service.web.errors import MAX_ROW_ID
from service.web.review import bp, filters
from service.web.review.sanitize import render_body
from service.worker.tasks import deliver_writeback, draft_reply, enqueue


@bp.get("/tickets/<int:ticket_id>")
@login_required
def ticket(ticket_id: int) -> str:
    args = filters.parse(request.args)
    rt = runtime()
    with rt.db.session() as session:
        page = ticket_page(rt, session, ticket_id, tab=args.tab, filters=args.filters, sort=args.sort)
        if page is None:
            abort(404, description=f"There is no ticket {ticket_id}. Go back to the queue and pick another.")
        row, decision = page.ticket, page.decision
        subject_html, _ = render_body(row.subject)
        body_html, body_is_html = render_body(row.body)
        return render_template(
            "ticket.html",
            ticket=row,
            decision=decision,
            prediction=decision.prediction if decision else None,
            reason=decision.reason if decision else {},
            routing=page.routing,
            latest=page.latest,
            history=page.history,
            corrections=page.corrections,
            held=page.held,
            draft=page.draft,
            choices=page.choices,
            writebacks=page.writebacks,
            no_helpdesk=rt.helpdesk_for(row.source) == NO_HELPDESK,
            args=args,
            body_html=body_html,
            body_is_html=body_is_html,
            prev_id=page.prev_id,
            next_id=page.next_id,
            subject_html=subject_html,
            reviewable=page.reviewable,
            drafting_problem=rt.drafting_problem,
            suggestion=page.suggestion,
            similar=page.similar,
            duplicate=page.duplicate,
        )


def _back(ticket_id: int, ctx: filters.QueueArgs) -> str:
    """The ticket view's URL inside the queue view the agent came from."""
    values: dict[str, Any] = {"ticket_id": ticket_id, **ctx.params()}
    return url_for("review.ticket", **values)


def _context() -> filters.QueueArgs:
    """The queue view the form was sent from (carried in a hidden field), parsed like a URL."""
    from urllib.parse import parse_qsl

    return filters.parse(dict(parse_qsl(request.form.get("ctx", ""))))


def _int(name: str) -> int:
    raw = request.form.get(name, "")
    # ASCII digits only ("²".isdigit() is true, int("²") fails), and no larger than a row id can be.
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 19 and abs(int(digits)) <= MAX_ROW_ID):
        abort(400, description=f"The form's {name} {raw[:40]!r} is not a number. Reload the page and try again.")
    return int(raw)


@bp.post("/tickets/<int:ticket_id>/review")
@login_required
def review(ticket_id: int) -> Response:
    """Accept the decision as it stands, or correct its label, queue or priority."""
    rt = runtime()
    ctx = _context()
    action = request.form.get("action", "accept")
    fields: dict[str, str | None] = {}
    if action == "correct":
        fields = {name: (request.form.get(name) or "").strip() or None for name in ("label", "queue", "priority")}
    elif action != "accept":
        abort(400, description="Unknown action; use Accept or Save correction.")
    try:
        with rt.db.session() as session:
            verdict = review_verdicts.review_ticket(
                rt, session, ticket_id=ticket_id, decision_id=_int("decision_id"), user_id=current_user.id, **fields
            )
    except review_errors.ReviewError as exc:
        flash(str(exc), "error")
        return redirect(_back(ticket_id, ctx), 303)
    # A guess gets its reply draft only now that the agent has settled the label; drafting then delivers.
    enqueue(draft_reply if rt.templates is not None else deliver_writeback, verdict.writeback_id)
    if verdict.kind == "accepted":
        flash(f"Ticket {ticket_id} accepted; the helpdesk is being updated.", "success")
    else:
        flash(
            f"Ticket {ticket_id} corrected; the correction is kept as training feedback and the helpdesk is "
            "being updated.",
            "success",
        )
    next_id = request.form.get("next_id", "")
    if request.form.get("stay") != "1" and next_id.isascii() and next_id.isdigit() and int(next_id) <= MAX_ROW_ID:
        return redirect(_back(int(next_id), ctx), 303)
    return redirect(_back(ticket_id, ctx), 303)


@bp.post("/tickets/<int:ticket_id>/draft")
@login_required
def draft(ticket_id: int) -> Response:
    """Save, approve (and send) or reject the reply draft."""
    rt = runtime()
    ctx = _context()
    action = request.form.get("action", "save")
    common = {
        "ticket_id": ticket_id,
        "decision_id": _int("decision_id"),
        "user_id": current_user.id,
        "version": _int("version"),
    }
    writeback_id = None
    try:
        with rt.db.session() as session:
            if action == "approve":
                writeback_id = review_drafts.approve_draft(rt, session, text=request.form.get("text", ""), **common)
                message = "Reply approved; it is on its way to the helpdesk."
            elif action == "reject":
                review_drafts.reject_draft(session, **common)
                message = "Draft rejected. You can still write a reply yourself."
            elif action == "save":
                review_drafts.save_draft(session, text=request.form.get("text", ""), **common)
                message = "Draft saved."
            else:
                abort(400, description="Unknown action; use Save, Approve and send, or Reject.")
    except review_errors.ReviewError as exc:
        flash(str(exc), "error")
        return redirect(_back(ticket_id, ctx) + "#reply", 303)
    if writeback_id is not None:
        enqueue(deliver_writeback, writeback_id)
    flash(message, "success")
    return redirect(_back(ticket_id, ctx) + "#reply", 303)
