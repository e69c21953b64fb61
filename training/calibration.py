"""Temperature scaling, ensemble weights, per-class thresholds chosen for a target precision, and the
held-out quality of a calibrated model at those thresholds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from training.data import Examples


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The T that minimises validation negative log-likelihood of softmax(logits / T)."""

    def nll(t: float) -> float:
        p = softmax(logits / t)
        return -float(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    result = minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded")
    return round(float(result.x), 4)


def per_class_thresholds(
    probs: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    *,
    target_precision: float,
    min_support: int = 8,
    prior_weight: float = 4.0,
) -> dict[str, float]:
    """For each label, the lowest confidence at which predictions of it reach the target precision.

    Validation sets hold few examples per label, so a label's precision is shrunk towards the global one
    (a Beta-style prior worth `prior_weight` predictions) and labels with too little support use the global
    threshold. The result is what a ServiceNow-style precision/coverage operating point would pick.
    """
    predicted = probs.argmax(1)
    confidence = probs.max(1)
    correct = predicted == y
    global_t = _lowest_threshold(confidence, correct, target_precision)
    global_precision = float(correct[confidence >= global_t].mean()) if (confidence >= global_t).any() else 1.0
    thresholds: dict[str, float] = {}
    for k, label in enumerate(labels):
        mine = predicted == k
        if mine.sum() < min_support:
            thresholds[label] = global_t
            continue
        thresholds[label] = _lowest_threshold(
            confidence[mine], correct[mine], target_precision, prior=(global_precision, prior_weight), floor=0.0
        )
    return thresholds


def _lowest_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target: float,
    prior: tuple[float, float] | None = None,
    floor: float = 0.0,
) -> float:
    order = np.argsort(-confidence)
    conf, ok = confidence[order], correct[order].astype(float)
    hits = np.cumsum(ok)
    n = np.arange(1, len(ok) + 1)
    if prior is not None:
        p0, w = prior
        precision = (hits + p0 * w) / (n + w)
    else:
        precision = hits / n
    meets = np.nonzero(precision >= target)[0]
    if len(meets) == 0:
        return round(float(min(1.0, conf[0] + 1e-6)), 4) if len(conf) else 1.0
    # The deepest cut (lowest confidence) at which the running precision still meets the target.
    return round(max(floor, float(conf[meets[-1]])), 4)


def choose_weight(encoder: np.ndarray, baseline: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The encoder's share of the probability mixture with the best validation log-loss."""
    best = (math.inf, 1.0)
    for w in np.linspace(0.3, 1.0, 15):
        mix = w * encoder + (1 - w) * baseline
        loss = -float(np.log(np.clip(mix[np.arange(len(y)), y], 1e-12, None)).mean())
        best = min(best, (loss, float(w)))
    w = best[1]
    return w, w * encoder + (1 - w) * baseline


def quality(model: Any, data: Examples, thresholds: dict[str, float]) -> dict[str, float]:
    """Accuracy, and accuracy on what the per-class thresholds would auto-route (with its coverage)."""
    predictions = model.predict(data.texts)
    truth = np.array(data.labels)
    predicted = np.array([p.label for p in predictions])
    confident = np.array([p.confidence >= thresholds.get(p.label, 1.01) for p in predictions])
    conf = np.array([p.confidence for p in predictions])
    top80 = conf >= np.quantile(conf, 0.2)
    return {
        "n": int(len(truth)),
        "accuracy": float((predicted == truth).mean()),
        "auto_routed_share": float(confident.mean()),
        "auto_routed_accuracy": float((predicted[confident] == truth[confident]).mean()) if confident.any() else 0.0,
        "accuracy_top80_confident": float((predicted[top80] == truth[top80]).mean()),
    }
