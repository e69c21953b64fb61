"""The dashboard: how much Triage routes alone, how often it is right, and what comes in where."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from flask import render_template, request
from flask_login import current_user, login_required

from service.review import dashboard as review_dashboard
from service.review import intents as review_intents
from service.runtime import runtime
from service.web.review import bp
from service.web.review.charts import Series, colours, sparkline, stacked_bars, swatch

WINDOWS = (7, 30, 90)
BINS = 10


@bp.get("/dashboard")
@login_required
def dashboard() -> str:
    raw = request.args.get("days", "")
    days = next((d for d in WINDOWS if raw == str(d)), 30)
    problems = [] if raw in ("", str(days)) else [f"days {raw[:40]!r} is not one of 7, 30, 90; showing 30 days"]
    rt = runtime()
    with rt.db.session() as session:
        stats = review_dashboard.dashboard(rt, session, days=days)
        clusters = review_intents.intent_clusters(session)
    today = date.today()
    day_names = [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    per_queue: dict[str, dict[str, int]] = defaultdict(dict)
    for day, queue, n in stats.volume:
        per_queue[queue][day] = n
    queue_names = sorted(per_queue, key=lambda q: -sum(per_queue[q].values()))
    queue_colours = colours(queue_names)
    volume_chart = stacked_bars(
        [d[5:] for d in day_names],
        [Series(q, [per_queue[q].get(d, 0) for d in day_names], queue_colours[q]) for q in queue_names],
        title="Tickets per queue per day",
        description=f"Stacked bars of decided tickets per day for the last {days} days, one colour per queue.",
        tick_every=max(1, days // 10),
    )
    bins: dict[str, list[int]] = {"auto_routed": [0] * BINS, "needs_review": [0] * BINS, "escalated": [0] * BINS}
    for b, status, n in stats.histogram:
        bins.setdefault(status, [0] * BINS)[b] += n
    status_colours = {"auto_routed": "#0072b2", "needs_review": "#e69f00", "escalated": "#d55e00"}
    histogram_chart = stacked_bars(
        [f"{b * 10}–{b * 10 + 10}" for b in range(BINS)],
        [Series(s.replace("_", " "), v, status_colours.get(s, "#7f7f7f")) for s, v in bins.items()],
        title="Confidence histogram",
        description="Tickets per confidence band of the predicted label, in percent, stacked by routing status.",
    )
    return render_template(
        "dashboard.html",
        stats=stats,
        days=days,
        windows=WINDOWS,
        volume_chart=volume_chart,
        histogram_chart=histogram_chart,
        queue_legend=[(q, swatch(queue_colours[q])) for q in queue_names],
        status_legend=[(s, swatch(status_colours.get(s, "#7f7f7f"))) for s in bins],
        volume_table=[
            (d, [per_queue[q].get(d, 0) for q in queue_names])
            for d in day_names
            if any(per_queue[q].get(d) for q in queue_names)
        ],
        queue_names=queue_names,
        bins=bins,
        drift_days=rt.settings.drift_window_days,
        clusters=clusters,
        sparklines={
            c.id: sparkline([n for _, n in c.per_day], title=f"Tickets per day over the last {len(c.per_day)} days")
            for c in clusters
        },
        is_admin=current_user.role == "admin",
        intents_interval_s=rt.settings.intents_interval_s,
        problems=problems,
    )
