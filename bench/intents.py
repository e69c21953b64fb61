"""New intents on Banking77: train without 10 intents, send the whole test split, cluster what comes back unsure.

Trains a family (frozen by default) through its own training path on the other 67 intents, decides every
test ticket with the service's decide step (model, promised thresholds, out-of-scope, routing rules), keeps
the guesses exactly as the review page's new-intents run does (DecisionRow.is_guess), and clusters them with
the service's own clustering (service/review/clustering.py): by the model's embeddings (what the service
stores per ticket for the frozen family) and by the TF-IDF stand-in. Reports how many of the 10 held-out
intents come back as a cluster of purity >= 0.8, and the clusters' count, purity and coverage. Prints JSON.

    .venv/bin/python bench/intents.py [--family frozen|baseline] [--held-out 10] [--seed 0]
        [--min-cluster-size 10] [--out FILE]
    .venv/bin/python bench/intents.py --validate   # HDBSCAN's settings, chosen on the training split only
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.oos import BANKING77, rows, train  # noqa: E402
from bench.report import machine, publish  # noqa: E402
from service.core.settings import Settings  # noqa: E402
from service.decide.classify import OnnxClassifier, run_encoder_outputs  # noqa: E402
from service.decide.flow import decide_many  # noqa: E402
from service.infra.db import Database  # noqa: E402
from service.infra.models import DecisionRow, PredictionRow, Ticket  # noqa: E402
from service.review import clustering  # noqa: E402
from service.runtime import Runtime  # noqa: E402

PURE = 0.8
BATCH = 256


def train_family(family: str, data: Path, out: Path, seed: int) -> Path:
    if family == "baseline":
        from training.baseline import train as train_baseline

        return train_baseline(data=data, out=out, seed=seed, progress=False)
    return train(family, data, out, seed)


def guesses(runtime: Runtime, texts: list[str]) -> list[bool]:
    """Decide each text as the worker would and say which decisions are guesses (the rule the service uses)."""
    out = []
    for start in range(0, len(texts), BATCH):
        tickets = [Ticket(source="generic", subject="", body=t, meta={}, tags=[]) for t in texts[start : start + BATCH]]
        for d in decide_many(runtime, tickets):
            row = DecisionRow(status=d.status, threshold=d.route.threshold, reason=d.explanation())
            row.prediction = PredictionRow(label=d.prediction.label, confidence=d.prediction.confidence)
            out.append(row.is_guess)
    return out


def score(groups: list[clustering.Group], labels: list[str], unseen: set[str]) -> dict[str, Any]:
    """Purity of each cluster, which held-out intents came back as a pure one, and how much of them it holds."""
    clusters: list[dict[str, Any]] = []
    recovered: dict[str, int] = {}
    for g in groups:
        counts = Counter(labels[i] for i in g.members)
        top, n = counts.most_common(1)[0]
        purity = n / len(g.members)
        clusters.append(
            {
                "size": len(g.members),
                "majority": top,
                "held_out": top in unseen,
                "purity": round(purity, 3),
                "terms": g.terms[:5],
            }
        )
        if top in unseen and purity >= PURE:
            recovered[top] = recovered.get(top, 0) + n
    unsure_unseen = Counter(label for label in labels if label in unseen)
    clustered = sum(len(g.members) for g in groups)
    return {
        "clusters": len(groups),
        "held_out_intents_recovered": len(recovered),
        "recovered": sorted(recovered),
        "missed": sorted(unseen - set(recovered)),
        # Of a recovered intent's unsure tickets, the share its pure cluster(s) hold.
        "coverage_of_recovered": {k: round(v / unsure_unseen[k], 3) for k, v in sorted(recovered.items())},
        "guesses_clustered": round(clustered / max(len(labels), 1), 3),
        "purity_weighted_mean": round(sum(c["purity"] * c["size"] for c in clusters) / max(clustered, 1), 3),
        "pure_clusters": sum(c["purity"] >= PURE for c in clusters),
        "clusters_of_held_out_majority": sum(c["held_out"] for c in clusters),
        "cluster_list": sorted(clusters, key=lambda c: (-c["held_out"], -c["size"])),
    }


def scale_cost(texts: list[str], n: int, seed: int) -> dict[str, Any]:
    """Seconds one run takes at the largest window (TRIAGE_INTENTS_MAX_TICKETS): n synthetic 384-dimensional
    embeddings around 100 centres, and Banking77's training texts through the TF-IDF stand-in."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(100, 384))
    vectors = (centres[rng.integers(0, 100, n)] + rng.normal(scale=0.6, size=(n, 384))).astype(np.float32)
    started = time.perf_counter()
    groups, _ = clustering.group([""] * n, {i: ("synthetic", v) for i, v in enumerate(vectors)}, min_cluster_size=10)
    embedding_s = time.perf_counter() - started
    started = time.perf_counter()
    text_groups, _ = clustering.group(texts, {}, min_cluster_size=10)
    tfidf_s = time.perf_counter() - started
    return {
        "embeddings": {"tickets": n, "seconds": round(embedding_s, 1), "clusters": len(groups)},
        "tfidf": {"tickets": len(texts), "seconds": round(tfidf_s, 1), "clusters": len(text_groups)},
    }


def validate(args: argparse.Namespace, train_rows: list[tuple[str, str]]) -> dict[str, Any]:
    """Choose HDBSCAN's settings without the test split: other intents held out (seed + 1), a fifth of each
    intent's training questions sent, the rest trained on; every setting scored on the same guesses."""
    rng = np.random.default_rng(args.seed + 1)
    intents = sorted({label for _, label in train_rows})
    unseen = set(rng.choice(intents, args.held_out, replace=False).tolist())
    sent = set(rng.choice(len(train_rows), len(train_rows) // 5, replace=False).tolist())
    fit = [r for i, r in enumerate(train_rows) if i not in sent and r[1] not in unseen]
    valid = [r for i, r in enumerate(train_rows) if i in sent]
    with tempfile.TemporaryDirectory() as tmp:
        data, models = Path(tmp) / "train.csv", Path(tmp) / "models"
        with data.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "category"])
            writer.writerows(fit)
        train_family(args.family, data, models, args.seed)
        settings = Settings(
            models_dir=models, model_name=args.family, routing_file=ROOT / "data/routing/banking77.yaml"
        )
        runtime = Runtime(settings=settings, db=Database("sqlite:///:memory:"), environ={})
        unsure = guesses(runtime, [t for t, _ in valid])
        texts = [t for (t, _), g in zip(valid, unsure, strict=True) if g]
        labels = [label for (_, label), g in zip(valid, unsure, strict=True) if g]
        model = runtime.models.get()
        spaces = {"tfidf": clustering.text_vectors(texts)}
        if isinstance(model, OnnxClassifier):
            embedded = run_encoder_outputs(model.session, model.tokenizer, model.pad_id, texts, ["embedding"])[0]
            spaces["embedding"] = clustering.reduce(embedded)
    out: dict[str, Any] = {"held_out_intents": sorted(unseen), "sent": len(valid), "guesses": len(texts)}
    for name, vectors in spaces.items():
        for selection in ("eom", "leaf"):
            for min_samples in (3, 5, 10):
                found = clustering.cluster(
                    vectors, min_cluster_size=args.min_cluster_size, min_samples=min_samples, selection=selection
                )
                groups = [clustering.Group(g, [], name) for g in found]
                scored = score(groups, labels, unseen)
                out[f"{name} {selection} min_samples={min_samples}"] = {
                    k: scored[k]
                    for k in ("held_out_intents_recovered", "clusters", "pure_clusters", "purity_weighted_mean")
                } | {"guesses_clustered": scored["guesses_clustered"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=["frozen", "baseline"], default="frozen")
    parser.add_argument("--held-out", type=int, default=10, help="intents kept out of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-cluster-size", type=int, default=Settings().intents_min_cluster_size)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--validate", action="store_true", help="choose settings on the training split only")
    args = parser.parse_args()
    train_rows, test_rows = rows(BANKING77 / "train.csv"), rows(BANKING77 / "test.csv")
    if args.validate:
        chosen = validate(args, train_rows)
        publish(chosen, args.out) if args.out else print(json.dumps(chosen, indent=2))
        return
    intents = sorted({label for _, label in train_rows})
    unseen = set(np.random.default_rng(args.seed).choice(intents, args.held_out, replace=False).tolist())
    with tempfile.TemporaryDirectory() as tmp:
        data, models = Path(tmp) / "train.csv", Path(tmp) / "models"
        with data.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "category"])
            writer.writerows(r for r in train_rows if r[1] not in unseen)
        started = time.perf_counter()
        directory = train_family(args.family, data, models, args.seed)
        train_s = time.perf_counter() - started
        settings = Settings(
            models_dir=models, model_name=args.family, routing_file=ROOT / "data/routing/banking77.yaml"
        )
        runtime = Runtime(settings=settings, db=Database("sqlite:///:memory:"), environ={})
        texts = [t for t, _ in test_rows]
        started = time.perf_counter()
        unsure = guesses(runtime, texts)
        decide_s = time.perf_counter() - started
        picked = [i for i, g in enumerate(unsure) if g]
        picked_texts, picked_labels = [texts[i] for i in picked], [test_rows[i][1] for i in picked]
        model = runtime.models.get()
        spaces: dict[str, dict[int, tuple[str, np.ndarray]]] = {"tfidf": {}}
        if isinstance(model, OnnxClassifier) and "embedding" in {o.name for o in model.session.get_outputs()}:
            # The vector the service stores per decided ticket for this family (ticket_vectors).
            vectors = run_encoder_outputs(model.session, model.tokenizer, model.pad_id, picked_texts, ["embedding"])[0]
            spaces["embedding"] = {i: ("encoder", v) for i, v in enumerate(vectors)}
        results = {}
        for name, embeddings in spaces.items():
            started = time.perf_counter()
            groups, _ = clustering.group(picked_texts, embeddings, min_cluster_size=args.min_cluster_size)
            cluster_s = time.perf_counter() - started
            results[name] = {"cluster_seconds": round(cluster_s, 2), **score(groups, picked_labels, unseen)}
    unseen_total = sum(label in unseen for _, label in test_rows)
    cost = scale_cost([t for t, _ in train_rows], Settings().intents_max_tickets, args.seed)
    result = {
        "family": args.family,
        "model": directory.name,
        "seed": args.seed,
        "held_out_intents": sorted(unseen),
        "trained_intents": len(intents) - len(unseen),
        "min_cluster_size": args.min_cluster_size,
        "test_tickets": len(test_rows),
        "guesses": {
            "total": len(picked),
            "of_held_out_intents": sum(label in unseen for label in picked_labels),
            "held_out_intent_tickets_that_were_guesses": round(
                sum(label in unseen for label in picked_labels) / max(unseen_total, 1), 3
            ),
            "in_scope": sum(label not in unseen for label in picked_labels),
        },
        "train_seconds": round(train_s, 1),
        "decide_seconds": round(decide_s, 1),
        "by_representation": results,
        "cost_of_one_run": cost,
        "machine": machine(),
    }
    if args.out:
        publish(result, args.out)
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
