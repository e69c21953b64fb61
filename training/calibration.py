"""Temperature scaling, ensemble weights, out-of-fold answers to choose thresholds from, and the held-out
quality of a calibrated model at the thresholds it promises."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from joblib import Parallel, delayed
from scipy.optimize import minimize_scalar
from sklearn.model_selection import StratifiedKFold

from service.core.ports import Classifier
from service.decide.thresholds import NEVER, achieved
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


def out_of_fold(
    fit_predict: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    labels: Sequence[str],
    y: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    jobs: int = 2,
) -> np.ndarray:
    """Each example's class probabilities (columns in `labels` order) from a model fitted without it.

    `fit_predict(train_idx, test_idx)` fits on one part and returns (classes, probabilities of the other);
    stratified folds run `jobs` at a time. A class missing from a fold's training part scores 0 there.
    """
    classes_of = np.asarray(y)
    column = {str(label): i for i, label in enumerate(labels)}
    # A few examples a label (tests, a new helpdesk) get fewer folds rather than an error.
    folds = max(2, min(folds, int(np.unique(classes_of, return_counts=True)[1].max())))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        parts = list(splitter.split(np.zeros(len(classes_of)), classes_of))
    # A fold left with one class cannot be fitted: its tickets get no answer (all zeros), i.e. never trusted.
    fittable = [len(set(classes_of[a])) > 1 for a, _ in parts]
    answers = Parallel(n_jobs=jobs, prefer="processes")(
        delayed(fit_predict)(a, b) for (a, b), ok in zip(parts, fittable, strict=True) if ok
    )
    parts = [part for part, ok in zip(parts, fittable, strict=True) if ok]
    out = np.zeros((len(classes_of), len(labels)))
    for (_, held), (classes, proba) in zip(parts, answers, strict=True):
        cols = [column[str(c)] for c in classes]
        out[np.ix_(held, cols)] = proba
    return out


def choose_weight(encoder: np.ndarray, baseline: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """The encoder's share of the probability mixture with the best validation log-loss."""
    best = (math.inf, 1.0)
    for w in np.linspace(0.3, 1.0, 15):
        mix = w * encoder + (1 - w) * baseline
        loss = -float(np.log(np.clip(mix[np.arange(len(y)), y], 1e-12, None)).mean())
        best = min(best, (loss, float(w)))
    w = best[1]
    return w, w * encoder + (1 - w) * baseline


def quality(model: Classifier, data: Examples, target: float) -> dict[str, float | None]:
    """Accuracy, and what the thresholds promised for `target` precision do on these held-out tickets."""
    predictions = model.predict(data.texts)
    labels = list(model.labels)
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index.get(label, -1) for label in data.labels])
    predicted = np.array([index[p.label] for p in predictions])
    conf = np.array([p.confidence for p in predictions])
    promised = model.thresholds(target, {})
    thresholds = promised if promised is not None else {p.label: p.threshold or NEVER for p in predictions}
    top80 = conf >= np.quantile(conf, 0.2)
    routed = achieved(conf, predicted, truth, labels, thresholds)
    return {
        "n": int(len(truth)),
        "accuracy": float((predicted == truth).mean()),
        "promised_precision": target,
        "auto_routed_share": routed["auto_routed_share"],
        "auto_routed_precision": routed["auto_routed_precision"],
        "accuracy_top80_confident": float((predicted[top80] == truth[top80]).mean()),
    }
