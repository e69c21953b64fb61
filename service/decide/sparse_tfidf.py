"""A fitted TF-IDF + logistic regression pipeline answered in one sparse pass per ticket.

scikit-learn's predict_proba spends about 2 ms on one short ticket, nearly all of it in input checks, sparse
matrix assembly and the FeatureUnion's plumbing: as much as the int8 encoder it sits beside. The same
arithmetic done directly (n-grams, their TF-IDF weights, the rows of the coefficients they touch) takes a
tenth of that. Only the pipeline shape training/baseline.py builds is answered this way, and only after the
two agree on probe texts; anything else is answered by the pipeline itself.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

# Texts the fast path must answer as the pipeline does before it is trusted: empty, short, accented, repeated.
PROBES = (
    "",
    "card not working",
    "My card payment was declined twice at the shop, why?",
    "Ich habe mein Passwort vergessen — café, naïve, 東京",
    "refund refund refund refund refund please please",
)
TOLERANCE = 1e-9


@dataclass(frozen=True)
class _Block:
    """One TF-IDF vectorizer of the union and the coefficient rows of its features (features x classes)."""

    analyze: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear: bool
    weights: np.ndarray


class SparseTfidf:
    """predict_proba of a Pipeline(normalize, FeatureUnion(TfidfVectorizer...), LogisticRegression), computed
    ticket by ticket without building a sparse matrix."""

    def __init__(self, pipeline: Any) -> None:
        normalize, features, clf = (step for _, step in pipeline.steps)
        self.classes_ = clf.classes_
        self._normalize = normalize.func
        coef = np.asarray(clf.coef_, dtype=np.float64)
        self._intercept = np.asarray(clf.intercept_, dtype=np.float64)
        self._binary = coef.shape[0] == 1
        blocks, offset = [], 0
        for _, vectorizer in features.transformer_list:
            width = len(vectorizer.vocabulary_)
            blocks.append(
                _Block(
                    analyze=vectorizer.build_analyzer(),
                    vocabulary=vectorizer.vocabulary_,
                    idf=np.asarray(vectorizer.idf_, dtype=np.float64),
                    sublinear=bool(vectorizer.sublinear_tf),
                    weights=np.ascontiguousarray(coef[:, offset : offset + width].T),
                )
            )
            offset += width
        self._blocks = tuple(blocks)

    def decision(self, text: str) -> np.ndarray:
        """The classifier's raw scores for one normalised text."""
        scores = self._intercept.copy()
        for block in self._blocks:
            counts = Counter(i for i in map(block.vocabulary.get, block.analyze(text)) if i is not None)
            if not counts:
                continue
            index = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            weight = (np.log(tf) + 1.0 if block.sublinear else tf) * block.idf[index]
            weight /= np.sqrt(weight @ weight)
            scores += weight @ block.weights[index]
        return scores

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        scores = np.array([self.decision(t) for t in self._normalize(list(texts))], dtype=np.float64)
        if len(scores) == 0:
            return np.zeros((0, len(self.classes_)))
        if self._binary:
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - positive, positive])
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores


def fast(pipeline: Any) -> Any:
    """The pipeline's fast twin when it has the baseline's shape and answers the probes alike, else the pipeline."""
    try:
        twin = _shaped(pipeline)
    except (AttributeError, TypeError, ValueError) as exc:
        log.info("TF-IDF member answered by scikit-learn: %s", exc)
        return pipeline
    gap = float(np.abs(twin.predict_proba(PROBES) - pipeline.predict_proba(list(PROBES))).max())
    if gap > TOLERANCE:
        log.warning("TF-IDF fast path differs from scikit-learn by %.2e on probe texts; using scikit-learn", gap)
        return pipeline
    return twin


def _shaped(pipeline: Any) -> SparseTfidf:
    """The fast twin, or an error saying which part of the pipeline it cannot reproduce."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import FunctionTransformer

    steps = [step for _, step in getattr(pipeline, "steps", [])]
    if len(steps) != 3:
        raise ValueError("not a three-step pipeline")
    normalize, features, clf = steps
    if not isinstance(normalize, FunctionTransformer) or normalize.kw_args:
        raise TypeError("first step is not a plain function")
    if not isinstance(features, FeatureUnion) or features.transformer_weights:
        raise TypeError("second step is not an unweighted FeatureUnion")
    for _, vectorizer in features.transformer_list:
        if not isinstance(vectorizer, TfidfVectorizer):
            raise TypeError(f"{type(vectorizer).__name__} is not a TfidfVectorizer")
        if vectorizer.binary or vectorizer.norm != "l2" or not vectorizer.use_idf:
            raise ValueError("only l2-normalised, idf-weighted counts are reproduced")
    if not isinstance(clf, LogisticRegression):
        raise TypeError(f"{type(clf).__name__} is not a LogisticRegression")
    return SparseTfidf(pipeline)
