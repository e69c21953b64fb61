"""The out-of-scope limit is calibrated on training tickets alone, and a ticket unlike all of them exceeds it."""

from __future__ import annotations

import numpy as np

from service.decide.scope import Scope, calibrate_scope


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clusters(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    return unit(centres[picks] + rng.normal(0, 0.15, (n, centres.shape[1])))


def test_the_limit_flags_the_chosen_share_of_new_in_scope_tickets_and_every_unrelated_one():
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(12, 32)))
    scope = calibrate_scope(clusters(rng, centres[:8], 2000), k=5, quantile=0.95)
    in_scope = scope.distance(clusters(rng, centres[:8], 2000))
    unrelated = scope.distance(clusters(rng, centres[8:], 500))  # intents the model never saw
    assert 0.02 < (in_scope > scope.limit).mean() < 0.09  # about 5 %, as calibrated
    assert (unrelated > scope.limit).mean() > 0.99


def test_leave_one_out_keeps_a_training_ticket_from_being_its_own_neighbour():
    rng = np.random.default_rng(1)
    train = unit(rng.normal(size=(50, 16)))  # no neighbours at all: each is far from every other
    scope = calibrate_scope(train, k=1, quantile=0.5)
    assert scope.limit > 0.3  # with itself counted, every distance (and the limit) would be 0
    assert np.allclose(scope.distance(train), 0.0, atol=1e-5)


def test_the_scope_round_trips_through_its_file(tmp_path):
    rng = np.random.default_rng(2)
    scope = calibrate_scope(unit(rng.normal(size=(40, 8))), k=3, quantile=0.9)
    scope.save(tmp_path / "scope.npz")
    loaded = Scope.load(tmp_path / "scope.npz")
    assert (loaded.k, loaded.limit, loaded.quantile) == (3, scope.limit, 0.9)
    probe = unit(rng.normal(size=(5, 8)))
    np.testing.assert_allclose(loaded.distance(probe), scope.distance(probe), atol=2e-3)  # stored as float16
