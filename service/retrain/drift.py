"""Drift alarm: how far live traffic's label and confidence distributions moved from the training data (PSI)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "window_n": self.window_n,
            "label_psi": self.label_psi,
            "confidence_psi": self.confidence_psi,
            "threshold": self.threshold,
            "drifting": self.drifting,
        }


def drift_report(
    metrics: Mapping[str, Any],
    *,
    model_name: str,
    model_version: str,
    labels: Mapping[str, int],
    confidences: Mapping[str, int],
    threshold: float,
    min_n: int = 30,
) -> DriftReport:
    """Compare live label counts and confidence-bin counts with the card's training reference `metrics`.

    With fewer than `min_n` live predictions, or a card trained before the reference was stored, a PSI is
    None (unknown) rather than a noisy or made-up number.
    """
    n = sum(labels.values())
    trained = metrics.get("label_counts")
    valid_conf = metrics.get("validation_confidence_hist")
    enough = n >= min_n
    label_psi = psi(trained, labels) if enough and isinstance(trained, dict) and trained else None
    confidence_psi = psi(valid_conf, confidences) if enough and isinstance(valid_conf, dict) and valid_conf else None
    return DriftReport(model_name, model_version, n, label_psi, confidence_psi, threshold)
