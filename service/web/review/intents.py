"""An admin turns a cluster of tickets no label fits into a new label, from the dashboard."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from service.review import errors as review_errors
from service.review import intents as review_intents
from service.runtime import runtime
from service.web.auth import role_required
from service.web.review import bp


@bp.post("/intents/<int:cluster_id>/label")
@role_required("admin")
def name_intent(cluster_id: int) -> Response:
    rt = runtime()
    try:
        with rt.db.session() as session:
            cluster = review_intents.name_intent(
                rt, session, cluster_id=cluster_id, label=request.form.get("label", ""), by=current_user.username
            )
            label, size = cluster.label, cluster.size
    except review_errors.ReviewError as exc:
        flash(str(exc), "error")
    else:
        flash(
            f"Cluster {cluster_id} is now the label {label}. Agents see it suggested on its {size} tickets; "
            "each one an agent confirms becomes training data.",
            "success",
        )
    return redirect(url_for("review.dashboard") + "#intents", 303)
