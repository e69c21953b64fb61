"""One training run: read every source, prepare and split once, train both model families, evaluate them side by side.

    python -m training.run --source zendesk:tickets.json --label-field group_id --source feedback:fb.csv \\
        --out var/models --report-dir var/runs

or with a config file (YAML or JSON; flags override it):

    sources:
      - {format: jira, path: export.csv, label: component}
      - {format: csv, path: history.csv, text: [subject, body], label: queue, id: ticket_id, time: opened_at}
    split: time          # time | ticket | auto
    holdout: 0.2
    min_count: 5
    rare: merge          # merge (into other_label) | drop
    families: [baseline, encoder]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from integrations.catalog import label_examples
from service.decide.classify import load_model
from training.evaluate import evaluate, threshold_summary, write_report
from training.prepare import RARE_POLICIES, SPLITS, Split, deduplicate, handle_rare, split_rows, text_key, write_csv
from training.sources import SOURCE_FORMATS, Row, SourceSpec, read_source

FAMILIES = ("baseline", "frozen", "encoder")
DEFAULT_FAMILIES = ("baseline", "encoder")  # frozen: the torch-free middle ground the demo serves
ENCODER_MODES = ("auto", "full", "few-shot")


@dataclass
class RunConfig:
    sources: list[SourceSpec]
    test: Path | None = None  # a held-out CSV (text, category) instead of splitting the sources
    split: str = "auto"
    holdout: float = 0.2
    seed: int = 0
    min_count: int = 5
    rare: str = "merge"
    other_label: str = "other"
    families: tuple[str, ...] = DEFAULT_FAMILIES
    encoder_mode: str = "auto"
    few_shot_below: int = 20  # median training tickets per label under which the encoder runs few-shot
    encoder: dict[str, Any] = field(default_factory=dict)  # EncoderConfig overrides: epochs, base_model, ...
    promote: bool | None = None  # None: only a family with no model in service gets the new one

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("no sources: give --source FORMAT:PATH (or --data) or a config file with sources:")
        for name, value, allowed in (
            ("split", self.split, SPLITS),
            ("rare", self.rare, RARE_POLICIES),
            ("encoder mode", self.encoder_mode, ENCODER_MODES),
        ):
            if value not in allowed:
                raise ValueError(f"{name} {value!r}: use one of {', '.join(allowed)}")
        unknown = set(self.families) - set(FAMILIES)
        if unknown or not self.families:
            raise ValueError(f"model families {sorted(unknown) or '(none)'}: use {', '.join(FAMILIES)}")
        if not 0 < self.holdout < 1:
            raise ValueError(f"holdout {self.holdout}: a fraction between 0 and 1")


def read_config(path: Path) -> dict[str, Any]:
    """The config file as a dict, with `sources` parsed relative to the file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with sources:, split:, ...")
    data["sources"] = [SourceSpec.from_config(entry, path.parent) for entry in data.get("sources") or []]
    if data.get("test"):
        data["test"] = path.parent / data["test"]
    if "families" in data:
        data["families"] = tuple(data["families"])
    return data


def gather(cfg: RunConfig, *, progress: bool = True) -> tuple[list[Row], list[dict[str, Any]]]:
    """Read every source; feedback last, so an agent's verdict replaces an export's label for the same ticket."""
    ordered = sorted(cfg.sources, key=lambda s: s.format == "feedback")
    rows: list[Row] = []
    reports = []
    for spec in tqdm(ordered, desc="reading sources", unit="source", disable=not progress, file=sys.stderr):
        found, report = read_source(spec)
        rows += found
        reports.append(report.as_dict())
    return rows, reports


def prepare(cfg: RunConfig, rows: list[Row]) -> tuple[Split, dict[str, Any]]:
    """Deduplicate, merge or drop rare labels, and split once for every family."""
    prepared = handle_rare(deduplicate(rows), min_count=cfg.min_count, policy=cfg.rare, other_label=cfg.other_label)
    if cfg.test is not None:
        held, report = read_source(SourceSpec("csv", cfg.test, label="category", name="test"))
        held_texts = {text_key(r.text) for r in held}
        train = [r for r in prepared.rows if text_key(r.text) not in held_texts]
        if len(train) < len(prepared.rows):
            prepared.removed["also in the --test file"] += len(prepared.rows) - len(train)
        split = Split(train, held, "given", [f"held-out tickets from {cfg.test}"])
    else:
        split = split_rows(prepared.rows, method=cfg.split, holdout=cfg.holdout, seed=cfg.seed)
    if len({r.label for r in split.train}) < 2:
        raise ValueError(
            f"training needs at least two labels; after preparing there are "
            f"{dict(Counter(r.label for r in split.train))}"
        )
    return split, prepared.as_dict()


def encoder_shots(cfg: RunConfig, train: list[Row]) -> int | None:
    """Few-shot when asked, or (auto) when the median label has fewer than `few_shot_below` tickets."""
    median = int(statistics.median(Counter(r.label for r in train).values()))
    if cfg.encoder_mode == "few-shot" or (cfg.encoder_mode == "auto" and median < cfg.few_shot_below):
        return max(2, median)
    return None


def train_family(
    family: str, cfg: RunConfig, data: Path, *, models_dir: Path, name: str, shots: int | None, progress: bool
) -> Path:
    """Train one family on the prepared training part; the model directory it publishes."""
    if family == "baseline":
        from training.baseline import train

        return train(data=data, out=models_dir, name=name, seed=cfg.seed, make_current=cfg.promote, progress=progress)
    if family == "frozen":
        from training.frozen import train as train_frozen

        return train_frozen(
            data=data, out=models_dir, name=name, seed=cfg.seed, make_current=cfg.promote, progress=progress
        )
    from training.encoder import EncoderConfig
    from training.encoder import train as train_encoder

    overrides = dict(cfg.encoder)
    if "base_model" in overrides:
        overrides["base_model"] = Path(overrides["base_model"])
    return train_encoder(
        data=data,
        out=models_dir,
        name=name,
        config=EncoderConfig(seed=cfg.seed, **overrides),
        shots=shots,
        make_current=cfg.promote,
        progress=progress,
    )


def run(
    cfg: RunConfig, *, models_dir: Path, report_dir: Path, names: dict[str, str] | None = None, progress: bool = True
) -> dict[str, Any]:
    """The whole run; writes train.csv, holdout.csv, <family>/eval.{json,html} and summary.json under a new dir."""
    names = {**{f: f for f in FAMILIES}, **(names or {})}
    out = report_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    rows, source_reports = gather(cfg, progress=progress)
    split, prepared = prepare(cfg, rows)
    summary: dict[str, Any] = {
        "run": out.name,
        "sources": source_reports,
        "prepared": prepared,
        "split": split.as_dict(),
        "config": {k: v for k, v in asdict(cfg).items() if k != "sources"},
        "families": {},
    }
    train_csv, holdout_csv = out / "train.csv", out / "holdout.csv"
    summary["split"]["train_sha256"] = write_csv(split.train, train_csv)
    summary["split"]["holdout_sha256"] = write_csv(split.holdout, holdout_csv)
    texts, truth = [r.text for r in split.holdout], [r.label for r in split.holdout]
    for family in cfg.families:
        shots = encoder_shots(cfg, split.train) if family == "encoder" else None
        print(f"training {family}" + (f" (few-shot, {shots} per label)" if shots else "") + " ...", file=sys.stderr)
        directory = train_family(
            family, cfg, train_csv, models_dir=models_dir, name=names[family], shots=shots, progress=progress
        )
        result = evaluate(load_model(directory), texts, truth)
        json_path, html_path = write_report(result, out / family)
        coverage80 = next(c["accuracy"] for c in result["accuracy_at_coverage"] if c["coverage"] == 0.8)
        summary["families"][family] = {
            "model": result["model"],
            "directory": str(directory),
            "mode": f"few-shot ({shots})" if shots else "full",
            "accuracy": result["accuracy"],
            "macro_f1": result["macro_f1"],
            "ece": result["ece"],
            "accuracy_at_80_coverage": coverage80,
            "auto_routed": result["model_thresholds"],
            "report": str(html_path),
            "eval_json": str(json_path),
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    summary["summary_path"] = str(out / "summary.json")
    return summary


def render(summary: dict[str, Any]) -> str:
    """The run as a few lines a person reads: what was read, skipped, split, and how each family did."""
    lines = ["read:"]
    for s in summary["sources"]:
        skipped = ", ".join(f"{n} {why}" for why, n in s["skipped"].items()) or "nothing"
        lines.append(f"  {s['source']}: {s['read']} labelled tickets; skipped {skipped}")
    p = summary["prepared"]
    removed = ", ".join(f"{n} {why}" for why, n in p["removed"].items()) or "none"
    lines.append(f"prepared: {p['examples']} tickets, {len(p['labels'])} labels; removed {removed}")
    if p["conflicting_duplicates"]:
        lines.append(f"  {p['conflicting_duplicates']} duplicate texts carried different labels (later kept)")
    if p["rare_labels"]:
        verb = "merged into other" if p["rare_policy"] == "merge" else "dropped"
        rare = sorted(p["rare_labels"].items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{label} ({n})" for label, n in rare[:8]) + (f" and {len(rare) - 8} more" * (len(rare) > 8))
        lines.append(f"  {len(rare)} rare labels {verb}: {shown}")
    s = summary["split"]
    lines.append(
        f"split by {s['method']}: {s['train']} to train, {s['holdout']} held out"
        + (f" (opened from {s['holdout_from']})" if s.get("holdout_from") else "")
    )
    lines += [f"  {note}" for note in s["notes"]]
    lines.append(f"{'family':<10} {'model':<48} {'accuracy':>8} {'macro-F1':>8} {'ECE':>6} {'acc@80%':>8}")
    for family, m in summary["families"].items():
        lines.append(
            f"{family:<10} {m['model']:<48} {m['accuracy']:>8.3f} {m['macro_f1']:>8.3f} {m['ece']:>6.3f} "
            f"{m['accuracy_at_80_coverage']:>8.3f}"
        )
        if m["auto_routed"]:
            lines.append(f"{'':<10} {threshold_summary(m['auto_routed'])}")
        lines.append(f"{'':<10} report: {m['report']}")
    lines.append(f"summary: {summary['summary_path']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, help="YAML/JSON file with sources: and the options below")
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="FORMAT:PATH",
        help=f"a labelled source, repeatable; FORMAT one of {', '.join(SOURCE_FORMATS)}",
    )
    parser.add_argument("--label-field", help=f"label column (csv/jsonl) or helpdesk field ({label_examples()})")
    parser.add_argument("--text-column", action="append", help="csv/jsonl text column(s), joined in order")
    parser.add_argument("--id-column", help="csv/jsonl ticket id column")
    parser.add_argument("--time-column", help="csv/jsonl column with the time the ticket was opened")
    parser.add_argument("--test", type=Path, help="held-out CSV (text, category) instead of splitting")
    parser.add_argument("--split", choices=SPLITS)
    parser.add_argument("--holdout", type=float)
    parser.add_argument("--min-count", type=int)
    parser.add_argument("--rare", choices=RARE_POLICIES)
    parser.add_argument("--other-label")
    parser.add_argument(
        "--family", action="append", choices=FAMILIES, help="repeatable (default: baseline and encoder)"
    )
    parser.add_argument("--encoder-mode", choices=ENCODER_MODES)
    parser.add_argument("--encoder-epochs", type=int)
    parser.add_argument("--base-model", type=Path, help="local encoder checkpoint (default: MiniLM)")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--promote", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--out", type=Path, required=True, help="models directory")
    parser.add_argument("--baseline-name", default="baseline")
    parser.add_argument("--encoder-name", default="encoder")
    parser.add_argument("--report-dir", type=Path, default=Path("var/runs"))
    args = parser.parse_args(argv)
    try:
        options = read_config(args.config) if args.config else {}
        fields = {
            "label": args.label_field,
            "text": tuple(args.text_column or ()),
            "id": args.id_column,
            "time": args.time_column,
        }
        options["sources"] = list(options.get("sources", [])) + [SourceSpec.parse(s, **fields) for s in args.source]
        for key, value in (
            ("test", args.test),
            ("split", args.split),
            ("holdout", args.holdout),
            ("min_count", args.min_count),
            ("rare", args.rare),
            ("other_label", args.other_label),
            ("families", tuple(args.family or ())),
            ("encoder_mode", args.encoder_mode),
            ("seed", args.seed),
            ("promote", args.promote),
        ):
            if value not in (None, ()):
                options[key] = value
        encoder = dict(options.get("encoder") or {})
        if args.encoder_epochs:
            encoder["epochs"] = args.encoder_epochs
        if args.base_model:
            encoder["base_model"] = args.base_model
        options["encoder"] = encoder
        cfg = RunConfig(**options)
        summary = run(
            cfg,
            models_dir=args.out,
            report_dir=args.report_dir,
            names={"baseline": args.baseline_name, "encoder": args.encoder_name},
        )
    except (ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
