"""The out-of-scope limit is calibrated on training tickets alone, and a ticket unlike all of them exceeds it;
distances are measured against how far apart the neighbours' own labels usually lie."""

from __future__ import annotations

import numpy as np

from service.decide.scope import PRIOR_TICKETS, Scope, calibrate_scope, label_yardsticks


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def clusters(rng: np.random.Generator, centres: np.ndarray, n: int, spread: float = 0.15) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    return unit(centres[picks] + rng.normal(0, spread, (n, centres.shape[1])))


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
    assert loaded.offsets is None  # calibrated without labels: the plain distance, as models trained before offsets
    probe = unit(rng.normal(size=(5, 8)))
    np.testing.assert_allclose(loaded.distance(probe), scope.distance(probe), atol=2e-3)  # stored as float16
    labelled = calibrate_scope(unit(rng.normal(size=(40, 8))), ["a"] * 20 + ["b"] * 20, k=3)
    labelled.save(tmp_path / "labelled.npz")
    again = Scope.load(tmp_path / "labelled.npz")
    assert again.yardsticks is not None and labelled.yardsticks is not None
    for read, written in zip(again.yardsticks, labelled.yardsticks, strict=True):
        np.testing.assert_allclose(read, written)
    np.testing.assert_allclose(again.distance(probe), labelled.distance(probe), atol=2e-3)


def tight_and_loose(rng: np.random.Generator, centres: np.ndarray, n_tight: int, n_loose: int):
    """Tickets of two labels far apart: "tight" ones lie close together, "loose" ones spread wide."""
    tight, loose = clusters(rng, centres[:1], n_tight, 0.05), clusters(rng, centres[1:], n_loose, 0.15)
    return np.vstack([tight, loose]), ["tight"] * n_tight + ["loose"] * n_loose


def test_a_ticket_is_measured_against_its_neighbours_own_spread():
    rng = np.random.default_rng(3)
    centres = unit(rng.normal(size=(2, 32)))
    train, labels = tight_and_loose(rng, centres, 500, 100)
    relative = calibrate_scope(train, labels, k=5, quantile=0.95)
    plain = calibrate_scope(train, k=5, quantile=0.95)
    new_tight = clusters(rng, centres[:1], 300, 0.05)
    new_loose = clusters(rng, centres[1:], 300, 0.15)
    off_tight = clusters(rng, centres[:1], 300, 0.1)  # off the tight label, but no farther than loose tickets lie

    def flagged(scope: Scope, tickets: np.ndarray) -> float:
        return float((scope.distance(tickets) > scope.limit).mean())

    # Plain distance lets tickets off the tight label pass, and flags the loose label's own tickets for its
    # looseness (they fill the tail the limit is read from). Measured against their neighbours' own label, the
    # tickets off the tight label stand out, and each label's own new tickets are flagged about as calibrated.
    assert flagged(plain, off_tight) < 0.05 and flagged(relative, off_tight) > 0.8
    assert flagged(plain, new_loose) > 0.2 and flagged(relative, new_loose) < 0.12
    assert flagged(relative, new_tight) < 0.12


def test_a_small_labels_yardsticks_lean_on_every_labels():
    own = np.array([0.1, 0.2, 0.3] * 30 + [0.5, 0.5], dtype=np.float64)
    offsets, scales = label_yardsticks(own, ["big"] * 90 + ["small"] * 2)
    overall_median = float(np.median(own))
    overall_spread = float(np.quantile(own, 0.9) - np.quantile(own, 0.1))
    assert PRIOR_TICKETS == 10
    # 90 tickets of its own: the big label's median (0.2) and spread (0.2) move a tenth of the way toward all.
    assert abs(float(offsets[0]) - (90 * 0.2 + 10 * overall_median) / 100) < 1e-6
    assert abs(float(scales[0]) - (90 * 0.2 + 10 * overall_spread) / 100) < 1e-6
    # Two tickets, the same distance: no spread of its own, so its yardsticks are mostly everyone's.
    assert abs(float(offsets[-1]) - (2 * 0.5 + 10 * overall_median) / 12) < 1e-6
    assert abs(float(scales[-1]) - 10 * overall_spread / 12) < 1e-6 and float(scales[-1]) > 0


def test_a_scope_without_some_tickets_measures_them_as_new():
    rng = np.random.default_rng(4)
    train, labels = tight_and_loose(rng, unit(rng.normal(size=(2, 32))), 50, 50)
    scope = calibrate_scope(train, labels, k=3)
    rest = scope.without(np.array([0, 60]))
    assert rest.offsets is not None and rest.scales is not None
    assert len(rest.embeddings) == len(rest.offsets) == len(rest.scales) == 98 and rest.limit == scope.limit
    # Without itself, a training ticket is as far as its nearest others: more than 0 from them.
    assert (rest.distance(train[[0, 60]]) > scope.distance(train[[0, 60]])).all()


def test_the_limit_is_the_chosen_quantile_of_the_training_tickets_own_distances():
    rng = np.random.default_rng(3)
    centres = unit(rng.normal(size=(6, 16)))
    labels = [str(i % 6) for i in range(600)]
    embeddings = unit(centres[np.arange(600) % 6] + rng.normal(0, 0.2, (600, 16)))
    scope = calibrate_scope(embeddings, labels, k=5, quantile=0.9)
    own = scope.own_distances()
    assert own.shape == (600,) and scope.limit == round(float(np.quantile(own, 0.9)), 4)
    # Leave-one-out: the same tickets sent as new ones lie at distance 0 from themselves, so closer.
    assert np.median(scope.distance(embeddings)) < np.median(own)


def test_the_routing_file_may_read_the_limit_at_another_quantile_of_the_same_distances():
    rng = np.random.default_rng(4)
    centres = unit(rng.normal(size=(6, 16)))
    labels = [str(i % 6) for i in range(300)]
    scope = calibrate_scope(unit(centres[np.arange(300) % 6] + rng.normal(0, 0.2, (300, 16))), labels, quantile=0.95)
    own = scope.own_distances()
    assert scope.limit_at(None) == scope.limit_at(0.95) == scope.limit
    stricter = scope.limit_at(0.8)
    assert stricter == round(float(np.quantile(own, 0.8)), 4) < scope.limit
    assert 0.17 < (own > stricter).mean() < 0.23  # a fifth of the training tickets now lie beyond it
    assert scope.limit_at(0.8) == stricter and 0.8 in scope._limits  # measured once, then kept
