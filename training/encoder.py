"""Fine-tune a BERT/DistilBERT-style encoder, export it to ONNX, quantize, calibrate, and publish a model dir.

The exported graph is fused (attention, GELU, LayerNorm) and quantized to int8. int8 is served with fp32 beside
it for the tickets near a border when, on validation tickets, that pair's accuracy is within 0.3 points of
fp32's and the routing status of >= 99.5 % of tickets is the same as fp32's (training/quantize.py); else fp32 is
served alone (or nothing, with --require-int8).

The encoder is used with mean pooling and a linear head initialised from a logistic regression on its frozen
embeddings: all-MiniLM-L6-v2 was trained for mean pooling, and its CLS/pooler path fine-tunes worse
(DESIGN.md: 92.0 % with a CLS head vs 92.9 % for frozen mean-pooled embeddings + LR).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from service.core.modelcard import ModelCard, audit, file_sha256, new_version, promote_trained
from service.decide.language import training_languages
from service.decide.scope import SCOPE_FILE, calibrate_scope
from service.decide.thresholds import CALIBRATION_FILE, DEFAULT_TARGET
from service.retrain.drift import confidence_histogram
from training.baseline import build_pipeline
from training.calibration import quality
from training.data import FORMATS, Examples, drop_rare, read_examples, split
from training.encoder_crossfit import cross_fitted, with_out_of_fold
from training.encoder_model import FEW_SHOT_CONTRASTIVE, EncoderClassifier, EncoderConfig
from training.encoder_parity import (
    answers,
    graph_outputs,
    held_out_parity,
    int8_margins,
    known,
    member_probs,
    onnx_logits,
)
from training.quantize import QUANTIZATION, int8_gate, optimize_graph, quantize_graph, serve

KIND = "onnx-encoder"


class ParityError(RuntimeError):
    """The exported or quantized model does not behave like the trained one: it must not be published."""


def train(
    *,
    data: Path,
    out: Path,
    name: str = "encoder",
    test: Path | None = None,
    holdout: float = 0.1,
    config: EncoderConfig | None = None,
    fmt: str = "csv",
    text_column: str = "text",
    label_column: str = "category",
    label_field: str | None = None,
    min_count: int = 2,
    shots: int | None = None,
    make_current: bool | None = None,
    progress: bool = True,
    max_int8_accuracy_gap: float = 0.003,
    min_int8_routing_agreement: float = 0.995,
    max_logit_diff: float = 1e-3,
    require_int8: bool = False,
) -> Path:
    """Fine-tune, export, quantize, check parity, calibrate, evaluate on held-out data, and publish."""
    cfg = config or EncoderConfig()
    if cfg.contrastive is None:
        cfg = replace(cfg, contrastive=FEW_SHOT_CONTRASTIVE if shots else 0.0)
    started = time.perf_counter()
    examples, skipped = read_examples(
        data, fmt=fmt, text_column=text_column, label_column=label_column, label_field=label_field
    )
    examples, rare = drop_rare(examples, min_count)
    test_examples = None
    if test is not None:
        test_examples, _ = read_examples(
            test, fmt=fmt, text_column=text_column, label_column=label_column, label_field=label_field
        )
    fit_part, valid_part = split(examples, holdout=holdout, seed=cfg.seed)
    if shots:
        # Few-shot: train on `shots` per label; calibrate and check parity on half as many others, no more.
        fit_part = sample_shots(fit_part, shots, cfg.seed)
        valid_part = sample_shots(valid_part, max(2, shots // 2), cfg.seed)
    created = datetime.now(UTC)
    version = new_version(out / name, created, examples.sha256)
    work = out / name / (version + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    checkpoint = out / name / "checkpoint.pt"

    enc = EncoderClassifier(cfg).fit(
        fit_part.texts, fit_part.labels, valid=valid_part, checkpoint=checkpoint, progress=progress
    )
    labels = enc.classes_
    valid, valid_y = known(valid_part, labels)

    print("exporting to ONNX and quantizing ...", file=sys.stderr)
    names = enc.export_onnx(work / "model.onnx")
    encoder_config: Any = enc.model.encoder.config if enc.model is not None else None
    fused = optimize_graph(
        work / "model.onnx",
        int(getattr(encoder_config, "num_attention_heads", 0)),
        int(getattr(encoder_config, "hidden_size", 0)),
    )
    print(f"fused: {fused}", file=sys.stderr)
    torch_logits = enc.logits(valid.texts)
    fp32_logits = onnx_logits(work / "model.onnx", enc, valid.texts, names)
    max_diff = float(np.abs(torch_logits - fp32_logits).max())
    quantize_graph(work / "model.onnx", work / "model.int8.onnx")
    limits = (
        f"(limits: logit diff <= {max_logit_diff}, int8 accuracy within {max_int8_accuracy_gap:.1%} of fp32's, "
        f"routing status agreement >= {min_int8_routing_agreement:.1%})"
    )
    if max_diff > max_logit_diff:
        diff = f"max |logit diff| {max_diff:.2e} > {max_logit_diff}"
        raise ParityError(f"parity check failed, model not published: {diff}; kept in {work}")

    enc.tokenizer.backend_tokenizer.save(str(work / "tokenizer.json"))
    enc.save_torch(work / "torch")
    baseline, base_probs = None, None
    if cfg.ensemble:
        baseline = build_pipeline(seed=cfg.seed).fit(fit_part.texts, fit_part.labels)
        base_probs = member_probs(baseline, valid.texts, labels)
    # Weight, temperature and thresholds are fp32's; int8 only decides which tickets fp32 need not see.
    fp32 = serve("model.onnx", fp32_logits, valid_y, labels, cfg.target_precision, base_probs)
    if cfg.cross_fit > 1 and not shots:
        # About 13 validation tickets a label cannot show a promise for most labels; the folds' answers can.
        calibration = with_out_of_fold(fp32.calibration, *cross_fitted(cfg, fit_part, labels, fp32.encoder_weight))
        fp32 = replace(fp32, calibration=calibration, thresholds=calibration.thresholds(cfg.target_precision))
    print("embedding the training tickets for the out-of-scope distance ...", file=sys.stderr)
    fit_logits, fit_embeddings = graph_outputs(work, "model.onnx", enc, fit_part.texts)
    scope = calibrate_scope(fit_embeddings, fit_part.labels)
    print("measuring int8 against fp32 ...", file=sys.stderr)
    margins = int8_margins(work, enc, fp32.temperature, fit_part.texts, fit_logits, scope, seed=cfg.seed)
    v32, v8 = (answers(work, g, enc, valid.texts, scope) for g in ("model.onnx", "model.int8.onnx"))
    gate = int8_gate(
        fp32,
        fp32.mix(v8.logits, base_probs),
        margins,
        valid_y,
        fp32_distances=v32.distances,
        int8_distances=v8.distances,
        limit=scope.limit,
        max_accuracy_gap=max_int8_accuracy_gap,
        min_routing_agreement=min_int8_routing_agreement,
    )
    parity = {
        "fp32_vs_torch_max_abs_logit_diff": max_diff,
        "fused_operators": fused,
        "int8_quantization": QUANTIZATION,
        **gate,
        "n": len(valid.texts),
    }
    if test_examples is not None:
        parity.update(held_out_parity(work, enc, fp32, margins, scope, test_examples, baseline))
    print(f"parity: {parity}", file=sys.stderr)
    if not gate["int8_published"]:
        if require_int8:
            raise ParityError(f"int8 parity check failed, model not published: {parity} {limits}; kept in {work}")
        # The int8 graph is not published; the fp32 graph, which passed its own check, is served alone.
        print(f"int8 fails the gate {limits}: serving fp32", file=sys.stderr)
        (work / "model.int8.onnx").unlink()
    served_graph = "model.int8.onnx" if gate["int8_published"] else "model.onnx"
    members: dict[str, float] = {}
    if baseline is not None and fp32.encoder_weight < 1.0:
        joblib.dump(baseline, work / "baseline.joblib", compress=3)
        members = {"baseline.joblib": round(1.0 - fp32.encoder_weight, 2)}
        print(f"ensemble: encoder weight {fp32.encoder_weight:.2f} on validation", file=sys.stderr)
    temperature = fp32.temperature
    fp32.calibration.save(work / CALIBRATION_FILE)
    thresholds = fp32.thresholds
    scope.save(work / SCOPE_FILE)
    # int8 answers every ticket; fp32 those whose int8 answer lies within the margins of a border.
    exact = (
        {"graph": "model.onnx", "log_odds_margin": margins.log_odds, "scope_margin": margins.scope}
        if gate["int8_published"]
        else None
    )
    serving = {
        "tokenizer": "tokenizer.json",
        "max_length": cfg.max_length,
        "pad_id": enc.tokenizer.pad_token_id,
        "input_names": names,
        "temperature": temperature,
        "thresholds": thresholds,
        "encoder_weight": round(1.0 - sum(members.values()), 2),
        "members": members,
        **({"exact": exact} if exact else {}),
    }
    beside = ["model.onnx"] if exact else []
    files = {f: file_sha256(work / f) for f in ["tokenizer.json", CALIBRATION_FILE, SCOPE_FILE, *members, *beside]}
    card = ModelCard(
        name=name,
        version=version,
        kind=KIND,
        labels=labels,
        artefact=served_graph,
        artefact_sha256=file_sha256(work / served_graph),
        data_sha256=examples.sha256,
        created_at=created.isoformat(),
        languages=training_languages(fit_part.texts),
        files=files,
        serving=serving,
        metrics={
            "parity": parity,
            "history": enc.history,
            "examples": len(examples.texts),
            "train_examples": len(fit_part.texts),
            "skipped": skipped,
            "rare_labels_dropped": rare,
            "train_seconds": round(time.perf_counter() - started, 1),
        },
        params={
            "recipe": "fine-tuned sentence encoder (mean pooling)" + (", with TF-IDF" if members else ""),
            "base_model": str(cfg.base_model),
            "epochs": cfg.epochs,
            "lr": cfg.lr,
            "head_lr": cfg.head_lr,
            "batch_size": cfg.batch_size,
            "contrastive": cfg.contrastive,
            "cross_fit": 0 if shots else cfg.cross_fit,
            "calibration_answers": len(fp32.calibration.truth),
            "seed": cfg.seed,
            "shots": shots,
            "data": str(data),
            "format": fmt,
            "label_field": label_field,
            "target_precision": cfg.target_precision,
        },
    )
    card.write(work)
    # Held-out metrics come from the model as the service will load it (card checks included).
    from service.decide.classify import load_model

    served = load_model(work, threads=cfg.threads)
    card.metrics["validation"] = quality(served, valid, cfg.target_precision)
    if test_examples is not None:
        card.metrics["test"] = quality(served, test_examples, cfg.target_precision)
    # Reference distributions for the drift alarm (service/drift.py): training labels, validation confidences.
    card.metrics["label_counts"] = dict(sorted(Counter(fit_part.labels).items()))
    card.metrics["validation_confidence_hist"] = confidence_histogram(
        [p.confidence for p in served.predict(valid.texts)]
    )
    card.write(work)
    target = out / name / version
    work.rename(target)
    checkpoint.unlink(missing_ok=True)
    audit(
        out,
        "train",
        name=name,
        version=version,
        kind=card.kind,
        data=str(data),
        examples=len(examples.texts),
        validation_accuracy=card.metrics["validation"].get("accuracy"),
    )
    promote_trained(out, name, version, make_current)
    return target


def sample_shots(data: Examples, shots: int, seed: int) -> Examples:
    """`shots` examples per label, sampled with a fixed seed (few-shot mode)."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    picked = sorted(i for idx in by_label.values() for i in rng.sample(idx, min(shots, len(idx))))
    return Examples([data.texts[i] for i in picked], [data.labels[i] for i in picked], data.sha256)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.encoder", description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="encoder")
    parser.add_argument("--test", type=Path, help="held-out CSV to report metrics on")
    parser.add_argument("--base-model", type=Path, help="local BERT/DistilBERT checkpoint dir (default: MiniLM)")
    parser.add_argument("--format", dest="fmt", default="csv", choices=FORMATS)
    parser.add_argument("--label-field")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--head-lr", type=float, default=3e-4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--shots", type=int, help="few-shot mode: this many training examples per label")
    parser.add_argument(
        "--contrastive",
        type=float,
        help="weight of a supervised contrastive loss on the embeddings, beside cross-entropy "
        f"(default: {FEW_SHOT_CONTRASTIVE} with --shots, else 0: off)",
    )
    parser.add_argument("--no-ensemble", action="store_true", help="serve the encoder alone")
    parser.add_argument(
        "--cross-fit",
        type=int,
        default=2,
        help="folds of shorter fine-tunings whose answers join validation's for the thresholds (0: off; "
        "never in few-shot mode)",
    )
    parser.add_argument("--target-precision", type=float, default=DEFAULT_TARGET)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--promote", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--max-int8-accuracy-gap",
        type=float,
        default=0.003,
        help="int8's validation accuracy must be within this of fp32's (default 0.003: 0.3 points)",
    )
    parser.add_argument(
        "--min-int8-routing-agreement",
        type=float,
        default=0.995,
        help="share of validation tickets whose routing status (auto-routed or not) int8 and fp32 must share",
    )
    parser.add_argument(
        "--require-int8",
        action="store_true",
        help="refuse to publish at all when int8 fails its gate (default: serve the fp32 graph)",
    )
    args = parser.parse_args(argv)
    cfg = EncoderConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        head_lr=args.head_lr,
        max_length=args.max_length,
        patience=args.patience,
        seed=args.seed,
        ensemble=not args.no_ensemble,
        target_precision=args.target_precision,
        threads=args.threads,
        contrastive=args.contrastive,
        cross_fit=args.cross_fit,
    )
    if args.base_model:
        cfg.base_model = args.base_model
    try:
        target = train(
            data=args.data,
            out=args.out,
            name=args.name,
            test=args.test,
            config=cfg,
            fmt=args.fmt,
            text_column=args.text_column,
            label_column=args.label_column,
            label_field=args.label_field,
            shots=args.shots,
            make_current=args.promote,
            max_int8_accuracy_gap=args.max_int8_accuracy_gap,
            min_int8_routing_agreement=args.min_int8_routing_agreement,
            require_int8=args.require_int8,
        )
    except ParityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    card = ModelCard.read(target)
    print(f"model {card.name}@{card.version} written to {target}")
    print(json.dumps({k: card.metrics[k] for k in ("validation", "test", "parity") if k in card.metrics}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
