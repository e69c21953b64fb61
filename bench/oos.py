"""'None of these' on Banking77: hold out a quarter of the intents from training, send the whole test split.

Trains a family with an embedding scope (frozen, or the fine-tuned encoder with --family encoder) through
its own training path on the other intents, then measures how well the out-of-scope distance and the
confidence tell held-out-intent tickets from in-scope ones (AUROC), and what the service's own thresholds
do: the share of held-out-intent tickets kept from auto-routing, and the share and precision of in-scope
tickets auto-routed. Prints JSON.

    .venv/bin/python bench/oos.py [--family frozen|encoder] [--held-out 0.25] [--seed 0] [--out FILE]
    .venv/bin/python bench/oos.py --family encoder --model var/oos-encoder/encoder/<version>   # a kept model
    .venv/bin/python bench/oos.py --family encoder --probe   # the same protocol inside the training split

With --probe nothing of the test split or of the held-out intents is used: another quarter of the remaining
intents is held out of training, and 20 % of the other intents' training tickets are kept aside as in-scope
tickets. The scope quantile is chosen there: the highest of --scope-quantiles that keeps --keep-share of the
probe's unseen-intent tickets from auto-routing at the strictest promise of --targets.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import publish  # noqa: E402
from service.decide.classify import load_model  # noqa: E402

BANKING77 = ROOT / "data" / "banking77"


def rows(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [(r["text"], r["category"]) for r in csv.DictReader(fh)]


def probe_split(
    train_rows: list[tuple[str, str]], unseen: set[str], held_out: float, rng: np.random.Generator
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], set[str]]:
    """The protocol again inside the training split: the known intents' tickets, a quarter of those intents
    held out, 20 % of the others' tickets set aside (per intent) as the in-scope tickets to send."""
    known = [r for r in train_rows if r[1] not in unseen]
    intents = sorted({label for _, label in known})
    probe_unseen = set(rng.choice(intents, int(round(held_out * len(intents))), replace=False).tolist())
    aside: set[int] = set()
    for intent in sorted(set(intents) - probe_unseen):
        rows = [i for i, (_, label) in enumerate(known) if label == intent]
        aside.update(rng.choice(rows, max(1, round(0.2 * len(rows))), replace=False).tolist())
    sent = [r for i, r in enumerate(known) if i in aside or r[1] in probe_unseen]
    return [r for i, r in enumerate(known) if i not in aside], sent, probe_unseen


def train(family: str, data: Path, out: Path, seed: int, contrastive: float) -> Path:
    if family == "encoder":
        from training.encoder import EncoderConfig
        from training.encoder import train as train_encoder

        config = EncoderConfig(seed=seed, contrastive=contrastive)
        return train_encoder(data=data, out=out, config=config, progress=False)
    from training.frozen import train as train_frozen

    return train_frozen(data=data, out=out, seed=seed, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", choices=["frozen", "encoder"], default="frozen")
    parser.add_argument("--held-out", type=float, default=0.25, help="share of intents kept out of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--contrastive", type=float, default=0.0, help="encoder: weight of the contrastive loss")
    parser.add_argument("--targets", nargs="+", type=float, default=[0.98, 0.99])
    parser.add_argument(
        "--scope-quantiles",
        nargs="+",
        type=float,
        default=[round(q, 4) for q in np.arange(0.85, 0.976, 0.0125)],
        help="also report what the scope limit at these quantiles of the training tickets' own distances would do",
    )
    parser.add_argument(
        "--scope-quantile", type=float, help="the routing file's scope_quantile (default: the model's own)"
    )
    parser.add_argument("--probe", action="store_true", help="run inside the training split (see above)")
    parser.add_argument("--keep-share", type=float, default=0.9, help="--probe: unseen-intent tickets to keep")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", type=Path, help="keep the trained model under this directory, for other scores")
    parser.add_argument("--model", type=Path, help="score this model (kept by --keep, same seed) without training")
    args = parser.parse_args()
    train_rows, test_rows = rows(BANKING77 / "train.csv"), rows(BANKING77 / "test.csv")
    intents = sorted({label for _, label in train_rows})
    rng = np.random.default_rng(args.seed)
    unseen = set(rng.choice(intents, int(round(args.held_out * len(intents))), replace=False).tolist())
    if args.probe:
        train_rows, test_rows, unseen = probe_split(train_rows, unseen, args.held_out, rng)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "train.csv"
        with data.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "category"])
            writer.writerows(r for r in train_rows if r[1] not in unseen)
        models = args.keep or Path(tmp) / "models"
        model = load_model(args.model or train(args.family, data, models, args.seed, args.contrastive))
        train_s = time.perf_counter() - started
        predictions = model.predict([t for t, _ in test_rows], scope_quantile=args.scope_quantile)
    outside = np.array([label in unseen for _, label in test_rows])
    distance = np.array([p.scope_distance for p in predictions], dtype=float)
    confidence = np.array([p.confidence for p in predictions])
    right = np.array([p.label == label for p, (_, label) in zip(predictions, test_rows, strict=True)])
    flagged = np.array([p.out_of_scope for p in predictions])
    result: dict[str, object] = {
        "family": args.family,
        "protocol": "probe inside the training split" if args.probe else "test split",
        "contrastive": args.contrastive,
        "model": f"{model.name}@{model.version}",
        "held_out_intents": len(unseen),
        "trained_intents": len({label for _, label in train_rows} - unseen),
        "test_tickets": {"in_scope": int((~outside).sum()), "held_out_intent": int(outside.sum())},
        "train_seconds": None if args.model else round(train_s, 1),  # a kept model was trained before
        "auroc": {
            "scope_distance": round(float(roc_auc_score(outside, distance)), 4),
            "one_minus_confidence": round(float(roc_auc_score(outside, 1 - confidence)), 4),
        },
        "scope_quantile": args.scope_quantile or getattr(getattr(model, "scope", None), "quantile", None),
        "scope_limit": predictions[0].scope_limit,
        "flagged_out_of_scope": {
            "held_out_intent": round(float(flagged[outside].mean()), 4),
            "in_scope": round(float(flagged[~outside].mean()), 4),
        },
    }

    def shares(cut: np.ndarray, flagged: np.ndarray) -> dict[str, float | None]:
        routed = (confidence >= cut) & (cut < 1.0) & ~flagged
        inside = routed & ~outside
        return {
            "held_out_intent_kept_from_auto_routing": round(float(1 - routed[outside].mean()), 4),
            "in_scope_auto_routed": round(float(routed[~outside].mean()), 4),
            "in_scope_auto_routed_precision": round(float(right[inside].mean()), 4) if inside.any() else None,
            "all_auto_routed_precision": round(float(right[routed].mean()), 4) if routed.any() else None,
        }

    cuts = {}
    for target in args.targets:
        promised = model.thresholds(target, {}) or {}
        cuts[target] = np.array([promised.get(p.label, 1.0) for p in predictions])
        result[f"target_{target}"] = shares(cuts[target], flagged)
    scope = getattr(model, "scope", None)
    if scope is not None:
        # The same answers under other limits: a what-if for the quantile the scope is calibrated at.
        own = scope.own_distances()
        result["scope_quantiles"] = {}
        for q in args.scope_quantiles:
            limit = float(np.quantile(own, q))
            beyond = distance > limit
            result["scope_quantiles"][str(q)] = {  # type: ignore[index]
                "limit": round(limit, 4),
                "flagged_in_scope": round(float(beyond[~outside].mean()), 4),
                **{f"target_{t}": shares(cuts[t], beyond) for t in args.targets},
            }
        if args.probe:
            strictest = f"target_{max(args.targets)}"
            keeping = [
                float(q)
                for q, row in result["scope_quantiles"].items()  # type: ignore[attr-defined]
                if row[strictest]["held_out_intent_kept_from_auto_routing"] >= args.keep_share
            ]
            result["chosen_scope_quantile"] = max(keeping) if keeping else None
    if args.out:
        publish(result, args.out)
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
