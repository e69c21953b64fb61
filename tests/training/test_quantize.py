"""The int8 gate on synthetic validation answers: accuracy within 0.3 points and the same routing status."""

import numpy as np
import pytest

from service.decide.thresholds import NEVER, Calibration
from training.quantize import Served, int8_gate, serve

LABELS = ["a", "b", "c", "d"]
N, UNSURE = 1000, 100


def answers() -> tuple[np.ndarray, np.ndarray]:
    """900 confident right answers, then 100 unsure ones (0.45 against 0.40), half of them right."""
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
    cuts = thresholds or dict.fromkeys(LABELS, 0.9)
    return Served("g", 1.0, 1.0, probs, Calibration.from_probabilities(probs, y, LABELS), cuts)


def flip(probs: np.ndarray, rows: list[int]) -> np.ndarray:
    """Swap the top two answers of these rows: the argmax moves, the confidence stays low."""
    out = probs.copy()
    for i in rows:
        top, second = np.argsort(out[i])[::-1][:2]
        out[i, top], out[i, second] = out[i, second], out[i, top]
    return out


def gate(fp32: np.ndarray, int8: np.ndarray, y: np.ndarray) -> dict:
    return int8_gate(served(fp32, y), served(int8, y), np.log(fp32), np.log(int8), y)


def test_int8_that_only_moves_unsure_argmaxes_is_served_where_the_argmax_rule_refused_it():
    fp32, y = answers()
    unsure = list(range(N - UNSURE, N))
    # 10 right answers become wrong and 10 wrong ones right: 2 % of argmaxes move, none is auto-routed.
    int8 = flip(fp32, unsure[0:20])
    parity = gate(fp32, int8, y)
    assert parity["int8_vs_fp32_argmax_agreement"] == pytest.approx(0.98)  # the old 99.5 % rule refuses
    assert parity["int8_vs_fp32_routing_agreement"] == 1.0
    assert parity["int8_validation_accuracy"] == parity["fp32_validation_accuracy"] == pytest.approx(0.95)
    assert parity["int8_published"] is True


def test_int8_that_changes_the_routing_status_is_refused_though_every_argmax_agrees():
    fp32, y = answers()
    int8 = fp32.copy()
    int8[:10] = np.where(int8[:10] > 0.5, 0.85, 0.05)  # still the top label, now below its 0.9 threshold
    parity = gate(fp32, int8, y)
    assert parity["int8_vs_fp32_argmax_agreement"] == 1.0  # the old rule would have served it
    assert parity["int8_vs_fp32_routing_agreement"] == pytest.approx(0.99)
    assert parity["int8_auto_routed_share"] == pytest.approx(parity["fp32_auto_routed_share"] - 0.01)
    assert parity["int8_published"] is False


@pytest.mark.parametrize(("broken", "published"), [(3, True), (4, False)])
def test_int8_accuracy_may_move_by_at_most_three_tenths_of_a_point(broken, published):
    fp32, y = answers()
    right_unsure = [i for i in range(N - UNSURE, N) if i % 2 == 0]
    parity = gate(fp32, flip(fp32, right_unsure[:broken]), y)
    assert parity["fp32_validation_accuracy"] - parity["int8_validation_accuracy"] == pytest.approx(broken / N)
    assert parity["int8_vs_fp32_routing_agreement"] == 1.0
    assert parity["int8_published"] is published


def test_a_label_that_is_never_auto_routed_routes_none_of_its_tickets():
    probs, y = answers()
    routed = served(probs, y, {**dict.fromkeys(LABELS, 0.5), "a": NEVER}).routed()
    assert not routed[y == 0].any() and routed[:900][y[:900] != 0].all()


def test_serve_calibrates_each_graph_as_the_service_mixes_it():
    rng = np.random.default_rng(0)
    y = np.arange(400) % len(LABELS)
    logits = rng.normal(0, 1, (400, len(LABELS)))
    logits[np.arange(400), y] += 3.0
    base = np.full((400, len(LABELS)), 0.1)
    base[np.arange(400), y] = 0.7
    graph = serve("model.int8.onnx", logits, y, LABELS, 0.98, base)
    assert 0.3 <= graph.encoder_weight <= 1.0 and graph.temperature > 0
    assert set(graph.thresholds) == set(LABELS)
    # What the gate judged is what the card's weight and temperature give on the same logits.
    np.testing.assert_allclose(graph.mix(logits, base), graph.probs, atol=1e-9)
