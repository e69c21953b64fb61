"""`triage demo` (`python -m training.demo`): train if needed, serve, stream real Banking77 test tickets through
the webhook, report. It lives outside the service package: serving never imports it, tqdm or the trainers."""

from __future__ import annotations

import csv
import json
import logging
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import requests
from sqlalchemy import select
from tqdm import tqdm

from service import create_app
from service.cli.common import settings_from_env
from service.cli.serving import Server, block, start_embedded
from service.core.settings import Secret, Settings
from service.core.signing import signed_delivery
from service.infra import logs
from service.infra.migrate import upgrade
from service.infra.models import DecisionRow, PredictionRow, Ticket
from service.runtime import EXTENSION

DATA = Path("data/banking77")


@dataclass
class Summary:
    sent: int
    accepted: int
    processed: int
    accuracy: float
    auto_routed_share: float
    auto_routed_accuracy: float
    promised_precision: float
    status_counts: dict[str, int]
    queue_counts: dict[str, int]
    intake_ms: dict[str, float]
    end_to_end_ms: dict[str, float]
    model: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def pick_model(settings: Settings, environ: dict[str, str], train_csv: Path = DATA / "train.csv") -> Settings:
    """The model the demo serves: the one named in TRIAGE_MODEL_NAME, else a fine-tuned encoder if one was
    trained (`make train`), else the frozen-embedding ensemble, the best that trains in about two minutes."""
    if "TRIAGE_MODEL_NAME" in environ:
        name = settings.model_name
    elif (settings.models_dir / "encoder" / "CURRENT").is_file():
        name = "encoder"
    else:
        name = "frozen"
    if not (settings.models_dir / name / "CURRENT").is_file():
        trainer = TRAINERS.get(name)
        if trainer is None:
            raise click.ClickException(
                f"no {name!r} model in {settings.models_dir}: train it first (`make train` for the encoder)"
            )
        module, about = trainer
        click.echo(f"No {name!r} model in {settings.models_dir}: training {about} on {train_csv} ...")
        command = [sys.executable, "-m", module, "--data", str(train_csv)]
        subprocess.run([*command, "--out", str(settings.models_dir), "--name", name], check=True)
    return settings.replace(model_name=name)


# Models the demo can train itself, each in about two minutes or less on 2 cores.
TRAINERS = {
    "frozen": ("training.frozen", "frozen MiniLM sentence embeddings + logistic regression, with TF-IDF (~2 min)"),
    "baseline": ("training.baseline", "the TF-IDF + logistic-regression baseline (~40 s)"),
}


def demo_agent(settings: Settings) -> tuple[str, str]:
    """A `demo` agent for the review page with a new random password (shown once, stored only as a hash)."""
    from service.infra.db import Database
    from service.review import users
    from service.review.queries import find_user

    password = secrets.token_urlsafe(12)
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            user = find_user(session=session, username=DEMO_AGENT)
            if user is None:
                users.create_user(session, username=DEMO_AGENT, password=password, role="agent")
            else:
                users.reset_password(session, user_id=user.id, password=password)
    finally:
        db.dispose()
    return DEMO_AGENT, password


DEMO_AGENT = "demo"


def quiet_logs(settings: Settings, verbose: bool) -> Path | None:
    """Log lines go to var/log/demo.log (or, with -v, to the terminal): the terminal keeps progress and results."""
    if verbose:
        logs.configure(settings, service=False)
        return None
    path = Path("var/log/demo.log")
    path.parent.mkdir(parents=True, exist_ok=True)
    logs.configure(settings, service=False, handler=logging.FileHandler(path, encoding="utf-8"))
    return path


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    if len(values) == 1:
        return {"p50": values[0], "p95": values[0], "p99": values[0]}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1)}


def stream_tickets(
    url: str, secret: str, rows: list[tuple[str, str]], run_id: str, concurrency: int = 4
) -> tuple[dict[str, str], list[float]]:
    """POST each row as a signed webhook; return external id -> true label, and answer times in ms."""
    truth: dict[str, str] = {}
    latencies: list[float] = []
    session = requests.Session()
    lock = threading.Lock()

    def send(item: tuple[int, tuple[str, str]]) -> None:
        i, (text, label) = item
        external_id = f"demo-{run_id}-{i}"
        body, headers = signed_delivery(
            secret, {"id": external_id, "subject": "", "body": text, "requester": f"customer{i}@example.com"}
        )
        started = time.perf_counter()
        response = session.post(f"{url}/webhooks/generic", data=body, headers=headers, timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 202:
            raise click.ClickException(f"webhook answered {response.status_code}: {response.text[:200]}")
        with lock:
            truth[external_id] = label
            latencies.append(elapsed)

    with ThreadPoolExecutor(concurrency) as pool, tqdm(total=len(rows), desc="sending", unit="ticket") as bar:
        for _ in pool.map(send, enumerate(rows)):
            bar.update()
    return truth, latencies


def wait_for_decisions(db: Any, run_id: str, expected: int, timeout_s: float = 600) -> None:
    prefix = f"demo-{run_id}-"
    with tqdm(total=expected, desc="processing", unit="ticket") as bar:
        deadline = time.monotonic() + timeout_s
        done = 0
        while done < expected:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"only {done}/{expected} tickets processed after {timeout_s} s; check the worker's log"
                )
            time.sleep(0.5)
            with db.session() as session:
                done = len(
                    session.scalars(
                        select(Ticket.id).where(
                            Ticket.external_id.startswith(prefix), Ticket.status.in_(["decided", "failed"])
                        )
                    ).all()
                )
            bar.update(done - bar.n)


def summarise(
    db: Any, run_id: str, truth: dict[str, str], intake_ms: list[float], seconds: float, promised: float
) -> Summary:
    prefix = f"demo-{run_id}-"
    with db.session() as session:
        rows = session.execute(
            select(
                Ticket.external_id,
                Ticket.received_at,
                DecisionRow.created_at,
                DecisionRow.status,
                DecisionRow.queue,
                PredictionRow.label,
                PredictionRow.model_name,
                PredictionRow.model_version,
            )
            .join(DecisionRow, DecisionRow.ticket_id == Ticket.id)
            .join(PredictionRow, PredictionRow.id == DecisionRow.prediction_id)
            .where(Ticket.external_id.startswith(prefix))
        ).all()
    correct = sum(1 for r in rows if truth.get(r.external_id) == r.label)
    statuses = Counter(r.status for r in rows)
    auto = [r for r in rows if r.status == "auto_routed"]
    auto_correct = sum(1 for r in auto if truth.get(r.external_id) == r.label)
    e2e = [(_utc(r[2]) - _utc(r[1])).total_seconds() * 1000 for r in rows]
    return Summary(
        sent=len(truth),
        accepted=len(intake_ms),
        processed=len(rows),
        accuracy=correct / len(rows) if rows else 0.0,
        auto_routed_share=len(auto) / len(rows) if rows else 0.0,
        auto_routed_accuracy=auto_correct / len(auto) if auto else 0.0,
        promised_precision=promised,
        status_counts=dict(statuses),
        queue_counts=dict(Counter(r.queue for r in rows).most_common()),
        intake_ms=percentiles(intake_ms),
        end_to_end_ms=percentiles(e2e),
        model=f"{rows[0].model_name}@{rows[0].model_version}" if rows else "-",
        seconds=round(seconds, 1),
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def print_summary(s: Summary, *, recipe: str = "") -> None:
    click.echo("")
    click.secho("Triage demo: Banking77 test tickets through the signed webhook", bold=True)
    click.echo(f"  model               {s.model}" + (f" ({recipe})" if recipe else ""))
    click.echo(
        f"  tickets             {s.sent} sent, {s.accepted} accepted (202), {s.processed} processed in {s.seconds} s"
    )
    click.echo(f"  accuracy            {s.accuracy:.1%} (label vs. the held-out Banking77 test label)")
    click.echo(
        f"  auto-routed         {s.auto_routed_share:.1%} of tickets, {s.auto_routed_accuracy:.1%} of them "
        f"correctly (promised {s.promised_precision:.0%}); the rest wait for review ("
        + ", ".join(f"{k} {v}" for k, v in sorted(s.status_counts.items()))
        + ")"
    )
    click.echo(f"  intake latency      p50 {s.intake_ms['p50']} ms, p95 {s.intake_ms['p95']} ms")
    click.echo(
        f"  end-to-end latency  p50 {s.end_to_end_ms['p50']} ms, p95 {s.end_to_end_ms['p95']} ms "
        f"(received -> decided, including the wait behind {s.sent} tickets sent at once)"
    )
    click.echo("  per queue           " + ", ".join(f"{q} {n}" for q, n in s.queue_counts.items()))


def load_rows(limit: int) -> list[tuple[str, str]]:
    """The held-out test tickets, or a seeded sample of `limit` of them (the file is sorted by label)."""
    with (DATA / "test.csv").open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    return random.Random(0).sample(rows, limit) if 0 < limit < len(rows) else rows


@click.command()
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Send a seeded sample of N of the 3,080 held-out test tickets; 0 sends them all.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--serve/--no-serve", default=True, show_default=True, help="Keep serving after the summary.")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the summary here.")
@click.option(
    "--train-data",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=DATA / "train.csv",
    show_default=True,
    help="Labelled CSV (text, category) to train on when no model exists yet.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log to the terminal instead of var/log/demo.log.")
def main(limit: int, host: str, port: int, serve: bool, json_out: Path | None, train_data: Path, verbose: bool) -> None:
    """The main job: set up, train if needed, serve, stream Banking77 tickets, print a summary."""
    settings = settings_from_env()
    log_file = quiet_logs(settings, verbose)
    if log_file:
        click.echo(f"Log lines go to {log_file} (-v shows them here).")
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
    if "TRIAGE_HELPDESK" not in os.environ:
        # The demo has no helpdesk: its write-backs go to the fake, which keeps them in memory (never in production).
        settings = settings.replace(helpdesk="fake", allow_fake_helpdesk=True)
    if "TRIAGE_DRAFTING_MODEL" not in os.environ:
        # Thousands of tickets at once would queue hours of generation behind the demo's two threads.
        settings = settings.replace(drafting_model="none")
        click.echo("Drafts: templates only for the demo (set TRIAGE_DRAFTING_MODEL to use the local model).")
    click.echo(f"database {settings.database_url}; broker {settings.broker_url}")
    upgrade(settings.database_url)
    settings = pick_model(settings, dict(os.environ), train_data)
    agent, password = demo_agent(settings)
    app = create_app(settings)
    worker = start_embedded(app, settings) if settings.embedded else None
    server = Server(app, host, port).start()
    rows = load_rows(limit)
    run_id = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    started = time.perf_counter()
    truth, intake_ms = stream_tickets(server.url, settings.webhook_secret.reveal(), rows, run_id)
    rt = app.extensions[EXTENSION]
    wait_for_decisions(rt.db, run_id, len(rows))
    summary = summarise(rt.db, run_id, truth, intake_ms, time.perf_counter() - started, rt.rules.target_precision)
    print_summary(summary, recipe=model_recipe(settings))
    if json_out:
        json_out.write_text(json.dumps(summary.as_dict(), indent=2))
    click.echo(
        f"\nReview page  {server.url}/review  (sign in as {agent!r} with password {password}; it is shown only "
        "now and kept as a hash)\n             the tickets below their label's promised threshold wait there; "
        "accept or correct one and a reply is drafted from the label you settled."
    )
    if not serve:
        server.stop()
        if worker:
            worker.stop()
        return
    click.echo(
        f"Serving on {server.url}  (API: {server.url}/api/v1/tickets/1 with the token; {server.url}/metrics); "
        "Ctrl-C to stop."
    )
    block(server, worker)


def model_recipe(settings: Settings) -> str:
    """What the served model is, in words, from its card."""
    from service.core.modelcard import ModelCard, current_version_dir

    card = ModelCard.read(current_version_dir(settings.models_dir, settings.model_name))
    return str(card.params.get("recipe") or card.kind)


if __name__ == "__main__":
    main()
