"""The encoder's out-of-fold answers: every training ticket answered once, calibrated, beside validation's."""

import numpy as np
import pytest

from service.decide.thresholds import Calibration
from tests.support.settings import BANKING77, TINY_LABELS, write_subset
from training.data import read_examples

pytest.importorskip("torch", reason="the training extra (torch, transformers) is not installed: make train")

from training.encoder_crossfit import cross_fitted, with_out_of_fold  # noqa: E402
from training.encoder_model import EncoderConfig  # noqa: E402


def test_every_training_ticket_gets_one_calibrated_answer_in_label_order(tiny_distilbert, tmp_path):
    fit = read_examples(write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 12))[0]
    labels = sorted(TINY_LABELS)
    cfg = EncoderConfig(base_model=tiny_distilbert, epochs=1, head_init=False, cross_fit=2)
    probs, truth = cross_fitted(cfg, fit, labels, encoder_weight=0.7)  # the TF-IDF member takes 0.3, as served
    assert probs.shape == (len(fit.texts), len(labels))
    assert np.allclose(probs.sum(axis=1), 1.0) and (probs > 0).all()
    assert truth.tolist() == [labels.index(label) for label in fit.labels]
    # TF-IDF alone separates these intents on 6 tickets a label: the mixture is right more often than chance.
    assert (probs.argmax(axis=1) == truth).mean() > 1.5 / len(labels)

    validation = Calibration.from_probabilities(np.eye(len(labels))[[0, 1]], np.array([0, 0]), labels)
    both = with_out_of_fold(validation, probs, truth)
    assert len(both.truth) == 2 + len(truth) and both.truth[:2].tolist() == [0, 0]
    assert both.predicted[2:].tolist() == probs.argmax(axis=1).tolist()
