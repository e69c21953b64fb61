"""Which int8 answers are computed again in fp32: those within the margins of a threshold or the scope limit."""

import numpy as np
import pytest

from service.decide.cascade import Margins, log_odds, needs_exact
from service.decide.thresholds import NEVER

# Half a unit of log-odds: around 0.9 that is 0.85-0.94 in probability, around 0.5 it is 0.38-0.62.
M = Margins(log_odds=0.5, scope=0.02)
CUTS = np.array([0.9, 0.8, NEVER])


def rows(*top: tuple[int, float]) -> np.ndarray:
    """One row per (label, probability), the rest of the probability spread over the other labels."""
    out = np.zeros((len(top), len(CUTS)))
    for i, (label, p) in enumerate(top):
        out[i] = (1 - p) / (len(CUTS) - 1)
        out[i, label] = p
    return out


def test_log_odds_are_symmetric_and_finite_at_the_ends():
    assert log_odds(np.array([0.5]))[0] == 0.0
    assert log_odds(np.array([0.9]))[0] == pytest.approx(-log_odds(np.array([0.1]))[0])
    assert np.isfinite(log_odds(np.array([0.0, 1.0]))).all()
    # float32 certainty too: two graphs both sure of a label move it by nothing, not by inf - inf.
    certain = np.array([1.0], dtype=np.float32)
    assert log_odds(certain)[0] - log_odds(certain)[0] == 0.0


def test_clearly_above_or_clearly_below_every_threshold_is_left_to_int8():
    proba = rows((0, 0.97), (1, 0.90), (0, 0.50), (1, 0.60))
    assert not needs_exact(proba, CUTS, M).any()


@pytest.mark.parametrize(("label", "p"), [(0, 0.93), (0, 0.87), (0, 0.90), (1, 0.75), (1, 0.85)])
def test_within_the_margin_of_the_top_labels_threshold_is_computed_again(label, p):
    assert needs_exact(rows((label, p)), CUTS, M).all()


def test_the_same_margin_is_narrow_in_probability_near_the_ends_and_wide_in_the_middle():
    cuts = np.array([0.99, 0.5, NEVER])
    # 0.996 is only 0.006 above a 0.99 cut, yet clear of it in log-odds; 0.58 is 0.08 above 0.5, and is not.
    assert needs_exact(rows((0, 0.996), (1, 0.58)), cuts, M).tolist() == [False, True]


def test_a_runner_up_near_its_own_threshold_is_computed_again():
    # Label 0 leads at 0.41, far under its 0.9; label 1 follows at 0.39, far under its 0.8: nothing to check.
    # With a cut of 0.45 for label 1, fp32 might rank label 1 first and route it.
    proba = np.array([[0.41, 0.39, 0.20]])
    assert not needs_exact(proba, CUTS, M).any()
    assert needs_exact(proba, np.array([0.9, 0.45, NEVER]), M).all()


def test_a_label_that_is_never_routed_has_no_border():
    assert not needs_exact(rows((2, 0.999), (2, 0.5)), CUTS, M).any()


def test_a_top_label_fp32_might_not_rank_first_is_computed_again():
    # 0.56 clears a 0.3 cut by far, but half a unit of log-odds below 0.56 is under 0.5: fp32's top could differ.
    proba = np.array([[0.56, 0.42, 0.02]])
    assert needs_exact(proba, np.array([0.3, 0.9, NEVER]), M).all()


def test_a_rare_label_under_the_floor_is_clear_only_of_a_threshold_above_the_floor():
    proba = np.array([[0.02, 0.03, 0.95]])  # label 2 is never routed; labels 0 and 1 are rare
    assert not needs_exact(proba, np.array([0.9, 0.8, NEVER]), M).any()
    # A threshold of 0.04 the bound cannot speak for: a rare label at 0.03 might reach it in fp32.
    assert needs_exact(proba, np.array([0.9, 0.04, NEVER]), M).all()


def test_near_the_scope_limit_is_computed_again_and_clearly_outside_is_not():
    proba = rows((0, 0.97), (0, 0.97), (0, 0.97), (0, 0.92))
    distances = np.array([0.30, 0.39, 0.50, 0.50])
    # In scope and sure; at the limit; beyond it by far (needs review whatever the confidence), twice.
    assert needs_exact(proba, CUTS, M, distances, limit=0.40).tolist() == [False, True, False, False]


def test_no_tickets_no_work():
    assert needs_exact(np.zeros((0, 3)), CUTS, M, np.zeros(0), 0.4).shape == (0,)
