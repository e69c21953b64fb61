"""Thresholds chosen from out-of-fold answers keep their promised precision on tickets they never saw."""

from __future__ import annotations

import numpy as np
import pytest

from service.decide.thresholds import NEVER, Calibration, achieved, promised_thresholds
from training.calibration import out_of_fold

LABELS = ["easy", "hard", "rare", "hopeless"]


def tickets(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence, predicted and true label of n tickets: right with probability = confidence, except that
    'hard' is over-confident and 'hopeless' is right only one time in two whatever its confidence."""
    predicted = rng.choice(4, size=n, p=[0.55, 0.35, 0.02, 0.08])
    confidence = rng.uniform(0.3, 1.0, n)
    p_right = np.where(predicted == 1, confidence**3, confidence)
    p_right = np.where(predicted == 3, 0.5, p_right)
    right = rng.uniform(0, 1, n) < p_right
    truth = np.where(right, predicted, (predicted + 1) % 4)
    return confidence, predicted, truth


@pytest.mark.parametrize("target", [0.9, 0.95, 0.98])
def test_the_promise_holds_on_new_tickets_at_the_coverage_it_can(target: float) -> None:
    rng = np.random.default_rng(7)
    thresholds = promised_thresholds(*tickets(rng, 8000), LABELS, target=target)
    fresh = achieved(*tickets(rng, 40000), LABELS, thresholds)
    assert fresh["auto_routed_precision"] is not None
    assert fresh["auto_routed_precision"] >= target - 0.01
    # Not bought by refusing everything: 'easy' tickets above the target's confidence are routed.
    easy = 1 - (1 - target) * 2  # calibrated and uniform: precision above a cut t is (1 + t) / 2
    assert fresh["auto_routed_share"] > 0.5 * 0.55 * (1 - easy) / 0.7  # half of what a perfect cut routes
    # The over-confident label needs a higher cut than the calibrated one; the hopeless one never routes.
    assert thresholds["hard"] >= thresholds["easy"] >= easy - 0.02
    assert thresholds["hopeless"] == NEVER


def test_a_rare_label_is_shrunk_toward_its_queue_not_trusted_on_a_few_lucky_tickets() -> None:
    # Twelve predictions of 'rare', all right at 0.5 confidence; its queue-mate 'hard' is right 60 % of the time
    # at that confidence, while 'easy', in another queue, is always right.
    confidence = np.full(12 + 100 + 100, 0.5)
    predicted = np.array([2] * 12 + [1] * 100 + [0] * 100)
    truth = np.array([2] * 12 + [1] * 60 + [3] * 40 + [0] * 100)
    queues = {"rare": "q", "hard": "q", "easy": "other", "hopeless": "other"}
    alone = promised_thresholds(confidence, predicted, truth, LABELS, target=0.95, prior_weight=0, z=0)
    shrunk = promised_thresholds(confidence, predicted, truth, LABELS, target=0.95, groups=queues)
    assert alone["rare"] == 0.5  # twelve right answers alone would route 'rare' at any confidence
    assert shrunk["rare"] == NEVER  # its queue says that confidence is right 60 % of the time
    # With a queue whose labels are right at that confidence, the same twelve tickets are enough.
    reliable = {"rare": "q", "easy": "q", "hard": "other", "hopeless": "other"}
    assert promised_thresholds(confidence, predicted, truth, LABELS, target=0.95, groups=reliable)["rare"] == 0.5


def test_a_label_never_predicted_is_never_auto_routed() -> None:
    thresholds = promised_thresholds(np.array([0.9]), np.array([0]), np.array([0]), LABELS, target=0.9)
    assert thresholds["rare"] == NEVER and thresholds["hopeless"] == NEVER


def test_calibration_round_trips_through_its_file(tmp_path) -> None:
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(4), size=50)
    truth = rng.integers(0, 4, 50)
    calibration = Calibration.from_probabilities(probs, truth, LABELS)
    calibration.save(tmp_path / "c.npz")
    loaded = Calibration.load(tmp_path / "c.npz")
    assert loaded.labels == tuple(LABELS)
    assert np.allclose(loaded.confidence, probs.max(1), atol=1e-6)
    assert loaded.thresholds(0.5) == calibration.thresholds(0.5)


def test_out_of_fold_answers_come_from_models_that_never_saw_the_ticket() -> None:
    y = np.array(["a", "b"] * 20)

    def fit_predict(train: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert not set(train) & set(held)
        # Each held-out ticket's "probabilities" say how many of the fold's training tickets were its own.
        proba = np.zeros((len(held), 2))
        proba[:, 0] = [float(i in set(train)) for i in held]
        proba[:, 1] = len(train)
        return np.array(["a", "b"]), proba

    oof = out_of_fold(fit_predict, ["a", "b"], y, folds=4, jobs=1)
    assert (oof[:, 0] == 0).all()  # never in its own fold's training part
    assert (oof[:, 1] == 30).all()  # every fold trained on the other three quarters


def test_a_fold_left_with_one_class_gives_no_answer_instead_of_failing() -> None:
    y = np.array(["a", "a", "a", "b"])  # three folds: the one holding out "b" trains on "a" alone

    def fit_predict(train: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert len(set(y[train])) == 2, "a one-class part must not be fitted"
        return np.array(["a", "b"]), np.full((len(held), 2), 0.5)

    oof = out_of_fold(fit_predict, ["a", "b"], y, folds=3, jobs=1)
    unanswered = oof.sum(1) == 0
    assert unanswered[3] and not unanswered.all()
