"""PSI between training and live distributions, on synthetic numbers and on a trained model's card."""

import math

import pytest

from service.core.modelcard import ModelCard, current_version_dir
from service.retrain.drift import confidence_histogram, drift_report, psi
from tests.support.settings import TINY_LABELS


def test_identical_distributions_have_zero_psi_whatever_their_totals():
    assert psi({"a": 50, "b": 50}, {"a": 5, "b": 5}) == pytest.approx(0.0)


def test_psi_is_the_sum_of_share_differences_times_their_log_ratio():
    expected = (0.9 - 0.5) * math.log(0.9 / 0.5) + (0.1 - 0.5) * math.log(0.1 / 0.5)
    assert psi({"a": 50, "b": 50}, {"a": 90, "b": 10}) == pytest.approx(expected)
    assert expected > 0.2


@pytest.mark.parametrize(
    ("expected", "actual", "low", "high"),
    [
        ({"a": 100, "b": 100, "c": 100}, {"a": 105, "b": 95, "c": 100}, 0.0, 0.01),  # noise: stable
        ({"a": 100, "b": 100}, {"a": 120, "b": 80}, 0.01, 0.1),  # a small shift
        ({"a": 100, "b": 100}, {"a": 100, "b": 100, "new": 100}, 1.0, 10.0),  # a label never seen in training
        ({"a": 100, "b": 100}, {"a": 200}, 1.0, 10.0),  # a label vanished
    ],
)
def test_psi_grows_with_the_shift_and_stays_finite_for_empty_bins(expected, actual, low, high):
    assert low <= psi(expected, actual) <= high


def test_empty_distributions_give_zero_rather_than_an_error():
    assert psi({}, {"a": 1}) == 0.0 and psi({"a": 1}, {}) == 0.0


def test_confidences_fall_into_ten_bins_with_one_in_the_last():
    hist = confidence_histogram([0.0, 0.05, 0.15, 0.55, 0.99, 1.0])
    assert hist == {"0": 2, "1": 1, "2": 0, "3": 0, "4": 0, "5": 1, "6": 0, "7": 0, "8": 0, "9": 2}


REFERENCE = {"label_counts": {"a": 50, "b": 50}, "validation_confidence_hist": confidence_histogram([0.9] * 10)}


def test_a_report_flags_drift_when_labels_shift_past_the_threshold():
    report = drift_report(
        REFERENCE,
        model_name="m",
        model_version="v",
        labels={"a": 90, "b": 10},
        confidences=confidence_histogram([0.95] * 100),
        threshold=0.2,
    )
    assert report.window_n == 100 and report.label_psi > 0.2 and report.confidence_psi == pytest.approx(0.0)
    assert report.drifting and report.as_dict()["drifting"] is True


def test_low_confidence_traffic_alone_raises_the_alarm():
    report = drift_report(
        REFERENCE,
        model_name="m",
        model_version="v",
        labels={"a": 50, "b": 50},
        confidences=confidence_histogram([0.3] * 100),
        threshold=0.2,
    )
    assert report.label_psi == pytest.approx(0.0) and report.confidence_psi > 0.2 and report.drifting


def test_too_few_predictions_or_an_old_card_leave_the_psi_unknown():
    few = drift_report(
        REFERENCE,
        model_name="m",
        model_version="v",
        labels={"a": 10},
        confidences=confidence_histogram([0.3] * 10),
        threshold=0.2,
    )
    assert (few.label_psi, few.confidence_psi, few.drifting) == (None, None, False)
    old = drift_report(
        {},
        model_name="m",
        model_version="v",
        labels={"a": 100},
        confidences=confidence_histogram([0.3] * 100),
        threshold=0.2,
    )
    assert (old.label_psi, old.confidence_psi) == (None, None)


def test_training_stores_the_label_counts_and_validation_confidences_in_the_card(models_dir):
    metrics = ModelCard.read(current_version_dir(models_dir, "baseline")).metrics
    assert set(metrics["label_counts"]) == set(TINY_LABELS)
    assert sum(metrics["label_counts"].values()) + metrics["validation"]["n"] == metrics["examples"]
    assert sum(metrics["validation_confidence_hist"].values()) == metrics["validation"]["n"]
