"""The torch-free sentence encoder graph, and the frozen-embedding model the demo trains and serves."""

import importlib.util
import json

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from service.core.modelcard import ModelCard, current_version_dir
from service.decide.classify import OnnxClassifier, load_model, run_encoder
from tests.support.settings import BANKING77, TINY_LABELS, write_subset
from training.frozen import train
from training.onnx_bert import default_base_model, encoder_graph

TEXTS = [
    "My card has not arrived yet",
    "my card still hasn't come in the post, it's been two weeks and I need it for a trip abroad next month",
    "How do I top up by bank transfer?",
    "I was charged twice for the same coffee",
    "a",
]


@pytest.fixture(scope="module")
def embedder():
    base = default_base_model()
    session = ort.InferenceSession(encoder_graph(base).SerializeToString(), providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(128)
    tokenizer.no_padding()
    return lambda texts: run_encoder(session, tokenizer, 0, texts, output="embedding")


def test_embeddings_are_unit_length_and_padding_never_changes_them(embedder):
    together = embedder(TEXTS)  # batched with the long text: the short ones are padded
    alone = np.concatenate([embedder([t]) for t in TEXTS])
    assert together.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_tickets(embedder):
    e = embedder(TEXTS[:3])
    assert e[0] @ e[1] > 0.6 and e[0] @ e[1] > e[0] @ e[2] + 0.2


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch to compare with (make train)")
def test_the_graph_matches_the_reference_implementation(embedder):
    import torch
    from transformers import AutoModel, AutoTokenizer

    base = default_base_model()
    model, tokenizer = AutoModel.from_pretrained(base).eval(), AutoTokenizer.from_pretrained(base)
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    reference = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    # Our tokenizer sees normalize()d text; these texts are already normal, so the inputs are the same.
    np.testing.assert_allclose(embedder(TEXTS), reference, atol=2e-5)


@pytest.fixture(scope="module")
def frozen_model(tmp_path_factory):
    base = tmp_path_factory.mktemp("frozen")
    data = write_subset(base / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 16)
    test = write_subset(base / "test.csv", BANKING77 / "test.csv", TINY_LABELS, 5)
    return train(data=data, out=base / "models", test=test, progress=False), base


def test_the_frozen_model_is_published_and_served_by_the_encoder_classifier(frozen_model):
    directory, base = frozen_model
    card = ModelCard.read(directory)
    assert current_version_dir(base / "models", "frozen") == directory
    assert card.kind == "onnx-encoder" and sorted(card.labels) == sorted(TINY_LABELS)
    assert "logistic regression" in card.params["recipe"]
    assert card.languages == ["en"]  # Banking77 is English: a ticket in another language is never auto-routed
    served = load_model(directory)
    assert isinstance(served, OnnxClassifier)
    [prediction] = served.predict(["I lost my card, somebody may have stolen it"])
    assert prediction.label in TINY_LABELS and 0 < prediction.confidence <= 1
    # Held-out figures from the model as served: the tiny model still knows these eight intents.
    assert card.metrics["test"]["n"] == 40 and card.metrics["test"]["accuracy"] >= 0.7
    assert set(card.serving["thresholds"]) == set(card.labels)


def test_the_head_in_the_graph_gives_the_logistic_regressions_probabilities(frozen_model, embedder):
    directory, _ = frozen_model
    served = load_model(directory)
    logits = served.logits(TEXTS[:3])
    graph = json.loads(json.dumps(served.card.serving))
    assert logits.shape == (3, len(served.labels)) and graph["max_length"] == 128
    # The embedding output of the served graph is the same sentence embedding the head was fitted on.
    embedded = run_encoder(served.session, served.tokenizer, 0, TEXTS[:3], output="embedding")
    np.testing.assert_allclose(embedded, embedder(TEXTS[:3]), atol=1e-5)


def test_the_frozen_model_carries_its_out_of_fold_answers_and_a_scope_that_flags_an_unrelated_ticket(frozen_model):
    directory, _ = frozen_model
    served = load_model(directory)
    assert isinstance(served, OnnxClassifier) and served.scope is not None
    calibration = served.promised.calibration
    assert calibration is not None and len(calibration.truth) == served.card.metrics["train_examples"]
    # Out-of-fold: the answers are those of models that never saw the ticket, so some are wrong.
    assert 0.5 < (calibration.predicted == calibration.truth).mean() < 1.0
    assert served.thresholds(0.9, {}) == calibration.thresholds(0.9)
    strict, loose = served.thresholds(0.999, {}), served.thresholds(0.6, {})
    assert strict is not None and loose is not None and all(strict[k] >= loose[k] for k in loose)
    on_topic, off_topic = served.predict(
        ["I lost my card, somebody may have stolen it", "Which wine goes best with grilled sardines and rice?"]
    )
    assert on_topic.scope_distance is not None and off_topic.scope_distance is not None
    assert on_topic.scope_distance < off_topic.scope_distance
    assert off_topic.out_of_scope and not on_topic.out_of_scope
    assert served.card.metrics["test"]["promised_precision"] == 0.98
    # The routing file's scope quantile moves the limit: at the median, half the training tickets lie beyond.
    wary = served.predict(["I lost my card, somebody may have stolen it"], scope_quantile=0.5)[0]
    assert wary.scope_limit == served.scope.limit_at(0.5) < on_topic.scope_limit
    assert wary.scope_distance == pytest.approx(on_topic.scope_distance)
