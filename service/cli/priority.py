"""`--target priority` of `triage train` and `triage eval`: the priority model's command lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from service.core.settings import Settings

target_option = click.option(
    "--target",
    type=click.Choice(["label", "priority"]),
    default="label",
    show_default=True,
    help="label: the model families; priority: the family TRIAGE_PRIORITY_MODEL, from each source's priority "
    "field (or --label-field); with eval, a CSV whose --label-column holds priorities (a run's holdout.csv).",
)
priority_map_option = click.option(
    "--priority-map",
    help="With --target priority: VALUE=PRIORITY,... for values that are not known priority names, "
    "e.g. 0=urgent,1=high,2=normal,3=low.",
)


def train_priority(
    settings: Settings,
    specs: list[str],
    report_dir: Path,
    label_field: str | None,
    text_columns: tuple[str, ...],
    options: dict[str, object],
    promote: bool | None,
) -> int:
    """Run training.priority in a subprocess (the service package never imports training)."""
    name = settings.priority_model
    if name == "none":
        raise click.UsageError("TRIAGE_PRIORITY_MODEL=none: name the family to train (default: priority)")
    argv = [sys.executable, "-m", "training.priority", "train", "--out", str(settings.models_dir), "--name", name]
    argv += ["--report-dir", str(report_dir), "--label-field", label_field or "priority"]
    argv += [a for s in specs for a in ("--source", s)]
    argv += [a for c in text_columns for a in ("--text-column", c)]
    argv += [a for flag, value in options.items() if value is not None for a in (flag, str(value))]
    if promote is not None:
        argv.append("--promote" if promote else "--no-promote")
    return subprocess.call(argv)


def eval_priority(settings: Settings, data: Path, text_column: str, label_column: str, out: Path) -> int:
    """Score the priority model in service; write <out>/priority/eval.{json,html}."""
    argv = [sys.executable, "-m", "training.priority", "eval", "--data", str(data), "--out", str(out / "priority")]
    argv += ["--text-column", text_column, "--label-column", label_column]
    argv += ["--models-dir", str(settings.models_dir), "--name", settings.priority_model]
    return subprocess.call(argv)
