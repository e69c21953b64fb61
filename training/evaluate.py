"""Evaluate a served model on labelled data: metrics as JSON, and an HTML report with plots."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from service.core.ports import Classifier
from service.decide.thresholds import DEFAULT_TARGET, NEVER

COVERAGES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5)


def evaluate(
    model: Classifier,
    texts: Sequence[str],
    truth: Sequence[str],
    *,
    bins: int = 15,
    target: float = DEFAULT_TARGET,
    groups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class P/R/F1, confusion matrix, ECE, accuracy at coverage, and the precision
    the thresholds promised for `target` against what they achieve here."""
    predictions = model.predict(list(texts))
    promised = model.thresholds(target, groups or {})
    labels = list(model.labels)
    y_true = np.array(truth)
    y_pred = np.array([p.label for p in predictions])
    confidence = np.array([p.confidence for p in predictions])
    correct = y_pred == y_true
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    edges = np.linspace(0, 1, bins + 1)
    reliability, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            gap = abs(correct[inside].mean() - confidence[inside].mean())
            ece += inside.mean() * gap
            reliability.append(
                {
                    "low": float(lo),
                    "high": float(hi),
                    "n": int(inside.sum()),
                    "accuracy": float(correct[inside].mean()),
                    "confidence": float(confidence[inside].mean()),
                }
            )
    order = np.argsort(-confidence)
    curve = []
    for coverage in COVERAGES:
        keep = order[: max(1, int(round(coverage * len(order))))]
        curve.append(
            {
                "coverage": coverage,
                "accuracy": float(correct[keep].mean()),
                "min_confidence": float(confidence[keep].min()),
            }
        )
    cuts = [promised.get(p.label, NEVER) if promised is not None else p.threshold for p in predictions]
    thresholded = np.array(
        [t is not None and t < NEVER and p.confidence >= t for p, t in zip(predictions, cuts, strict=True)]
    )
    has_thresholds = any(t is not None for t in cuts)
    return {
        "model": f"{predictions[0].model_name}@{predictions[0].model_version}" if predictions else "",
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "ece": float(ece),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": {"labels": labels, "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist()},
        "reliability": reliability,
        "accuracy_at_coverage": curve,
        "model_thresholds": None
        if not has_thresholds
        else {
            "promised_precision": target if promised is not None else None,
            "auto_routed_share": float(thresholded.mean()),
            "auto_routed_precision": float(correct[thresholded].mean()) if thresholded.any() else None,
        },
        "mean_latency_ms": float(np.mean([p.latency_ms for p in predictions])) if predictions else 0.0,
    }


def threshold_summary(t: Mapping[str, Any]) -> str:
    """One line: what share the per-class thresholds auto-route, and how precisely, against the promise."""
    precision = "n/a" if t["auto_routed_precision"] is None else f"{t['auto_routed_precision']:.2%}"
    promise = "" if t.get("promised_precision") is None else f" (promised {t['promised_precision']:.0%})"
    return f"per-class thresholds: {t['auto_routed_share']:.1%} auto-routed at {precision} precision{promise}"


def write_report(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write <out>/eval.json and <out>/eval.html (plots inline as PNG)."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "eval.json", out / "eval.html"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    plots = {
        "Reliability diagram": _reliability_png(result),
        "Accuracy vs coverage": _coverage_png(result),
        "Confusion matrix": _confusion_png(result),
    }
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>"
        for label, m in sorted(result["per_class"].items(), key=lambda kv: kv[1]["f1"])
    )
    coverage = "".join(
        f"<tr><td>{c['coverage']:.0%}</td><td>{c['accuracy']:.2%}</td><td>{c['min_confidence']:.3f}</td></tr>"
        for c in result["accuracy_at_coverage"]
    )
    thresholds = result.get("model_thresholds")
    thresholds_line = f"<p>{html.escape(threshold_summary(thresholds))}</p>" if thresholds else ""
    # What a report for one kind of model states first (the priority model: its most urgent class).
    thresholds_line += "".join(f"<p><b>{html.escape(note)}</b></p>" for note in result.get("notes", []))
    images = "".join(
        f"<figure><img alt='{html.escape(t)}' src='data:image/png;base64,{b}'><figcaption>"
        f"{html.escape(t)}</figcaption></figure>"
        for t, b in plots.items()
    )
    html_path.write_text(f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>Triage evaluation: {html.escape(result["model"])}</title>
<style>body{{font:15px system-ui,sans-serif;margin:2rem;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}
figure{{display:inline-block;margin:0 1rem 1rem 0}}img{{max-width:520px}}</style>
<h1>Evaluation of {html.escape(result["model"])}</h1>
<p>{result["n"]} held-out tickets. Accuracy <b>{result["accuracy"]:.2%}</b>, macro-F1 {result["macro_f1"]:.3f},
expected calibration error {result["ece"]:.3f}.</p>{thresholds_line}
{images}
<h2>Accuracy at coverage (most confident first)</h2>
<table><tr><th>coverage</th><th>accuracy</th><th>min confidence</th></tr>
{coverage}</table>
<h2>Per class (worst first)</h2>
<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{rows}</table></html>
""")
    return json_path, html_path


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(size: tuple[float, float] = (5, 4)) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)


def _reliability_png(result: dict[str, Any]) -> str:
    fig, ax = _figure()
    bins = result["reliability"]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    ax.bar([b["confidence"] for b in bins], [b["accuracy"] for b in bins], width=0.05, alpha=0.7, label="accuracy")
    ax.set(
        xlabel="confidence", ylabel="accuracy", title=f"Reliability (ECE {result['ece']:.3f})", xlim=(0, 1), ylim=(0, 1)
    )
    ax.legend(loc="upper left")
    return _png(fig)


def _coverage_png(result: dict[str, Any]) -> str:
    fig, ax = _figure()
    curve = result["accuracy_at_coverage"]
    ax.plot([c["coverage"] for c in curve], [c["accuracy"] for c in curve], marker="o")
    ax.set(xlabel="share auto-routed (most confident first)", ylabel="accuracy", title="Accuracy vs coverage")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    return _png(fig)


def _confusion_png(result: dict[str, Any]) -> str:
    matrix = np.array(result["confusion_matrix"]["matrix"], dtype=float)
    rows = matrix.sum(1, keepdims=True)
    fig, ax = _figure((6, 5.5))
    ax.imshow(matrix / np.where(rows == 0, 1, rows), cmap="Blues", vmin=0, vmax=1)
    labels = result["confusion_matrix"]["labels"]
    if len(labels) <= 20:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (row-normalised)")
    return _png(fig)


def main(argv: Sequence[str] | None = None) -> None:
    """`triage eval`: score the model in service on a held-out CSV; write eval.json and eval.html."""
    import argparse
    import csv

    from service.core.modelcard import ModelCardError
    from service.decide.classify import ModelCache

    parser = argparse.ArgumentParser(prog="triage eval", description=main.__doc__)
    parser.add_argument("--data", type=Path, required=True, help="Held-out labelled CSV.")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="category")
    parser.add_argument("--out", type=Path, default=Path("var/reports"))
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--name", required=True, help="Model family; its version in service is scored.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--routing-file", type=Path, help="take the promised precision and the queues from this routing file"
    )
    parser.add_argument(
        "--target-precision", type=float, help=f"the promise (default: the routing file's, or {DEFAULT_TARGET})"
    )
    args = parser.parse_args(argv)
    target, groups = args.target_precision or DEFAULT_TARGET, None
    if args.routing_file is not None:
        from service.decide.route import RoutingError, load_rules

        try:
            rules = load_rules(args.routing_file)
        except RoutingError as exc:
            raise SystemExit(f"Error: {exc}") from None
        target, groups = args.target_precision or rules.target_precision, rules.groups()
    with args.data.open(newline="", encoding="utf-8") as fh:
        rows = [(r[args.text_column], r[args.label_column]) for r in csv.DictReader(fh)]
    try:
        model = ModelCache(args.models_dir, args.name, threads=args.threads).get()
    except ModelCardError as exc:
        raise SystemExit(f"Error: {exc}") from None
    print(f"evaluating {model.name}@{model.version} on {len(rows)} tickets from {args.data} ...")
    result = evaluate(model, [t for t, _ in rows], [label for _, label in rows], target=target, groups=groups)
    json_path, html_path = write_report(result, args.out)
    print(f"accuracy {result['accuracy']:.2%}, macro-F1 {result['macro_f1']:.3f}, ECE {result['ece']:.3f}")
    if result["model_thresholds"]:
        print(threshold_summary(result["model_thresholds"]))
    print(f"wrote {json_path} and {html_path}")


if __name__ == "__main__":
    main()
