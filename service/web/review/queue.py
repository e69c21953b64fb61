"""The queue view: tickets by tab (needs review, escalated, auto-routed, reviewed), filtered and paged."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_login import login_required

from service import flows, store
from service.models import PredictionRow
from service.runtime import Runtime
from service.web.review import bp, filters


@bp.get("")
@login_required
def queue() -> str:
    args = filters.parse(request.args)
    rt: Runtime = current_app.extensions["triage"]
    with rt.db.session() as session:
        rows, total = store.review_page(session=session, tab=args.tab, filters=args.filters, sort=args.sort,
                                        priorities=rt.rules.priorities, offset=args.offset, limit=args.per_page)
        counts = store.review_tab_counts(session=session, filters=args.filters)
        reviews = store.latest_feedback(session=session, decision_ids=[d.id for _, d, _ in rows])
        choices = flows.review_choices(rt, session)
        versions = store.distinct_values(session=session, column=PredictionRow.model_version)
    pages = max(1, -(-total // args.per_page))
    return render_template("queue.html", args=args, rows=rows, total=total, counts=counts, reviews=reviews,
                           pages=pages, choices=choices, versions=versions, tabs=filters.TAB_NAMES,
                           sorts=filters.SORT_NAMES, per_page_options=filters.PER_PAGE)
