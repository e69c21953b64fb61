"""The TF-IDF member's fast path answers exactly as scikit-learn does, or is not used."""

import csv

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer

from service.decide.normalize import normalize_batch
from service.decide.sparse_tfidf import SparseTfidf, fast
from tests.support.settings import BANKING77, TINY_LABELS
from training.baseline import build_pipeline
from training.priority import weighted_pipeline


@pytest.fixture(scope="module")
def tickets():
    with (BANKING77 / "train.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["category"] in TINY_LABELS]
    return [r["text"] for r in rows[:400]], [r["category"] for r in rows[:400]]


HOSTILE = [
    "",
    "   ",
    "!!!???",
    "ÇA NE MARCHE PAS: carte bloquée",
    "card " * 5000,  # one word, many times: sublinear tf
    "x" * 20000,  # one token longer than any n-gram
    "\u200b\u0000 zero width and NUL",
    "🙂 emoji only 🙂",
]


def test_the_baseline_shape_is_answered_by_the_fast_path_with_sklearns_probabilities(tickets):
    texts, labels = tickets
    pipeline = build_pipeline().fit(texts, labels)
    twin = fast(pipeline)
    assert isinstance(twin, SparseTfidf)
    assert list(twin.classes_) == list(pipeline.classes_)
    probe = texts[:50] + HOSTILE
    np.testing.assert_allclose(twin.predict_proba(probe), pipeline.predict_proba(probe), rtol=0, atol=1e-12)
    assert twin.predict_proba([]).shape == (0, len(pipeline.classes_))


def test_the_priority_models_class_weighted_pipeline_is_answered_alike(tickets):
    texts, labels = tickets
    pipeline = weighted_pipeline().fit(texts, labels)
    twin = fast(pipeline)
    assert isinstance(twin, SparseTfidf)
    np.testing.assert_allclose(twin.predict_proba(HOSTILE), pipeline.predict_proba(HOSTILE), rtol=0, atol=1e-12)


def test_two_classes_use_the_logistic_not_the_softmax(tickets):
    texts, labels = tickets
    two = [(t, y) for t, y in zip(texts, labels, strict=True) if y in TINY_LABELS[:2]]
    pipeline = build_pipeline().fit([t for t, _ in two], [y for _, y in two])
    twin = fast(pipeline)
    assert isinstance(twin, SparseTfidf)
    np.testing.assert_allclose(twin.predict_proba(HOSTILE), pipeline.predict_proba(HOSTILE), rtol=0, atol=1e-12)


def _other(kind: str) -> Pipeline:
    """Pipelines the fast path cannot reproduce; each must be answered by scikit-learn itself."""
    vectorizer = {
        "counts": CountVectorizer(),
        "binary": TfidfVectorizer(binary=True),
        "l1": TfidfVectorizer(norm="l1"),
        "float32": TfidfVectorizer(dtype=np.float32, sublinear_tf=True),
    }.get(kind, TfidfVectorizer())
    steps = [
        ("normalize", FunctionTransformer(normalize_batch)),
        ("features", FeatureUnion([("word", vectorizer)])),
        ("clf", LogisticRegression(max_iter=500)),
    ]
    if kind == "two-steps":
        steps = steps[1:]
    return Pipeline(steps)


@pytest.mark.parametrize("kind", ["counts", "binary", "l1", "two-steps"])
def test_any_other_pipeline_is_answered_by_scikit_learn(tickets, kind):
    texts, labels = tickets
    pipeline = _other(kind).fit(texts, labels)
    assert fast(pipeline) is pipeline


def test_a_fast_path_that_differs_on_the_probe_texts_is_not_used(tickets):
    texts, labels = tickets
    # float32 features pass every shape check, but scikit-learn's answers then differ from float64 arithmetic.
    pipeline = _other("float32").fit(texts, labels)
    assert fast(pipeline) is pipeline
