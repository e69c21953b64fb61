"""Promised against achieved precision: train through `triage train`'s own path, then score the held-out split.

For each model family the served model's thresholds are chosen for several targets (as the routing file's
`target_precision` would) and applied to held-out tickets the model never saw. Prints JSON.

    .venv/bin/python bench/precision.py --data data/banking77/train.csv --test data/banking77/test.csv
    .venv/bin/python bench/precision.py --source jira:../shared/datasets/apache_jira_changelog/\
apache_jira_issues_sample10k.csv --label-field component --min-count 40 --split ticket
    .venv/bin/python bench/precision.py --model var/models/encoder/<version> --test data/banking77/test.csv
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import publish  # noqa: E402
from service.core.ports import Classifier  # noqa: E402
from service.decide.classify import load_model  # noqa: E402
from service.decide.thresholds import achieved  # noqa: E402
from training.data import read_examples  # noqa: E402
from training.run import RunConfig, gather, prepare, train_family  # noqa: E402
from training.sources import SourceSpec  # noqa: E402

TARGETS = (0.95, 0.98, 0.99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", action="append", default=[], help="FORMAT:PATH, as for triage train")
    parser.add_argument("--data", type=Path, help="a labelled CSV (text, category)")
    parser.add_argument("--test", type=Path, help="a held-out CSV instead of a split")
    parser.add_argument("--label-field")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--split", default="auto")
    parser.add_argument("--families", nargs="+", default=["baseline", "frozen"])
    parser.add_argument("--targets", nargs="+", type=float, default=list(TARGETS))
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--model", type=Path, help="score this trained model directory on --test (no training)")
    args = parser.parse_args()
    if args.model:
        if not args.test:
            parser.error("--model needs --test: the held-out tickets to score it on")
        held_out = read_examples(args.test)[0]
        scored = {"test": str(args.test), "held_out": len(held_out.texts)}
        scored.update(score(load_model(args.model), held_out.texts, held_out.labels, args.targets))
        if args.out:
            publish(scored, args.out)
        else:
            print(json.dumps(scored, indent=2))
        return
    sources = [SourceSpec.parse(s, label=args.label_field) for s in args.source]
    if args.data:
        sources.append(SourceSpec("csv", args.data, label="category", name=args.data.name))
    cfg = RunConfig(sources=sources, test=args.test, split=args.split, min_count=args.min_count)
    rows, _ = gather(cfg, progress=False)
    split, prepared = prepare(cfg, rows)
    result: dict[str, object] = {
        "sources": [str(s.path) for s in sources],
        "train": len(split.train),
        "held_out": len(split.holdout),
        "labels": len(prepared["labels"]),
        "families": {},
    }
    texts, labels_of = [r.text for r in split.holdout], [r.label for r in split.holdout]
    with tempfile.TemporaryDirectory() as tmp:
        train_csv = Path(tmp) / "train.csv"
        from training.prepare import write_csv

        write_csv(split.train, train_csv)
        for family in args.families:
            started = time.perf_counter()
            directory = train_family(
                family, cfg, train_csv, models_dir=Path(tmp) / "models", name=family, shots=None, progress=False
            )
            train_s = time.perf_counter() - started
            family_result: dict[str, object] = {"train_seconds": round(train_s, 1)}
            family_result.update(score(load_model(directory), texts, labels_of, args.targets))
            result["families"][family] = family_result  # type: ignore[index]
            print(json.dumps({family: family_result}), file=sys.stderr)
    if args.out:
        publish(result, args.out)
    else:
        print(json.dumps(result, indent=2))


def score(model: Classifier, texts: list[str], truth_labels: list[str], targets: list[float]) -> dict[str, object]:
    """Accuracy, and the share and precision of held-out tickets auto-routed at each promised target."""
    labels = list(model.labels)
    index = {label: i for i, label in enumerate(labels)}
    predictions = model.predict(texts)
    confidence = np.array([p.confidence for p in predictions])
    predicted = np.array([index[p.label] for p in predictions])
    truth = np.array([index.get(label, -1) for label in truth_labels])
    result: dict[str, object] = {
        "model": f"{model.name}@{model.version}",
        "accuracy": round(float((predicted == truth).mean()), 4),
    }
    for target in targets:
        promised = model.thresholds(target, {})
        assert promised is not None, f"{model.name} carries no calibration"
        got = achieved(confidence, predicted, truth, labels, promised)
        result[f"target_{target}"] = {
            "auto_routed_share": round(float(got["auto_routed_share"] or 0.0), 4),
            "auto_routed_precision": None
            if got["auto_routed_precision"] is None
            else round(float(got["auto_routed_precision"]), 4),
        }
    out_of_scope = [p.out_of_scope for p in predictions if p.scope_distance is not None]
    if out_of_scope:
        result["in_scope_flagged_out_of_scope"] = round(float(np.mean(out_of_scope)), 4)
    return result


if __name__ == "__main__":
    main()
