"""Count every answer of the intake endpoints into the shared intake statistics (service/ops/intake_stats.py)."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from service.ops.intake_stats import IntakeStats
from service.web.throttle import intake_source


def install(app: Flask, stats: IntakeStats) -> None:
    """Count every answer of the intake endpoints, refusals included, by source, status and outcome."""

    @app.before_request
    def _start() -> None:
        g.intake_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        source = intake_source() if request.method == "POST" else None
        if source is not None:
            status = response.status_code
            outcome = g.get("intake_outcome") or (
                "rate_limited" if status == 429 else "refused" if status < 500 else "error"
            )
            started = g.get("intake_started")
            seconds = time.perf_counter() - started if started is not None and status < 300 else None
            stats.record(source=source, status=status, outcome=outcome, seconds=seconds)
        return response
