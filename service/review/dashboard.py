"""The dashboard's numbers: routing shares, agreement with agents, volumes, drift, shadow."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.core.clock import now_utc
from service.core.modelcard import ModelCardError, current_version_dir, shadow_version_dir
from service.escalate.queries import llm_stats
from service.infra.models import (
    WritebackRow,
)
from service.infra.queries import count_by
from service.retrain.drift import DriftReport
from service.retrain.flow import drift
from service.review.stats import (
    ShadowOutcomes,
    confidence_histogram,
    daily_queue_volume,
    decision_counts,
    model_versions_used,
    reviewed_outcomes,
    shadow_outcomes,
)
from service.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dashboard:
    """The numbers and series the dashboard shows for the last `days` days."""

    days: int
    decided: int
    by_status: dict[str, int]
    reviewed: int
    label_kept: int
    routing_kept: int
    volume: list[tuple[str, str, int]]
    histogram: list[tuple[int, str, int]]
    models_used: list[tuple[str, str, int]]
    writebacks: dict[str, int]
    model_in_service: str | None
    model_problem: str | None
    # None when no LLM is configured and none was ever called.
    llm_cost_per_1000: float | None = None
    # None when no model is in service.
    drift: DriftReport | None = None
    # The version running in shadow and how it compared; None when none is.
    shadow_model: str | None = None
    shadow: ShadowOutcomes | None = None

    def share(self, status: str) -> float | None:
        return self.by_status.get(status, 0) / self.decided if self.decided else None

    @property
    def label_accuracy(self) -> float | None:
        return self.label_kept / self.reviewed if self.reviewed else None

    @property
    def routing_accuracy(self) -> float | None:
        return self.routing_kept / self.reviewed if self.reviewed else None


def dashboard(runtime: Runtime, session: Session, *, days: int) -> Dashboard:
    since = now_utc() - timedelta(days=days)
    by_status = decision_counts(session=session, since=since)
    reviewed, label_kept, routing_kept = reviewed_outcomes(session=session, since=since)
    try:
        directory = current_version_dir(runtime.settings.models_dir, runtime.settings.model_name)
        model, problem = f"{runtime.settings.model_name}@{directory.name}", None
    except ModelCardError as exc:
        model, problem = None, str(exc)
    shadow_model, shadow = _shadow_stats(runtime, session, since)
    return Dashboard(
        days=days,
        decided=sum(by_status.values()),
        by_status=by_status,
        reviewed=reviewed,
        label_kept=label_kept,
        routing_kept=routing_kept,
        volume=daily_queue_volume(session=session, since=since),
        histogram=confidence_histogram(session=session, since=since),
        models_used=model_versions_used(session=session, since=since),
        writebacks=count_by(session=session, column=WritebackRow.status),
        model_in_service=model,
        model_problem=problem,
        llm_cost_per_1000=_llm_cost_per_1000(runtime, session, since),
        drift=drift(runtime, session),
        shadow_model=shadow_model,
        shadow=shadow,
    )


def _shadow_stats(runtime: Runtime, session: Session, since: datetime) -> tuple[str | None, ShadowOutcomes | None]:
    """The version in shadow and how it compared, or (None, None) when none runs."""
    directory = shadow_version_dir(runtime.settings.models_dir, runtime.settings.model_name)
    if directory is None:
        return None, None
    return (
        f"{runtime.settings.model_name}@{directory.name}",
        shadow_outcomes(session=session, model_version=directory.name, since=since),
    )


def _llm_cost_per_1000(runtime: Runtime, session: Session, since: datetime) -> float | None:
    stats = llm_stats(session=session, since=since)
    if runtime.llm is None and not stats["llm_calls"]:
        return None
    return float(stats["cost_per_1000_tickets"] or 0.0)
