"""Load a model directory once per process and label texts with it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import joblib
import numpy as np

from service.domain import Prediction
from service.modelcard import ModelCard, ModelCardError, current_version_dir
from service.ports import Classifier


class SklearnClassifier:
    """A scikit-learn pipeline (preprocessing included) with predict_proba."""

    def __init__(self, directory: Path, card: ModelCard) -> None:
        self.directory = directory
        self.card = card
        self.name = card.name
        self.version = card.version
        self.labels = list(card.labels)
        # The card's artefact hash was checked before this load, so unpickling is of our own file.
        self._pipeline = joblib.load(directory / card.artefact)
        classes = [str(c) for c in self._pipeline.classes_]
        if classes != self.labels:
            raise ModelCardError(f"{directory}: artefact classes differ from the card's labels")

    def predict(self, texts: Sequence[str], *, top_k: int = 3) -> list[Prediction]:
        started = time.perf_counter()
        proba = np.asarray(self._pipeline.predict_proba(list(texts)))
        per_item_ms = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
        out = []
        for row in proba:
            order = np.argsort(row)[::-1][:top_k]
            top = tuple((self.labels[i], float(row[i])) for i in order)
            out.append(Prediction(label=top[0][0], confidence=top[0][1], top_k=top,
                                  model_name=self.name, model_version=self.version,
                                  latency_ms=per_item_ms))
        return out


def load_model(directory: Path) -> Classifier:
    """Read the card, refuse what this service cannot serve, and load the artefact."""
    card = ModelCard.read(directory)
    if card.kind == "sklearn-tfidf-logreg":
        return SklearnClassifier(directory, card)
    raise ModelCardError(f"{directory}: no loader for kind {card.kind!r}")


class ModelCache:
    """One loaded model per process; follows the CURRENT pointer so promotions need no restart."""

    def __init__(self, models_dir: Path, name: str, check_every_s: float = 5.0) -> None:
        self.models_dir = models_dir
        self.name = name
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._model: Classifier | None = None
        self._dir: Path | None = None
        self._checked = 0.0

    def get(self) -> Classifier:
        now = time.monotonic()
        if self._model is not None and now - self._checked < self.check_every_s:
            return self._model
        with self._lock:
            if self._model is None or now - self._checked >= self.check_every_s:
                directory = current_version_dir(self.models_dir, self.name)
                if directory != self._dir:
                    self._model = load_model(directory)
                    self._dir = directory
                self._checked = now
            assert self._model is not None
            return self._model
