"""How the int8 margins' quantile trades fp32 work for routing agreement, on a published encoder with int8
served beside fp32 (training/quantize.py). Margins are measured on 2,000 training tickets, as training does;
agreement with fp32 alone and the share answered again in fp32 are read on the validation and test splits.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/int8_margins.py [--model-dir var/models/encoder/<version>]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine, publish  # noqa: E402
from service.core.modelcard import ModelCard, current_version_dir  # noqa: E402
from service.decide.classify import OnnxClassifier, run_encoder_outputs  # noqa: E402
from service.decide.scope import Scope  # noqa: E402
from service.decide.thresholds import NEVER  # noqa: E402
from training.data import drop_rare, read_examples, split  # noqa: E402
from training.quantize import cascade, measure_margins, routed  # noqa: E402

QUANTILES = (0.95, 0.98, 0.99, 0.995, 0.999, 1.0)


def graph_answers(clf: OnnxClassifier, session: Any, texts: list[str], scope: Scope) -> dict[str, np.ndarray]:
    """Logits, served probabilities and scope distances of one graph, as the service computes them."""
    logits, embeddings = run_encoder_outputs(
        session, clf.tokenizer, clf.pad_id, texts, [clf.logits_output, "embedding"]
    )
    return {"logits": logits, "probs": clf._mix(logits, clf._members(texts)), "distances": scope.distance(embeddings)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--test", type=Path, default=ROOT / "data/banking77/test.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/encoder-int8-margins.json")
    args = parser.parse_args()
    model_dir = args.model_dir or current_version_dir(ROOT / "var/models", "encoder")
    card = ModelCard.read(model_dir)
    clf = OnnxClassifier(model_dir, card)
    if clf.exact is None or clf.scope is None:
        raise SystemExit(f"{model_dir} serves no int8 graph beside fp32: nothing to measure")
    fp32_session, int8_session, scope = clf.exact[0], clf.session, clf.scope
    examples, _ = drop_rare(read_examples(ROOT / str(card.params["data"]))[0], 2)
    fit, valid = split(examples, holdout=0.1, seed=int(card.params["seed"]))
    test, _ = read_examples(args.test)
    # Training tickets, each measured against the others, as training/encoder.py measures them.
    pick = np.sort(np.random.default_rng(int(card.params["seed"])).choice(len(fit.texts), 2000, replace=False))
    others = scope.without(pick)
    sample = [fit.texts[int(i)] for i in pick]
    fit32, fit8 = (graph_answers(clf, s, sample, others) for s in (fp32_session, int8_session))
    cuts = np.array([clf.card_thresholds.get(label, NEVER) for label in clf.labels])
    splits = {
        name: [graph_answers(clf, s, data.texts, scope) for s in (fp32_session, int8_session)]
        for name, data in (("validation", valid), ("test", test))
    }
    rows = {}
    for q in QUANTILES:
        m = measure_margins(
            fit32["logits"], fit8["logits"], fit32["distances"], fit8["distances"], clf.temperature, quantile=q
        )
        row: dict[str, Any] = {"log_odds_margin": m.log_odds, "scope_margin": m.scope}
        for name, (a32, a8) in splits.items():
            probs, distances, exact = cascade(
                a32["probs"], a8["probs"], cuts, m, a32["distances"], a8["distances"], scope.limit
            )
            reference = routed(a32["probs"], cuts, a32["distances"], scope.limit)
            row[name] = {
                "routing_agreement": float((routed(probs, cuts, distances, scope.limit) == reference).mean()),
                "answered_in_fp32": float(exact.mean()),
            }
        rows[str(q)] = row
        print(q, row, file=sys.stderr)
    alone = {
        name: float(
            (
                routed(a8["probs"], cuts, a8["distances"], scope.limit)
                == routed(a32["probs"], cuts, a32["distances"], scope.limit)
            ).mean()
        )
        for name, (a32, a8) in splits.items()
    }
    publish(
        {
            "benchmark": "encoder-int8-margins",
            "command": "python bench/int8_margins.py " + " ".join(sys.argv[1:]),
            "model": f"{card.name}@{card.version}",
            "machine": machine(),
            "margin_tickets": len(sample),
            "int8_alone_routing_agreement": alone,
            "by_quantile": rows,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
