"""Probe: does a nearest-training-tickets vote, mixed into a trained encoder model, help on Banking77?

Loads a published encoder model (fp32 graph), re-derives its training/validation split from the same data and
seed, and mixes a similarity-weighted vote of the k nearest training tickets (in the model's own embedding
space, the scope's stored vectors) into the served probabilities. The vote's weight, k and sharpness are
chosen on validation log-loss; the test split, which training never saw, only reports. Prints JSON.

    .venv/bin/python bench/knn_member.py --model var/models/encoder/<version> [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.decide.classify import OnnxClassifier, load_model, run_encoder_outputs  # noqa: E402
from training.calibration import fit_temperature, softmax  # noqa: E402
from training.data import read_examples, split  # noqa: E402

BANKING77 = ROOT / "data" / "banking77"


def vote(queries: np.ndarray, train: np.ndarray, train_y: np.ndarray, n_labels: int, k: int, tau: float) -> np.ndarray:
    """Each query's label distribution from its k nearest training tickets, weighted by exp(similarity / tau)."""
    out = np.zeros((len(queries), n_labels))
    for start in range(0, len(queries), 1024):
        sims = queries[start : start + 1024] @ train.T
        part = np.argpartition(sims, -k, axis=1)[:, -k:]
        near = np.take_along_axis(sims, part, axis=1)
        w = np.exp((near - near.max(axis=1, keepdims=True)) / tau)
        rows = np.repeat(np.arange(len(part)), k)
        np.add.at(out[start : start + 1024], (rows, train_y[part].ravel()), w.ravel())
    return out / out.sum(axis=1, keepdims=True)


def report(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    conf, pred = p.max(axis=1), p.argmax(axis=1)
    top = conf >= np.quantile(conf, 0.2)
    order = np.argsort(-conf)
    right = (pred == y)[order]
    cum = np.cumsum(right) / np.arange(1, len(right) + 1)
    at99 = float(np.flatnonzero(cum >= 0.99).max() + 1) / len(y) if (cum >= 0.99).any() else 0.0
    return {
        "accuracy": round(float((pred == y).mean()), 4),
        "top80": round(float((pred[top] == y[top]).mean()), 4),
        "coverage_at_99": round(at99, 3),
        "nll": round(float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=BANKING77 / "train.csv")
    parser.add_argument("--test", type=Path, default=BANKING77 / "test.csv")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = load_model(args.model)
    assert isinstance(model, OnnxClassifier) and model.scope is not None
    seed = int(model.card.params.get("seed", 0))
    fit, valid = split(read_examples(args.data)[0], holdout=0.1, seed=seed)
    test = read_examples(args.test)[0]
    index = {label: i for i, label in enumerate(model.labels)}
    fit_y = np.array([index[label] for label in fit.labels])
    assert len(fit_y) == len(model.scope.embeddings), "the scope's vectors are not this split's training tickets"
    session = model.exact[0] if model.exact is not None else model.session
    parts = {}
    for name, data in (("valid", valid), ("test", test)):
        logits, emb = run_encoder_outputs(
            session, model.tokenizer, model.pad_id, data.texts, [model.logits_output, "embedding"]
        )
        member = model._members(data.texts)
        base = model.encoder_weight * softmax(logits) + member  # the served mixture, before its temperature
        parts[name] = (base, emb, np.array([index[label] for label in data.labels]))
    results: dict[str, object] = {"model": str(args.model)}
    served = {}
    for name in ("valid", "test"):
        base, _, y = parts[name]
        served[name] = report(softmax(np.log(np.clip(base, 1e-12, None)) / model.temperature), y)
    results["served"] = served
    trials = []
    for k in (5, 10, 20, 50):
        for tau in (0.02, 0.05, 0.1):
            votes = {n: vote(parts[n][1], model.scope.embeddings, fit_y, len(model.labels), k, tau) for n in parts}
            for lam in (0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0):
                mixed = {n: (1 - lam) * parts[n][0] + lam * votes[n] for n in parts}
                logs = {n: np.log(np.clip(m, 1e-12, None)) for n, m in mixed.items()}
                t = fit_temperature(logs["valid"], parts["valid"][2])
                row = {"k": k, "tau": tau, "weight": lam, "temperature": t}
                for n in parts:
                    row[n] = report(softmax(logs[n] / t), parts[n][2])
                trials.append(row)
    best = min(trials, key=lambda r: r["valid"]["nll"])  # type: ignore[index]
    results["chosen_on_validation"] = best
    results["trials"] = trials
    text = json.dumps(results, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(json.dumps({"served": served, "chosen_on_validation": best}, indent=1))


if __name__ == "__main__":
    main()
