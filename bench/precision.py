"""Promised against achieved precision: train through `triage train`'s own path, then score the held-out split.

For each model family the served model's thresholds are chosen for several targets (as the routing file's
`target_precision` would) and applied to held-out tickets the model never saw. Prints JSON.

    .venv/bin/python bench/precision.py --data data/banking77/train.csv --test data/banking77/test.csv
    .venv/bin/python bench/precision.py --source jira:../shared/datasets/apache_jira_changelog/\
apache_jira_issues_sample10k.csv --label-field component --min-count 40 --split ticket
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
from service.decide.classify import load_model  # noqa: E402
from service.decide.thresholds import achieved  # noqa: E402
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
    args = parser.parse_args()
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
            model = load_model(directory)
            labels = list(model.labels)
            index = {label: i for i, label in enumerate(labels)}
            predictions = model.predict([r.text for r in split.holdout])
            confidence = np.array([p.confidence for p in predictions])
            predicted = np.array([index[p.label] for p in predictions])
            truth = np.array([index.get(r.label, -1) for r in split.holdout])
            family_result: dict[str, object] = {
                "model": f"{model.name}@{model.version}",
                "train_seconds": round(train_s, 1),
                "accuracy": round(float((predicted == truth).mean()), 4),
            }
            for target in args.targets:
                promised = model.thresholds(target, {})
                assert promised is not None, f"{family} carries no calibration"
                got = achieved(confidence, predicted, truth, labels, promised)
                family_result[f"target_{target}"] = {
                    "auto_routed_share": round(float(got["auto_routed_share"] or 0.0), 4),
                    "auto_routed_precision": None
                    if got["auto_routed_precision"] is None
                    else round(float(got["auto_routed_precision"]), 4),
                }
            out_of_scope = [p.out_of_scope for p in predictions if p.scope_distance is not None]
            if out_of_scope:
                family_result["in_scope_flagged_out_of_scope"] = round(float(np.mean(out_of_scope)), 4)
            result["families"][family] = family_result  # type: ignore[index]
            print(json.dumps({family: family_result}), file=sys.stderr)
    if args.out:
        publish(result, args.out)
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
