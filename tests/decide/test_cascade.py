"""Which int8 answers are computed again in fp32: those within the margins of a threshold or the scope limit."""

import numpy as np
import pytest

from service.decide.cascade import Margins, needs_exact
from service.decide.thresholds import NEVER

M = Margins(confidence=0.05, scope=0.02)
CUTS = np.array([0.9, 0.8, NEVER])


def rows(*top: tuple[int, float]) -> np.ndarray:
    """One row per (label, probability), the rest of the probability spread over the other labels."""
    out = np.zeros((len(top), len(CUTS)))
    for i, (label, p) in enumerate(top):
        out[i] = (1 - p) / (len(CUTS) - 1)
        out[i, label] = p
    return out


def test_clearly_above_or_clearly_below_every_threshold_is_left_to_int8():
    proba = rows((0, 0.97), (1, 0.86), (0, 0.50), (1, 0.60))
    assert not needs_exact(proba, CUTS, M).any()


@pytest.mark.parametrize(("label", "p"), [(0, 0.93), (0, 0.87), (0, 0.90), (1, 0.76), (1, 0.84)])
def test_within_the_margin_of_the_top_labels_threshold_is_computed_again(label, p):
    assert needs_exact(rows((label, p)), CUTS, M).all()


def test_a_runner_up_near_its_own_threshold_is_computed_again():
    # Label 0 leads at 0.41, far under its 0.9; label 1 follows at 0.39, far under its 0.8: nothing to check.
    # With a cut of 0.42 for label 1, fp32 might rank label 1 first and route it.
    proba = np.array([[0.41, 0.39, 0.20]])
    assert not needs_exact(proba, CUTS, M).any()
    assert needs_exact(proba, np.array([0.9, 0.42, NEVER]), M).all()


def test_a_label_that_is_never_routed_has_no_border():
    assert not needs_exact(rows((2, 0.999), (2, 0.5)), CUTS, M).any()


def test_a_top_label_fp32_might_not_rank_first_is_computed_again():
    # 0.52 clears a 0.4 cut by more than the margin, but 0.52 - 0.05 keeps no majority: fp32's top could differ.
    proba = np.array([[0.52, 0.46, 0.02]])
    assert needs_exact(proba, np.array([0.4, 0.9, NEVER]), M).all()


def test_near_the_scope_limit_is_computed_again_and_clearly_outside_is_not():
    proba = rows((0, 0.97), (0, 0.97), (0, 0.97), (0, 0.93))
    distances = np.array([0.30, 0.39, 0.50, 0.50])
    # In scope and sure; at the limit; beyond it by far (needs review whatever the confidence), twice.
    assert needs_exact(proba, CUTS, M, distances, limit=0.40).tolist() == [False, True, False, False]


def test_no_tickets_no_work():
    assert needs_exact(np.zeros((0, 3)), CUTS, M, np.zeros(0), 0.4).shape == (0,)
