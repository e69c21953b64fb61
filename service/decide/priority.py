"""The priority model: load it, predict each ticket's priority, and combine it with the rules (rules only raise)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from service.core.domain import Decision, Prediction, Route
from service.core.modelcard import CURRENT_FILE, ModelCard, ModelCardError, current_version_dir
from service.decide.classify import FollowedModel
from service.decide.sparse_tfidf import fast

KIND = "sklearn-priority"
# The service's own scale when a routing file names none (service/decide/route.py), least urgent first.
DEFAULT_SCALE = ("low", "normal", "high", "urgent")
# What the decision's reason keeps of the model's answer (Decision.extra), so the page and retraining can show it.
REASON_KEY = "priority_model"

log = logging.getLogger(__name__)


def choose(row: np.ndarray, labels: Sequence[str], scale: Sequence[str], cutoffs: Mapping[str, float]) -> int:
    """The index of the priority for one row of probabilities.

    Priorities with a cutoff are tried from the most urgent down: the first whose probability reaches its cutoff
    wins (a cutoff set low enough for the top priority's recall target catches most urgent tickets). Otherwise
    the most probable of the priorities without a cutoff; the balanced class weights keep that fair to rare ones.
    """
    rank = {p: i for i, p in enumerate(scale)}
    tried = sorted((i for i, label in enumerate(labels) if label in cutoffs), key=lambda i: -rank.get(labels[i], -1))
    for i in tried:
        if row[i] >= cutoffs[labels[i]]:
            return i
    rest = [i for i in range(len(labels)) if labels[i] not in cutoffs] or list(range(len(labels)))
    return max(rest, key=lambda i: row[i])


def choose_all(
    proba: np.ndarray, labels: Sequence[str], scale: Sequence[str], cutoffs: Mapping[str, float]
) -> list[int]:
    """`choose` for every row."""
    return [choose(row, labels, scale, cutoffs) for row in proba]


class PriorityClassifier:
    """A TF-IDF + class-weighted logistic regression over the service's priority names, with per-priority cutoffs.

    It is a Classifier like the label models, so `triage eval`, `triage models gate` and the registry serve it
    unchanged; its predictions are the cutoff decision, not the plain most probable priority.
    """

    def __init__(self, directory: Path, card: ModelCard) -> None:
        self.directory, self.card = directory, card
        self.name, self.version, self.labels = card.name, card.version, list(card.labels)
        # The card's artefact hash was checked before this load, so unpickling is of our own file.
        self._pipeline = fast(joblib.load(directory / card.artefact))
        if [str(c) for c in self._pipeline.classes_] != self.labels:
            raise ModelCardError(f"{directory}: artefact classes differ from the card's labels")
        self.scale = tuple(card.serving.get("scale") or DEFAULT_SCALE)
        self.cutoffs = {str(k): float(v) for k, v in (card.serving.get("cutoffs") or {}).items()}
        unknown = (set(self.labels) | set(self.cutoffs)) - set(self.scale)
        if unknown:
            raise ModelCardError(f"{directory}: priorities {sorted(unknown)} are not on the card's scale {self.scale}")

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self._pipeline.predict_proba(list(texts)))

    def predict(
        self,
        texts: Sequence[str],
        *,
        top_k: int = 3,
        thresholds: Mapping[str, float] | None = None,
        scope_quantile: float | None = None,
    ) -> list[Prediction]:
        """The priority each text is given (cutoffs first, then the most probable); `thresholds` and
        `scope_quantile` route nothing here."""
        started = time.perf_counter()
        proba = self.predict_proba(texts)
        per_item_ms = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
        out = []
        for row, chosen in zip(proba, choose_all(proba, self.labels, self.scale, self.cutoffs), strict=True):
            best = np.argsort(row)[::-1][:top_k]
            label = self.labels[chosen]
            out.append(
                Prediction(
                    label=label,
                    confidence=float(row[chosen]),
                    top_k=tuple((self.labels[i], float(row[i])) for i in best),
                    model_name=self.name,
                    model_version=self.version,
                    latency_ms=per_item_ms,
                )
            )
        return out

    def thresholds(self, target: float, groups: Mapping[str, str]) -> Mapping[str, float] | None:
        return None  # a priority never routes on its own: the label's thresholds decide auto-routing


def published_dir(models_dir: Path, name: str) -> Path | None:
    """The priority family's version in service, or None when none was ever promoted (rules alone decide)."""
    if name == "none" or not (models_dir / name / CURRENT_FILE).is_file():
        return None
    return current_version_dir(models_dir, name)


@dataclass(frozen=True)
class PriorityAnswer:
    """The model's priority for one ticket, as kept in the decision's reason."""

    priority: str
    confidence: float
    cutoff: float | None
    model: str

    def as_reason(self) -> dict[str, Any]:
        return {
            "priority": self.priority,
            "confidence": round(self.confidence, 4),
            "cutoff": self.cutoff,
            "model": self.model,
        }

    @classmethod
    def of(cls, prediction: Prediction, cutoffs: Mapping[str, float]) -> PriorityAnswer:
        model = f"{prediction.model_name}@{prediction.model_version}"
        return cls(prediction.label, prediction.confidence, cutoffs.get(prediction.label), model)

    @classmethod
    def from_reason(cls, reason: Mapping[str, Any]) -> PriorityAnswer | None:
        kept = reason.get(REASON_KEY)
        if not isinstance(kept, Mapping) or "priority" not in kept:
            return None
        return cls(str(kept["priority"]), float(kept.get("confidence") or 0.0), kept.get("cutoff"), str(kept["model"]))


def combine(route: Route, answer: PriorityAnswer | None, scale: Sequence[str]) -> tuple[Route, str]:
    """The route with the more urgent of the rules' priority and the model's, and where the priority came from.

    The rules (the queue's priority, raised by overrides) are a floor the model may only lift: an admin who says
    fraud is "high" is never overruled downwards. A queue whose priority is the lowest leaves it to the model.
    """
    if answer is None:
        return route, "rules"
    if answer.priority not in scale:
        log.warning("the priority model answers %r, which the routing file's priorities lack", answer.priority)
        return route, "rules"
    rank = {p: i for i, p in enumerate(scale)}
    if rank[answer.priority] <= rank.get(route.priority, -1):
        return route, "rules"
    raised = f"priority model -> {answer.priority!r} ({answer.confidence:.2f})"
    return replace(route, priority=answer.priority, rule=f"{route.rule}; {raised}"), "model"


def predict_priorities(followed: FollowedModel, texts: Sequence[str]) -> tuple[list[PriorityAnswer | None], float]:
    """The published priority model's answer for each text (None each without one), and the ms per text.

    A priority model that cannot load or fails leaves the rules to decide: it must never cost a ticket its
    decision, so it is logged and the batch goes on.
    """
    started = time.perf_counter()
    try:
        model = followed.get()
        if model is None:
            return [None] * len(texts), 0.0
        predictions = model.predict(list(texts), top_k=len(model.labels))
    except Exception:
        log.exception("the priority model failed; priorities come from the rules alone", extra={"stage": "priority"})
        return [None] * len(texts), 0.0
    cutoffs = getattr(model, "cutoffs", {})
    ms = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
    return [PriorityAnswer.of(p, cutoffs) for p in predictions], ms


def with_priority(
    decision: Decision, answer: PriorityAnswer | None, scale: Sequence[str], *, ms: float | None = None
) -> Decision:
    """The decision with the model's priority combined into its route and recorded in its reason."""
    if answer is None:
        return decision
    route, source = combine(decision.route, answer, scale)
    extra = {**decision.extra, REASON_KEY: answer.as_reason(), "priority_from": source}
    timings = decision.timings_ms if ms is None else {**decision.timings_ms, "priority": ms}
    return replace(decision, route=route, extra=extra, timings_ms=timings)


def kept_priority(before: Decision, after: Decision, scale: Sequence[str]) -> Decision:
    """`after` (an LLM's re-route builds a new route) with the model's priority that `before` had; a priority a
    person set (held) stays as they set it."""
    if after is before or (before.extra.get("held") or {}).get("priority"):
        return after
    if after.route == before.route:  # not re-routed (no LLM, or it agreed): the combined priority stands as it was
        kept = {k: before.extra[k] for k in (REASON_KEY, "priority_from") if k in before.extra}
        return replace(after, extra={**after.extra, **kept})
    return with_priority(after, PriorityAnswer.from_reason(before.extra), scale)
