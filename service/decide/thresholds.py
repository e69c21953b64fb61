"""Per-class confidence thresholds that keep a promised precision on tickets the model has not seen."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A threshold no confidence reaches: the label is never auto-routed.
NEVER = 1.0
# The precision promised for auto-routed tickets unless the routing file sets another.
DEFAULT_TARGET = 0.98
CALIBRATION_FILE = "calibration.npz"


@dataclass(frozen=True)
class Calibration:
    """A model's out-of-fold answers on its own training tickets: what thresholds are chosen from.

    Each training ticket was labelled by a model fitted without it (cross-validation), so the precision
    measured here is what a new ticket meets, not the optimism of a model grading its own homework.
    """

    labels: tuple[str, ...]
    confidence: np.ndarray  # the calibrated probability of the predicted label
    predicted: np.ndarray  # index into labels
    truth: np.ndarray  # index into labels

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            labels=np.array(self.labels),
            confidence=self.confidence.astype(np.float32),
            predicted=self.predicted.astype(np.int32),
            truth=self.truth.astype(np.int32),
        )

    @classmethod
    def load(cls, path: Path) -> Calibration:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                labels=tuple(str(label) for label in data["labels"]),
                confidence=data["confidence"].astype(np.float64),
                predicted=data["predicted"].astype(np.int64),
                truth=data["truth"].astype(np.int64),
            )

    @classmethod
    def from_probabilities(cls, probs: np.ndarray, truth: np.ndarray, labels: Sequence[str]) -> Calibration:
        return cls(tuple(labels), probs.max(1), probs.argmax(1), np.asarray(truth))

    def thresholds(self, target: float, groups: Mapping[str, str] | None = None) -> dict[str, float]:
        """Per-label thresholds for `target` precision, rare labels shrunk toward their group (queue)."""
        return promised_thresholds(
            self.confidence, self.predicted, self.truth, self.labels, target=target, groups=groups
        )


def promised_thresholds(
    confidence: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    labels: Sequence[str],
    *,
    target: float,
    groups: Mapping[str, str] | None = None,
    prior_weight: float = 20.0,
    z: float = 0.5,
    min_support: int = 10,
) -> dict[str, float]:
    """For each label, the lowest confidence above which its predictions are right at least `target` often.

    The precision of a label's predictions above a cut is estimated from few tickets, so it is shrunk toward
    the precision of its group (the labels of the same queue; all labels when no groups are given) above the
    same cut, a prior worth `prior_weight` tickets; the cut must hold with a margin of `z` standard errors
    (the deepest cut of a noisy curve is otherwise picked where the noise flatters it) and rest on at least
    `min_support` of the label's own tickets (or a lucky run of a few rides on the group's prior). A label
    whose predictions never meet the target gets NEVER. BENCHMARKS.md has what this keeps on unseen data.
    """
    correct = predicted == truth
    group_of = [groups.get(label, "") if groups else "" for label in labels]
    out: dict[str, float] = {}
    for k, label in enumerate(labels):
        mine = predicted == k
        if not mine.any():
            out[label] = NEVER
            continue
        peers = np.isin(predicted, [j for j, g in enumerate(group_of) if g == group_of[k]])
        prior = _precision_above(confidence[peers], correct[peers])
        conf = np.sort(confidence[mine])[::-1]
        hits = np.cumsum(correct[mine][np.argsort(-confidence[mine], kind="stable")])
        n = np.arange(1, len(conf) + 1)
        p0 = prior(conf)
        estimate = (hits + prior_weight * p0) / (n + prior_weight)
        margin = z * np.sqrt(estimate * (1 - estimate) / (n + prior_weight))
        meets = np.nonzero((estimate - margin >= target) & (n >= min_support))[0]
        out[label] = round(float(conf[meets[-1]]), 4) if len(meets) else NEVER
    return out


def _precision_above(confidence: np.ndarray, correct: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function giving, for any cut, the precision of these predictions with confidence at or above it."""
    order = np.argsort(-confidence, kind="stable")
    conf = confidence[order]
    running = np.cumsum(correct[order]) / np.arange(1, len(conf) + 1)
    ascending = conf[::-1]

    def at(cuts: np.ndarray) -> np.ndarray:
        # The number of predictions with confidence >= cut, via a search in the ascending copy.
        above = len(conf) - np.searchsorted(ascending, cuts, side="left")
        return np.where(above > 0, running[np.maximum(above, 1) - 1], 1.0)

    return at


def achieved(
    confidence: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
) -> dict[str, float | None]:
    """What the thresholds do on labelled tickets: the share auto-routed and the precision of those (None
    when none is)."""
    cut = np.array([thresholds.get(labels[k], NEVER) for k in predicted])
    routed = (confidence >= cut) & (cut < NEVER)
    precision = float((predicted[routed] == truth[routed]).mean()) if routed.any() else None
    return {"n": int(len(truth)), "auto_routed_share": float(routed.mean()), "auto_routed_precision": precision}
