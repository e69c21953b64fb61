"""The int8 gate on synthetic validation answers: int8 beside fp32, which answers the tickets near a border."""

import numpy as np
import pytest

from service.decide.cascade import FLOOR, Margins, log_odds
from service.decide.thresholds import NEVER, Calibration
from training.calibration import softmax
from training.quantize import Served, cascade, int8_gate, measure_margins, routed, serve

LABELS = ["a", "b", "c", "d"]
N, UNSURE = 1000, 100
CUTS = dict.fromkeys(LABELS, 0.9)


def answers() -> tuple[np.ndarray, np.ndarray]:
    """900 confident right answers (0.97), then 100 unsure ones (0.45 against 0.40), half of them right."""
    y = np.arange(N) % len(LABELS)
    probs = np.full((N, len(LABELS)), 0.01)
    probs[np.arange(N), y] = 0.97
    for i in range(N - UNSURE, N):
        other = (y[i] + 1) % len(LABELS)
        probs[i] = 0.075
        right = i % 2 == 0
        probs[i, y[i]], probs[i, other] = (0.45, 0.40) if right else (0.40, 0.45)
    return probs, y


def served(probs: np.ndarray, y: np.ndarray, thresholds: dict[str, float] | None = None) -> Served:
    return Served("g", 1.0, 1.0, probs, Calibration.from_probabilities(probs, y, LABELS), thresholds or CUTS)


def nudged(probs: np.ndarray, rows: slice | list[int], by: float) -> np.ndarray:
    """Move the top probability of these rows by `by`, as int8's rounding does."""
    out = probs.copy()
    top = out.argmax(1)
    idx = np.arange(N)[rows]
    out[idx, top[idx]] += by
    return out


def gate(fp32: np.ndarray, int8: np.ndarray, y: np.ndarray, margin: float, **limits) -> dict:
    return int8_gate(served(fp32, y), int8, Margins(margin, 0.0), y, **limits)


def test_int8_moving_confident_answers_across_a_threshold_is_served_when_the_margin_covers_the_move():
    fp32, y = answers()
    fp32[:20] = np.where(fp32[:20] > 0.5, 0.91, 0.03)  # 20 tickets just over their 0.9 threshold
    int8 = nudged(fp32, slice(0, 20), -0.02)  # int8 puts them just under: alone, it routes them otherwise
    parity = gate(fp32, int8, y, margin=0.3)  # log-odds: 0.89 is 0.11 under 0.9's, 0.97 is 1.28 over
    assert parity["int8_alone_vs_fp32_routing_agreement"] == pytest.approx(0.98)
    assert parity["int8_vs_fp32_routing_agreement"] == 1.0
    # The 20 tickets near the border are answered by fp32; every other by int8.
    assert parity["int8_answered_in_fp32_share"] == pytest.approx(0.02)
    assert parity["int8_published"] is True


def test_a_margin_smaller_than_int8s_move_is_refused():
    fp32, y = answers()
    fp32[:10] = np.where(fp32[:10] > 0.5, 0.93, 0.0233)
    int8 = nudged(fp32, slice(0, 10), -0.05)  # 0.88: 0.2 of log-odds under 0.9's, but the margin says 0.01
    parity = gate(fp32, int8, y, margin=0.01)
    assert parity["int8_vs_fp32_routing_agreement"] == pytest.approx(0.99)
    assert parity["int8_auto_routed_share"] == pytest.approx(parity["fp32_auto_routed_share"] - 0.01)
    assert parity["int8_published"] is False


@pytest.mark.parametrize(("broken", "published"), [(3, True), (4, False)])
def test_the_cascade_accuracy_may_move_by_at_most_three_tenths_of_a_point(broken, published):
    fp32, y = answers()
    int8 = fp32.copy()
    # Unsure right answers whose top two int8 swaps: far below every threshold, so fp32 never sees them.
    for i in [i for i in range(N - UNSURE, N) if i % 2 == 0][:broken]:
        top, second = np.argsort(int8[i])[::-1][:2]
        int8[i, top], int8[i, second] = int8[i, second], int8[i, top]
    parity = gate(fp32, int8, y, margin=0.3)
    assert parity["fp32_validation_accuracy"] - parity["int8_validation_accuracy"] == pytest.approx(broken / N)
    assert parity["int8_vs_fp32_routing_agreement"] == 1.0
    assert parity["int8_published"] is published


def test_the_scope_limit_is_a_border_too():
    fp32, y = answers()
    d32 = np.full(N, 0.2)
    d32[:10] = 0.41  # just out of scope under fp32
    d8 = d32.copy()
    d8[:10] = 0.385  # just in under int8
    refused = int8_gate(served(fp32, y), fp32, Margins(0.03, 0.01), y, fp32_distances=d32, int8_distances=d8, limit=0.4)
    assert refused["int8_vs_fp32_routing_agreement"] == pytest.approx(0.99) and not refused["int8_published"]
    kept = int8_gate(served(fp32, y), fp32, Margins(0.03, 0.03), y, fp32_distances=d32, int8_distances=d8, limit=0.4)
    assert kept["int8_vs_fp32_routing_agreement"] == 1.0 and kept["int8_published"]
    assert kept["int8_answered_in_fp32_share"] == pytest.approx(0.01)


def test_the_cascade_takes_fp32s_answer_and_distance_where_it_looked_again():
    fp32, y = answers()
    fp32[:5] = np.where(fp32[:5] > 0.5, 0.91, 0.03)
    int8 = nudged(fp32, slice(None), -0.02)
    d32, d8 = np.full(N, 0.1), np.full(N, 0.12)
    probs, distances, exact = cascade(fp32, int8, served(fp32, y).cuts(), Margins(0.3, 0.03), d32, d8, 0.4)
    assert exact.tolist() == [True] * 5 + [False] * (N - 5)
    np.testing.assert_array_equal(probs[:5], fp32[:5])
    np.testing.assert_array_equal(probs[5:], int8[5:])
    assert distances is not None and (distances[:5] == 0.1).all() and (distances[5:] == 0.12).all()


def test_a_label_that_is_never_auto_routed_routes_none_of_its_tickets():
    probs, y = answers()
    status = served(probs, y, {**dict.fromkeys(LABELS, 0.5), "a": NEVER}).routed()
    assert not status[y == 0].any() and status[:900][y[:900] != 0].all()


def test_out_of_scope_is_never_routed():
    probs, y = answers()
    cuts = served(probs, y).cuts()
    distances = np.where(np.arange(N) < 450, 0.1, 0.9)
    status = routed(probs, cuts, distances, limit=0.5)
    assert status[:450].all() and not status[450:].any()


def test_margins_are_a_quantile_of_the_log_odds_moves_rounded_up():
    rng = np.random.default_rng(0)
    z32 = rng.normal(0, 2, (200, len(LABELS)))
    z8 = z32 + rng.normal(0, 0.1, z32.shape)
    d32 = rng.uniform(0.1, 0.5, 200)
    d8 = d32 + rng.normal(0, 0.004, 200)
    p32, p8 = softmax(z32), softmax(z8)
    # Labels under the floor in both graphs are left out: their log-odds move most and matter least.
    relevant = np.maximum(p32, p8) >= FLOOR
    moved = np.where(relevant, np.abs(log_odds(p8) - log_odds(p32)), 0).max(axis=1)
    shifted = np.abs(d8 - d32)
    largest = measure_margins(z32, z8, d32, d8, temperature=1.0, quantile=1.0)
    assert moved.max() <= largest.log_odds <= moved.max() + 1e-4
    assert shifted.max() <= largest.scope <= shifted.max() + 1e-4
    # The default leaves out the rarest moves: 1 ticket in 100 moves further than the margin.
    typical = measure_margins(z32, z8, d32, d8, temperature=1.0)
    assert (moved > typical.log_odds).sum() <= 2 and typical.log_odds < largest.log_odds
    # A hotter temperature divides every logit move, so log-odds move less.
    assert measure_margins(z32, z8, d32, d8, temperature=3.0).log_odds < typical.log_odds


def test_serve_calibrates_each_graph_as_the_service_mixes_it():
    rng = np.random.default_rng(0)
    y = np.arange(400) % len(LABELS)
    logits = rng.normal(0, 1, (400, len(LABELS)))
    logits[np.arange(400), y] += 3.0
    base = np.full((400, len(LABELS)), 0.1)
    base[np.arange(400), y] = 0.7
    graph = serve("model.onnx", logits, y, LABELS, 0.98, base)
    assert 0.3 <= graph.encoder_weight <= 1.0 and graph.temperature > 0
    assert set(graph.thresholds) == set(LABELS)
    # What the gate judged is what the card's weight and temperature give on the same logits.
    np.testing.assert_allclose(graph.mix(logits, base), graph.probs, atol=1e-9)
