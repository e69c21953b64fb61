"""The priority model on real tickets, held out: macro-F1 and the most urgent priority's recall and precision,
against the majority priority, the queue-default rule and the label's TF-IDF baseline trained on priority.

Trains through `triage train --target priority`'s own code (training.priority) on each set, once per seed (each
seed is another stratified split), and scores the held-out part only. The queue-default rule gives each ticket
its queue's most common priority in the training part (the queue is the set's routing field, read from the
ticket itself: a best case for the rule, since the queue is never wrong); "model + rules" is what serving does,
the more urgent of the two. Prints JSON and writes bench/results/priority.json.

    .venv/bin/python bench/priority.py                       # both sets, seeds 0 1 2 (~15 min on 2 shared cores)
    .venv/bin/python bench/priority.py --sets apache --seeds 0
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from service.core.csvcells import uncell  # noqa: E402
from service.decide.classify import load_model  # noqa: E402
from service.decide.priority import DEFAULT_SCALE  # noqa: E402
from training.priority import PriorityConfig, parse_map, scores, train  # noqa: E402
from training.sources import SourceSpec  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
ENDAVA = DATASETS / "endava_it_tickets_subset" / "endava_all_tickets_first5431.csv"
APACHE = DATASETS / "apache_jira_changelog" / "apache_jira_issues_sample10k.csv"
# Endava's codes are anonymised ordinals; 0 is the most urgent (its tickets read "exchange is down", "quite
# critical issue"; every request, ticket_type 1, has urgency 3 and impact 4, the least).
SETS: dict[str, dict[str, Any]] = {
    "endava-urgency": {
        "source": SourceSpec("csv", ENDAVA, label="urgency", text=("title", "body"), name="endava"),
        "map": "0=urgent,1=high,2=normal,3=low",
        "queue": "business_service",
    },
    "endava-impact": {
        "source": SourceSpec("csv", ENDAVA, label="impact", text=("title", "body"), name="endava"),
        "map": "0=urgent,1=high,2=high,3=normal,4=low",
        "queue": "business_service",
    },
    "apache-jira": {
        # Jira's names map by default: Blocker urgent, Critical high, Major normal, Minor and Trivial low.
        "source": SourceSpec("jira", APACHE, label="priority"),
        "map": "",
        "queue": "jira_project",
    },
}


def queues(name: str) -> dict[str, str]:
    """Each ticket key's queue, keyed as training.sources keys the rows (CSV: row number; Jira: issue key)."""
    spec = SETS[name]["source"]
    with spec.path.open(newline="", encoding="utf-8-sig") as fh:
        records = list(csv.DictReader(fh))
    if spec.format == "jira":
        return {f"{spec.name}:{r['issue_key']}": r[SETS[name]["queue"]] for r in records}
    return {f"{spec.name}:row-{i}": r[SETS[name]["queue"]] for i, r in enumerate(records, start=1)}


def read_split(path: Path) -> list[dict[str, str]]:
    """A run's train.csv or holdout.csv, with the formula quoting of its cells undone."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: uncell(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def more_urgent(a: str, b: str) -> str:
    return max(a, b, key=DEFAULT_SCALE.index)


def one_run(name: str, seed: int, models: Path, reports: Path) -> dict[str, Any]:
    """Train on one seeded split of one set; every figure on its held-out part."""
    cfg = PriorityConfig(sources=[SETS[name]["source"]], priority_map=parse_map(SETS[name]["map"]), seed=seed)
    started = time.perf_counter()
    summary = train(cfg, models_dir=models / f"{name}-{seed}", report_dir=reports, name="priority")
    train_s = time.perf_counter() - started
    run = Path(summary["holdout_csv"]).parent
    train_rows, held = read_split(run / "train.csv"), read_split(run / "holdout.csv")
    queue_of = queues(name)
    by_queue: dict[str, Counter[str]] = defaultdict(Counter)
    for r in train_rows:
        by_queue[queue_of.get(r["key"], "")][r["category"]] += 1
    majority = Counter(r["category"] for r in train_rows).most_common(1)[0][0]
    default = {q: c.most_common(1)[0][0] for q, c in by_queue.items()}
    truth = [r["category"] for r in held]
    rule = [default.get(queue_of.get(r["key"], ""), majority) for r in held]
    model = load_model(Path(summary["directory"]))
    started = time.perf_counter()
    predicted = [p.label for p in model.predict([r["text"] for r in held])]
    predict_ms = (time.perf_counter() - started) * 1000 / max(1, len(held))
    top = summary["holdout"]["top"]
    # The same model without the cutoff (`--top-recall 0`): the most probable priority, class-weighted.
    proba = model.predict_proba([r["text"] for r in held])  # type: ignore[attr-defined]
    argmax = [model.labels[i] for i in proba.argmax(axis=1)]
    return {
        "seed": seed,
        "train": len(train_rows),
        "held_out": len(held),
        "priorities": dict(Counter(truth)),
        "cutoffs": summary["cutoffs"],
        "out_of_fold_top_precision": summary["out_of_fold"]["with_cutoff"]["top_precision"],
        "model": summary["holdout"],
        "model_without_cutoff": scores(argmax, truth, top),
        "model_plus_rules": scores([more_urgent(m, r) for m, r in zip(predicted, rule, strict=True)], truth, top),
        "majority": summary["baselines"]["majority"],
        "queue_default_rule": scores(rule, truth, top),
        "tfidf_label_baseline": summary["baselines"]["tfidf_unweighted"],
        "train_seconds": round(train_s, 1),
        "predict_ms_per_ticket": round(predict_ms, 3),
    }


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over seeds, and the top priority's recall pooled over every held-out urgent ticket of every seed."""
    out: dict[str, Any] = {}
    methods = ("model", "model_without_cutoff", "model_plus_rules", "majority", "queue_default_rule")
    for method in (*methods, "tfidf_label_baseline"):
        support = sum(r[method]["top_support"] for r in runs)
        hits = sum(round(r[method]["top_recall"] * r[method]["top_support"]) for r in runs)
        flagged = sum(r[method]["top_predicted"] for r in runs)
        out[method] = {
            "macro_f1_mean": round(statistics.mean(r[method]["macro_f1"] for r in runs), 4),
            "top_recall_pooled": round(hits / max(1, support), 4),
            "top_precision_pooled": round(hits / max(1, flagged), 4),
            "top_support_pooled": support,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "priority.json")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join(["bench/priority.py", *sys.argv[1:]]),
        "sets": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-priority-") as tmp:
        for name in args.sets:
            runs = [one_run(name, seed, Path(tmp) / "models", Path(tmp) / "runs") for seed in args.seeds]
            result["sets"][name] = {
                "source": str(SETS[name]["source"].path.relative_to(ROOT.parent)),
                "field": SETS[name]["source"].label,
                "map": SETS[name]["map"]
                or "Jira names (Blocker urgent, Critical high, Major normal, Minor/Trivial low)",
                "queue_field": SETS[name]["queue"],
                "runs": runs,
                "pooled": pooled(runs),
            }
            print(f"{name}: done", file=sys.stderr)
    publish(result, args.out)


if __name__ == "__main__":
    main()
