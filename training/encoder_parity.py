"""The exported graphs' answers, as training compares them: each graph's logits, embeddings and scope
distances on tickets, int8's margins measured on training tickets, and the int8 pair's held-out figures."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.decide.cascade import Margins
from service.decide.scope import Scope
from training.data import Examples
from training.encoder_model import EncoderClassifier
from training.quantize import Served, cascade, measure_margins, routed


def onnx_logits(path: Path, enc: EncoderClassifier, texts: list[str], names: list[str]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = enc.config.threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ids = enc._encode(texts)
    out = np.zeros((len(texts), len(enc.classes_)), dtype=np.float32)
    for batch_idx in enc._batches(ids, shuffle=False, rng=random.Random(0)):
        batch = enc._batch([ids[i] for i in batch_idx])
        out[batch_idx] = session.run(["logits"], {n: batch[n].numpy() for n in names})[0]
    return out


def graph_outputs(work: Path, graph: str, enc: EncoderClassifier, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The logits and sentence embeddings of `texts` from one published graph, as the service computes them."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from service.decide.classify import run_encoder_outputs, session_options

    options = session_options(enc.config.threads)
    session = ort.InferenceSession(str(work / graph), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(work / "tokenizer.json"))
    tokenizer.enable_truncation(enc.config.max_length)
    tokenizer.no_padding()
    pad_id = int(enc.tokenizer.pad_token_id or 0)
    logits, embeddings = run_encoder_outputs(session, tokenizer, pad_id, texts, ["logits", "embedding"])
    return logits, embeddings


@dataclass(frozen=True)
class Answers:
    """One graph's answers to some tickets: logits and scope distances."""

    logits: np.ndarray
    distances: np.ndarray


def answers(work: Path, graph: str, enc: EncoderClassifier, texts: list[str], scope: Scope) -> Answers:
    logits, embeddings = graph_outputs(work, graph, enc, texts)
    return Answers(logits, scope.distance(embeddings))


def member_probs(baseline: Any, texts: list[str], labels: list[str]) -> np.ndarray:
    """The TF-IDF member's probabilities, columns in the encoder's label order."""
    return np.asarray(baseline.predict_proba(texts))[:, [list(baseline.classes_).index(c) for c in labels]]


def known(examples: Examples, labels: list[str]) -> tuple[Examples, np.ndarray]:
    """The examples whose label the model knows, and those labels as indices into `labels`."""
    index = {label: i for i, label in enumerate(labels)}
    keep = [i for i, label in enumerate(examples.labels) if label in index]
    kept = Examples([examples.texts[i] for i in keep], [examples.labels[i] for i in keep], examples.sha256)
    return kept, np.array([index[label] for label in kept.labels], dtype=int)


def held_out_parity(
    work: Path, enc: EncoderClassifier, fp32: Served, margins: Margins, scope: Scope, test: Examples, baseline: Any
) -> dict[str, float]:
    """fp32's and the int8 cascade's accuracy on the held-out test tickets, and how the cascade routes them."""
    labels = enc.classes_
    kept, y = known(test, labels)
    base = member_probs(baseline, kept.texts, labels) if baseline is not None else None
    exact, approx = (answers(work, g, enc, kept.texts, scope) for g in ("model.onnx", "model.int8.onnx"))
    fp32_probs, cuts = fp32.mix(exact.logits, base), fp32.cuts()
    probs, distances, redone = cascade(
        fp32_probs, fp32.mix(approx.logits, base), cuts, margins, exact.distances, approx.distances, scope.limit
    )
    agreement = routed(probs, cuts, distances, scope.limit) == routed(fp32_probs, cuts, exact.distances, scope.limit)
    # Over all test tickets (an unseen label counts as wrong), as quality() reports the served model.
    return {
        "fp32_test_accuracy": float((fp32_probs.argmax(1) == y).sum() / max(1, len(test.labels))),
        "int8_test_accuracy": float((probs.argmax(1) == y).sum() / max(1, len(test.labels))),
        "int8_test_routing_agreement": float(agreement.mean()),
        "int8_test_answered_in_fp32_share": float(redone.mean()),
    }


def int8_margins(
    work: Path,
    enc: EncoderClassifier,
    temperature: float,
    fit_texts: list[str],
    fit_logits: np.ndarray,
    scope: Scope,
    *,
    sample: int = 2000,
    seed: int = 0,
) -> Margins:
    """How far int8 moves log-odds and scope distances, measured on training tickets (never validation, where
    the gate then checks what the margins give). A sampled ticket's distance is measured to the other
    training tickets, as a new ticket's would be, not to itself."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(fit_texts), min(sample, len(fit_texts) // 2), replace=False))
    others = scope.without(pick)
    texts = [fit_texts[i] for i in pick]
    approx = answers(work, "model.int8.onnx", enc, texts, others)
    exact_distances = others.distance(scope.embeddings[pick])
    return measure_margins(fit_logits[pick], approx.logits, exact_distances, approx.distances, temperature)
