"""TF-IDF (word and character n-grams) + logistic regression, saved as a versioned model directory."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from tqdm import tqdm

from integrations.catalog import label_examples
from service.core.modelcard import ModelCard, audit, file_sha256, new_version, promote_trained
from service.decide.language import training_languages
from service.decide.normalize import normalize_batch
from service.decide.thresholds import CALIBRATION_FILE, DEFAULT_TARGET, Calibration, achieved
from service.retrain.drift import confidence_histogram
from training.calibration import out_of_fold
from training.data import FORMATS, Examples, drop_rare, read_csv, read_examples, split

KIND = "sklearn-tfidf-logreg"
ARTEFACT = "model.joblib"


def build_pipeline(*, c: float = 20.0, seed: int = 0) -> Pipeline:
    """The baseline estimator; normalisation lives inside it so the artefact is self-contained."""
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
        ]
    )
    return Pipeline(
        [
            ("normalize", FunctionTransformer(normalize_batch)),
            ("features", features),
            ("clf", LogisticRegression(C=c, max_iter=2000, random_state=seed)),
        ]
    )


def baseline_out_of_fold(
    data: Examples, labels: list[str], *, c: float = 20.0, seed: int = 0, folds: int = 5, jobs: int = 2
) -> np.ndarray:
    """Each example's baseline probabilities (columns in `labels` order) from a fit that never saw it."""
    texts, y = data.texts, np.asarray(data.labels)

    def fold(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fitted = build_pipeline(c=c, seed=seed).fit([texts[i] for i in a], y[a])
        return fitted.classes_, fitted.predict_proba([texts[i] for i in b])

    return out_of_fold(fold, labels, data.labels, folds=folds, seed=seed, jobs=jobs)


def evaluate(pipeline: Pipeline, data: Examples, thresholds: dict[str, float], target: float) -> dict[str, object]:
    """Accuracy, macro-F1, accuracy on the 80 % most confident, and what the promised thresholds achieve."""
    proba = pipeline.predict_proba(data.texts)
    classes = [str(c) for c in pipeline.classes_]
    predicted_idx = np.argmax(proba, axis=1)
    predicted = np.asarray(classes)[predicted_idx]
    confidence = proba.max(axis=1)
    keep = confidence >= np.quantile(confidence, 0.2)
    truth = np.asarray(data.labels)
    truth_idx = np.array([classes.index(t) if t in classes else -1 for t in truth])
    return {
        "n": int(len(truth)),
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "accuracy_top80_confident": float(accuracy_score(truth[keep], predicted[keep])),
        "promised_precision": target,
        **achieved(confidence, predicted_idx, truth_idx, classes, thresholds),
    }


def train(
    *,
    data: Path,
    out: Path,
    name: str = "baseline",
    text_column: str = "text",
    label_column: str = "category",
    test: Path | None = None,
    holdout: float = 0.1,
    seed: int = 0,
    c: float = 20.0,
    make_current: bool | None = None,
    progress: bool = True,
    fmt: str = "csv",
    label_field: str | None = None,
    min_count: int = 2,
    target_precision: float = DEFAULT_TARGET,
    folds: int = 5,
    jobs: int = 2,
) -> Path:
    """Train, evaluate on held-out data, write the model directory and (optionally) promote it."""
    bar = tqdm(
        total=7,
        desc="baseline",
        unit="step",
        disable=not progress,
        file=sys.stderr,
        bar_format="{desc}: {n}/{total} {postfix} [{elapsed}]",
    )
    bar.set_postfix_str("reading data")
    examples, skipped = read_examples(
        data, fmt=fmt, text_column=text_column, label_column=label_column, label_field=label_field
    )
    examples, rare = drop_rare(examples, min_count)
    if rare:
        skipped[f"labels with fewer than {min_count} examples ({len(rare)} labels)"] = sum(rare.values())
    bar.update()
    bar.set_postfix_str(f"splitting {len(examples.texts)} examples")
    fit_part, valid_part = split(examples, holdout=holdout, seed=seed)
    bar.update()
    bar.set_postfix_str(f"fitting on {len(fit_part.texts)} examples, {len(set(fit_part.labels))} labels")
    pipeline = build_pipeline(c=c, seed=seed)
    started = time.perf_counter()
    pipeline.fit(fit_part.texts, fit_part.labels)
    fit_s = time.perf_counter() - started
    bar.update()
    labels = [str(c_) for c_ in pipeline.classes_]
    bar.set_postfix_str(f"cross-validating ({folds} folds) to choose thresholds")
    # Thresholds come from answers of models that never saw the ticket they answer, not from the final fit.
    y_idx = np.array([labels.index(label) for label in fit_part.labels])
    calibration = Calibration.from_probabilities(
        baseline_out_of_fold(fit_part, labels, c=c, seed=seed, folds=folds, jobs=jobs), y_idx, labels
    )
    thresholds = calibration.thresholds(target_precision)
    bar.update()
    bar.set_postfix_str("evaluating on held-out data")
    validation = evaluate(pipeline, valid_part, thresholds, target_precision)
    metrics: dict[str, object] = {
        "validation": validation,
        "fit_seconds": round(fit_s, 1),
        "examples": len(examples.texts),
        "skipped": skipped,
        # Reference distributions for the drift alarm (service/retrain/drift.py).
        "label_counts": dict(sorted(Counter(fit_part.labels).items())),
        "validation_confidence_hist": confidence_histogram(pipeline.predict_proba(valid_part.texts).max(axis=1)),
    }
    if test is not None:
        test_part = read_csv(test, text_column=text_column, label_column=label_column)
        metrics["test"] = evaluate(pipeline, test_part, thresholds, target_precision)
    bar.update()
    bar.set_postfix_str("saving")
    created = datetime.now(UTC)
    version = new_version(out / name, created, examples.sha256)
    target = out / name / version
    tmp = out / name / (version + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    joblib.dump(pipeline, tmp / ARTEFACT, compress=3)
    calibration.save(tmp / CALIBRATION_FILE)
    ModelCard(
        name=name,
        version=version,
        kind=KIND,
        labels=labels,
        artefact=ARTEFACT,
        artefact_sha256=file_sha256(tmp / ARTEFACT),
        files={CALIBRATION_FILE: file_sha256(tmp / CALIBRATION_FILE)},
        serving={"thresholds": thresholds},
        data_sha256=examples.sha256,
        created_at=created.isoformat(),
        languages=training_languages(fit_part.texts),
        metrics=metrics,
        params={
            "recipe": "TF-IDF word and character n-grams + logistic regression",
            "C": c,
            "seed": seed,
            "holdout": holdout,
            "folds": folds,
            "target_precision": target_precision,
            "data": str(data),
            "format": fmt,
            "text_column": text_column,
            "label_column": label_column,
            "label_field": label_field,
        },
    ).write(tmp)
    tmp.rename(target)
    audit(
        out,
        "train",
        name=name,
        version=version,
        kind=KIND,
        data=str(data),
        examples=len(examples.texts),
        validation_accuracy=validation["accuracy"],
    )
    promote_trained(out, name, version, make_current)
    bar.update()
    bar.set_postfix_str(f"done: {version}")
    bar.close()
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.baseline", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="labelled CSV")
    parser.add_argument("--out", type=Path, required=True, help="models directory")
    parser.add_argument("--name", default="baseline")
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=FORMATS,
        default="csv",
        help="csv (generic), or a helpdesk's export: " + ", ".join(FORMATS[1:]),
    )
    parser.add_argument("--label-field", help=f"with a helpdesk export, the field to label by ({label_examples()})")
    parser.add_argument("--min-count", type=int, default=2, help="leave out labels with fewer examples")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--test", type=Path, help="optional held-out CSV to report metrics on")
    parser.add_argument("--holdout", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-C", dest="c", type=float, default=20.0)
    parser.add_argument("--target-precision", type=float, default=DEFAULT_TARGET)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds for the thresholds")
    parser.add_argument(
        "--promote",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="make this version current (default: only if none is)",
    )
    args = parser.parse_args(argv)
    target = train(
        data=args.data,
        out=args.out,
        name=args.name,
        text_column=args.text_column,
        label_column=args.label_column,
        test=args.test,
        holdout=args.holdout,
        seed=args.seed,
        c=args.c,
        make_current=args.promote,
        fmt=args.fmt,
        label_field=args.label_field,
        min_count=args.min_count,
        target_precision=args.target_precision,
        folds=args.folds,
    )
    card = ModelCard.read(target)
    print(f"model {card.name}@{card.version} written to {target}")
    print(f"  read {card.metrics['examples']} labelled examples; skipped: {card.metrics['skipped'] or 'none'}")
    for split_name, m in sorted(card.metrics.items()):
        if isinstance(m, dict) and "accuracy" in m:
            print(f"  {split_name}: accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  (n={m['n']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
