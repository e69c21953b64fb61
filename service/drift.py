"""Drift alarm: how far live traffic's label and confidence distributions moved from the training data (PSI)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.modelcard import ModelCard
from service.models import PredictionRow

# Ten equal-width confidence bins; training stores validation confidences with the same edges.
CONFIDENCE_EDGES = tuple(i / 10 for i in range(11))
# An empty bin would make PSI infinite; a small floor is the usual remedy and keeps one stray label finite.
EPSILON = 1e-4


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float:
    """Population stability index between two distributions given as counts (or shares) per bin.

    Sum over bins of (a - e) * ln(a / e) on shares; < 0.1 is stable, 0.1-0.2 a shift, > 0.2 a large one.
    """
    bins = set(expected) | set(actual)
    e_total = sum(expected.values())
    a_total = sum(actual.values())
    if not bins or e_total <= 0 or a_total <= 0:
        return 0.0
    total = 0.0
    for b in bins:
        e = max(expected.get(b, 0) / e_total, EPSILON)
        a = max(actual.get(b, 0) / a_total, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def confidence_histogram(confidences: Sequence[float]) -> dict[str, int]:
    """Counts of confidences in CONFIDENCE_EDGES bins, keyed by bin index as a string (JSON-friendly)."""
    counts = {str(i): 0 for i in range(len(CONFIDENCE_EDGES) - 1)}
    last = len(CONFIDENCE_EDGES) - 2
    for c in confidences:
        counts[str(min(max(int(float(c) * 10), 0), last))] += 1
    return counts


@dataclass(frozen=True)
class DriftReport:
    model_name: str
    model_version: str
    window_n: int
    label_psi: float | None
    confidence_psi: float | None
    threshold: float

    @property
    def drifting(self) -> bool:
        return any(v is not None and v > self.threshold for v in (self.label_psi, self.confidence_psi))

    def as_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_version": self.model_version, "window_n": self.window_n,
                "label_psi": self.label_psi, "confidence_psi": self.confidence_psi, "threshold": self.threshold,
                "drifting": self.drifting}


def live_distributions(session: Session, *, model_name: str, model_version: str, since: datetime,
                       ) -> tuple[dict[str, int], dict[str, int]]:
    """Label counts and confidence-bin counts of the serving predictions of one model version since `since`."""
    where = (PredictionRow.model_name == model_name, PredictionRow.model_version == model_version,
             PredictionRow.role == "serving", PredictionRow.created_at >= since)
    labels = {label: int(n) for label, n in session.execute(
        select(PredictionRow.label, func.count()).where(*where).group_by(PredictionRow.label))}
    confidences = session.scalars(select(PredictionRow.confidence).where(*where)).all()
    return labels, confidence_histogram(confidences)


def drift_report(session: Session, card: ModelCard, *, now: datetime, window: timedelta, threshold: float,
                 min_n: int = 30) -> DriftReport:
    """Compare the last `window` of live predictions by this model version with its card's training data.

    With fewer than `min_n` predictions in the window, or a card trained before label counts were stored,
    the PSI is None (unknown) rather than a noisy number.
    """
    labels, confidences = live_distributions(session, model_name=card.name, model_version=card.version,
                                             since=now - window)
    n = sum(labels.values())
    trained = card.metrics.get("label_counts")
    valid_conf = card.metrics.get("validation_confidence_hist")
    enough = n >= min_n
    label_psi = psi(trained, labels) if enough and isinstance(trained, dict) and trained else None
    confidence_psi = psi(valid_conf, confidences) if enough and isinstance(valid_conf, dict) and valid_conf else None
    return DriftReport(card.name, card.version, n, label_psi, confidence_psi, threshold)
