"""The queue view: tickets by tab (needs review, escalated, auto-routed, reviewed), filtered and paged."""

from __future__ import annotations

from flask import render_template, request
from flask_login import login_required

from service.review.pages import queue_page
from service.runtime import runtime
from service.web.review import bp, filters


@bp.get("")
@login_required
def queue() -> str:
    args = filters.parse(request.args)
    rt = runtime()
    with rt.db.session() as session:
        page = queue_page(
            rt, session, tab=args.tab, filters=args.filters, sort=args.sort, offset=args.offset, limit=args.per_page
        )
        pages = max(1, -(-page.total // args.per_page))
        return render_template(
            "queue.html",
            args=args,
            rows=page.rows,
            total=page.total,
            counts=page.counts,
            reviews=page.reviews,
            pages=pages,
            choices=page.choices,
            versions=page.versions,
            tabs=filters.TAB_NAMES,
            sorts=filters.SORT_NAMES,
            per_page_options=filters.PER_PAGE,
        )
