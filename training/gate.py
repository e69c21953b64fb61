"""Champion/challenger gate: promote a candidate only if it beats the model in service on a fixed held-out set.

Both models are loaded with the service's own loader, so the comparison is of what would actually serve.
The candidate passes when its accuracy is at least the champion's plus a margin and no class's recall drops
by more than a bound; otherwise the report names each failed check, the classes and the amounts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from service.core.modelcard import ModelCard, ModelCardError, audit, current_version_dir, file_sha256, promote
from service.core.ports import Classifier
from service.decide.classify import load_model
from training.data import read_csv

EXIT_PASSED, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2


def score(model: Classifier, texts: list[str], labels: list[str]) -> dict[str, Any]:
    """Accuracy and per-class recall of `model` on labelled texts."""
    predicted = [p.label for p in model.predict(texts)]
    support = Counter(labels)
    hits = Counter(t for t, p in zip(labels, predicted, strict=True) if t == p)
    return {
        "name": model.name,
        "version": model.version,
        "accuracy": sum(hits.values()) / len(labels),
        "recall": {label: hits[label] / n for label, n in sorted(support.items())},
    }


def compare(
    champion: dict[str, Any] | None, candidate: dict[str, Any], *, margin: float, max_recall_drop: float
) -> list[dict[str, Any]]:
    """The checks the candidate fails, each with the metric, class (for recall) and amounts; empty = pass."""
    if champion is None:
        return []
    reasons: list[dict[str, Any]] = []
    required = champion["accuracy"] + margin
    # A tiny tolerance so equal models are not refused by float rounding.
    if candidate["accuracy"] < required - 1e-12:
        reasons.append(
            {
                "check": "accuracy",
                "candidate": candidate["accuracy"],
                "champion": champion["accuracy"],
                "margin": margin,
                "required": required,
                "shortfall": required - candidate["accuracy"],
                "message": (
                    f"accuracy {candidate['accuracy']:.2%} is below the champion's "
                    f"{champion['accuracy']:.2%} + margin {margin:.2%} = {required:.2%} "
                    f"(short by {required - candidate['accuracy']:.2%})"
                ),
            }
        )
    for label, before in sorted(champion["recall"].items()):
        after = candidate["recall"].get(label, 0.0)
        drop = before - after
        if drop > max_recall_drop + 1e-12:
            reasons.append(
                {
                    "check": "recall",
                    "label": label,
                    "candidate": after,
                    "champion": before,
                    "drop": drop,
                    "max_drop": max_recall_drop,
                    "message": (
                        f"recall of {label!r} drops from {before:.2%} to {after:.2%} "
                        f"(by {drop:.2%}, more than the allowed {max_recall_drop:.2%})"
                    ),
                }
            )
    return reasons


def gate(
    *,
    candidate: Path,
    holdout: Path,
    models_dir: Path,
    name: str,
    margin: float = 0.0,
    max_recall_drop: float = 0.05,
    make_current: bool = False,
    text_column: str = "text",
    label_column: str = "category",
) -> dict[str, Any]:
    """Evaluate candidate and champion on `holdout`, decide, optionally promote, audit; return the report."""
    examples = read_csv(holdout, text_column=text_column, label_column=label_column)
    challenger = score(load_model(candidate), examples.texts, examples.labels)
    try:
        champion_dir: Path | None = current_version_dir(models_dir, name)
    except ModelCardError:
        champion_dir = None
    champion = score(load_model(champion_dir), examples.texts, examples.labels) if champion_dir else None
    reasons = compare(champion, challenger, margin=margin, max_recall_drop=max_recall_drop)
    if champion is not None:
        challenger["recall_change"] = {
            label: challenger["recall"].get(label, 0.0) - r for label, r in champion["recall"].items()
        }
    report: dict[str, Any] = {
        "decision": "refuse" if reasons else "pass",
        "promoted": False,
        "name": name,
        "candidate": challenger,
        "champion": champion,
        "margin": margin,
        "max_recall_drop": max_recall_drop,
        "holdout": {"path": str(holdout), "sha256": file_sha256(holdout), "n": len(examples.texts)},
        "reasons": reasons,
        "note": None if champion is not None else f"no {name!r} model in service: nothing to compare against",
    }
    same_family = candidate.resolve().parent == (models_dir / name).resolve()
    if make_current and not reasons:
        if not same_family:
            raise ModelCardError(
                f"{candidate} is not a version of {models_dir / name}; train it with "
                f"--out {models_dir} --name {name} to promote it"
            )
        if champion_dir is not None and champion_dir.resolve() == candidate.resolve():
            report["note"] = "the candidate is already in service"
        else:
            promote(models_dir, name, candidate.name, reason=f"passed the gate on {holdout.name}")
            report["promoted"] = True
    summary = "; ".join(r["message"] for r in reasons) or "passed"
    audit(
        models_dir,
        "gate",
        name=name,
        version=challenger["version"],
        decision=report["decision"],
        champion=champion["version"] if champion else None,
        reason=summary,
        candidate_accuracy=challenger["accuracy"],
        champion_accuracy=champion["accuracy"] if champion else None,
        holdout=report["holdout"],
    )
    return report


def render(report: dict[str, Any]) -> str:
    """The report as lines a person reads: verdict first, then each reason."""
    cand, champ = report["candidate"], report["champion"]
    lines = [
        f"candidate {report['name']}@{cand['version']}: accuracy {cand['accuracy']:.2%} "
        f"on {report['holdout']['n']} held-out tickets"
    ]
    if champ:
        lines.append(f"champion  {report['name']}@{champ['version']}: accuracy {champ['accuracy']:.2%}")
    if report["note"]:
        lines.append(report["note"])
    if report["decision"] == "pass":
        verdict = "PASSED" + (" and promoted" if report["promoted"] else "")
        lines.append(f"{verdict} (margin {report['margin']:.2%}, max recall drop {report['max_recall_drop']:.2%})")
    else:
        lines.append(f"REFUSED: {len(report['reasons'])} check(s) failed")
        lines.extend(f"  - {r['message']}" for r in report["reasons"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.gate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--candidate", type=Path, required=True, help="candidate model directory")
    parser.add_argument("--holdout", type=Path, required=True, help="fixed held-out labelled CSV")
    parser.add_argument("--models-dir", type=Path, required=True, help="models directory of the service")
    parser.add_argument("--name", default="baseline", help="model family in service")
    parser.add_argument("--margin", type=float, default=0.0, help="accuracy the candidate must gain (0.01 = 1 pt)")
    parser.add_argument(
        "--max-recall-drop", type=float, default=0.05, help="largest allowed drop of any class's recall"
    )
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--promote", action="store_true", help="promote the candidate if it passes")
    parser.add_argument(
        "--report",
        type=Path,
        help="write the JSON report here (default: <models-dir>/<name>/gate-<candidate version>.json)",
    )
    args = parser.parse_args(argv)
    try:
        ModelCard.read(args.candidate)
        report = gate(
            candidate=args.candidate,
            holdout=args.holdout,
            models_dir=args.models_dir,
            name=args.name,
            margin=args.margin,
            max_recall_drop=args.max_recall_drop,
            make_current=args.promote,
            text_column=args.text_column,
            label_column=args.label_column,
        )
    except (ModelCardError, ValueError, OSError) as exc:
        print(f"gate error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    path = args.report or args.models_dir / args.name / f"gate-{report['candidate']['version']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(render(report))
    print(f"report: {path}")
    return EXIT_PASSED if report["decision"] == "pass" else EXIT_REFUSED


if __name__ == "__main__":
    raise SystemExit(main())
