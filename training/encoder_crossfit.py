"""Out-of-fold answers for the encoder's thresholds: shorter fine-tunings, each without a part of the training
tickets, answer that part.

A fine-tuned encoder's thresholds used to come from its validation split alone, about 13 tickets a label:
most labels could not show the 10 tickets above a cut that a promise needs, and the encoder auto-routed half
as many tickets as the frozen family at the same promise (BENCHMARKS.md). The folds' models are weaker than the
model served (half the tickets, fewer epochs); each is calibrated like it (the same TF-IDF share, a temperature
of its own), and a weaker calibrated model is right less often above any cut, so thresholds chosen from its
answers keep the promise for the stronger one, if anything with room to spare.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

import numpy as np

from service.decide.thresholds import Calibration
from training.baseline import build_pipeline
from training.calibration import fit_temperature, out_of_fold, softmax
from training.data import Examples
from training.encoder_model import EncoderClassifier, EncoderConfig
from training.encoder_parity import member_probs

FOLD_EPOCHS = 3  # the folds' share of the 30-minute training budget on 2 cores (BENCHMARKS.md)


def cross_fitted(
    cfg: EncoderConfig, fit: Examples, labels: list[str], encoder_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every training ticket's calibrated probabilities (columns in `labels` order) from a model fitted without
    it, and its label as an index; tickets no fold could answer are left out."""
    folds = cfg.cross_fit
    fold_cfg = replace(cfg, epochs=min(cfg.epochs, FOLD_EPOCHS))  # no validation: the last epoch is kept

    def fit_predict(train: np.ndarray, held: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        texts = [fit.texts[i] for i in train]
        y = [fit.labels[i] for i in train]
        enc = EncoderClassifier(fold_cfg).fit(texts, y, progress=False)
        answered = [fit.texts[i] for i in held]
        probs = softmax(enc.logits(answered))
        if encoder_weight < 1.0:
            baseline = build_pipeline(seed=cfg.seed).fit(texts, y)
            probs = encoder_weight * probs + (1.0 - encoder_weight) * member_probs(baseline, answered, enc.classes_)
        return np.array(enc.classes_), probs

    # One fold a core when each fine-tuning uses one thread: two folds then take the wall time of one.
    jobs = max(1, min(folds, (os.cpu_count() or 1) // max(1, cfg.threads)))
    print(f"cross-fitting {folds} folds ({fold_cfg.epochs} epochs each, {jobs} at a time) ...", file=sys.stderr)
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index[label] for label in fit.labels])
    probs = out_of_fold(fit_predict, labels, fit.labels, folds=folds, seed=cfg.seed, jobs=jobs)
    answered = probs.sum(axis=1) > 0
    log = np.log(np.clip(probs[answered], 1e-12, None))
    return softmax(log / fit_temperature(log, truth[answered])), truth[answered]


def with_out_of_fold(calibration: Calibration, probs: np.ndarray, truth: np.ndarray) -> Calibration:
    """The validation answers' calibration with the out-of-fold answers beside them."""
    return Calibration(
        calibration.labels,
        np.concatenate([calibration.confidence, probs.max(axis=1)]),
        np.concatenate([calibration.predicted, probs.argmax(axis=1)]),
        np.concatenate([calibration.truth, truth]),
    )
