"""The `triage` command as a user runs it: demo, classify, config, worker, writebacks, db."""

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.support.cli import triage
from tests.support.settings import BANKING77, ROOT, TINY_LABELS, write_subset

pytestmark = pytest.mark.e2e


def demo_env(tmp_path: Path, models: Path, **extra: str) -> dict[str, str]:
    return {"TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db", "TRIAGE_MODELS_DIR": str(models), **extra}


def test_demo_streams_banking77_tickets_through_the_webhook_and_summarises(tmp_path, models_dir):
    out = tmp_path / "summary.json"
    result = triage(
        "demo",
        "--limit",
        "120",
        "--no-serve",
        "--port",
        "0",
        "--json-out",
        str(out),
        env_extra=demo_env(tmp_path, models_dir, TRIAGE_MODEL_NAME="baseline"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["sent"] == summary["accepted"] == summary["processed"] == 120
    assert summary["model"].startswith("baseline@")
    assert "TF-IDF word and character n-grams" in result.stdout  # the demo says which model it serves
    assert sum(summary["queue_counts"].values()) == 120
    assert summary["intake_ms"]["p95"] > 0 and summary["end_to_end_ms"]["p50"] > 0
    # The tiny test model knows 8 of the 77 intents, so only the tickets of those can be right.
    assert 0 < summary["accuracy"] < 1
    for words in ("accuracy", "auto-routed", "intake latency", "end-to-end latency", "per queue"):
        assert words in result.stdout
    assert "random secret" in result.stdout and "API token is in var/demo-api-token" in result.stdout


def test_the_demo_terminal_shows_progress_and_results_and_its_logs_go_to_a_file(tmp_path, models_dir):
    log_file = ROOT / "var" / "log" / "demo.log"
    before = log_file.stat().st_size if log_file.exists() else 0
    env = demo_env(tmp_path, models_dir, TRIAGE_MODEL_NAME="baseline")
    result = triage("demo", "--limit", "40", "--no-serve", "--port", "0", env_extra=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Log lines go to var/log/demo.log" in result.stdout
    terminal = (result.stdout + result.stderr).splitlines()
    # Every delivery, decision and task logs a line: 40 tickets would print well over 100 of them.
    logged = [line for line in terminal if line.startswith("{") or " INFO " in line or " WARNING " in line]
    assert logged == [], logged[:5]
    assert log_file.stat().st_size > before and "ticket" in log_file.read_text(errors="replace")[before:]

    verbose = triage("demo", "--limit", "5", "--no-serve", "--port", "0", "-v", env_extra=env)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert "Log lines go to" not in verbose.stdout and "INFO" in verbose.stdout + verbose.stderr


def test_the_demo_leaves_an_agent_who_can_sign_in_and_tickets_waiting_for_review(tmp_path, models_dir):
    from werkzeug.security import check_password_hash

    env = demo_env(tmp_path, models_dir, TRIAGE_MODEL_NAME="baseline")
    result = triage("demo", "--limit", "60", "--no-serve", "--port", "0", env_extra=env)
    assert result.returncode == 0, result.stderr[-3000:]
    found = re.search(r"(http://127\.0\.0\.1:\d+/review)\s+\(sign in as 'demo' with password (\S+);", result.stdout)
    assert found, result.stdout[-2000:]
    password = found.group(2)
    with sqlite3.connect(tmp_path / "demo.db") as db:
        (stored,) = db.execute("SELECT password_hash FROM users WHERE username = 'demo'").fetchone()
        waiting = db.execute("SELECT count(*) FROM decisions WHERE status = 'needs_review'").fetchone()[0]
        drafted_guesses = db.execute(
            "SELECT count(*) FROM decisions d JOIN drafts r ON r.decision_id = d.id JOIN predictions p "
            "ON p.id = d.prediction_id WHERE d.status = 'needs_review' AND p.confidence < d.threshold"
        ).fetchone()[0]
    assert password not in stored and check_password_hash(stored, password)
    assert waiting > 0  # the first look at the review page has tickets to settle
    assert drafted_guesses == 0  # their replies are drafted from the label the agent settles, not the guess
    assert "a reply is drafted from the label you settled" in result.stdout

    again = triage("demo", "--limit", "5", "--no-serve", "--port", "0", env_extra=env)
    assert again.returncode == 0, again.stderr[-3000:]
    new_password = re.search(r"with password (\S+);", again.stdout).group(1)
    with sqlite3.connect(tmp_path / "demo.db") as db:
        (stored,) = db.execute("SELECT password_hash FROM users WHERE username = 'demo'").fetchone()
    assert new_password != password and check_password_hash(stored, new_password)


def test_demo_trains_the_frozen_embedding_model_when_no_model_exists(tmp_path):
    models = tmp_path / "models"
    data = write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 12)
    result = triage(
        "demo",
        "--limit",
        "20",
        "--no-serve",
        "--port",
        "0",
        "--train-data",
        str(data),
        env_extra=demo_env(tmp_path, models),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training frozen MiniLM sentence embeddings" in result.stdout
    assert (models / "frozen" / "CURRENT").is_file()
    assert "frozen@" in result.stdout and "logistic regression, with TF-IDF" in result.stdout


def test_the_demo_serves_a_fine_tuned_encoder_when_one_was_trained(tmp_path, models_dir):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    # A promoted family named "encoder" is what `make train` leaves; the demo must prefer it to training one.
    shutil.copytree(models / "baseline", models / "encoder")
    for card in (models / "encoder").glob("*/model_card.json"):
        card.write_text(card.read_text().replace('"name": "baseline"', '"name": "encoder"'))
    result = triage("demo", "--limit", "10", "--no-serve", "--port", "0", env_extra=demo_env(tmp_path, models))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "model               encoder@" in result.stdout and "training" not in result.stdout
    assert not (models / "frozen").exists()


def test_classify_prints_the_decision_with_its_reason(models_dir):
    result = triage("classify", "Someone stole my card last night", env_extra={"TRIAGE_MODELS_DIR": str(models_dir)})
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["label"] == "lost_or_stolen_card" and decision["queue"] == "fraud_security"
    assert decision["priority"] == "urgent" and len(decision["top_k"]) == 3


def test_classify_without_a_model_says_to_train_first(tmp_path):
    result = triage("classify", "hello", env_extra={"TRIAGE_MODELS_DIR": str(tmp_path)})
    assert result.returncode != 0 and "triage train" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_setting_is_reported_without_a_traceback():
    result = triage("db", "upgrade", env_extra={"TRIAGE_MAX_BODY_BYTES": "big"})
    assert result.returncode != 0
    assert "TRIAGE_MAX_BODY_BYTES=big is not a valid int" in result.stderr and "Traceback" not in result.stderr


def test_config_lists_every_variable():
    result = triage("config", env_extra={})
    assert result.returncode == 0 and "TRIAGE_DATABASE_URL" in result.stdout


def test_worker_refuses_the_in_process_broker_and_says_what_to_set():
    result = triage("worker", env_extra={})
    assert result.returncode != 0 and "redis://" in result.stderr


def test_db_upgrade_and_writebacks_list_on_a_fresh_database(tmp_path):
    env = {"TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    assert triage("db", "upgrade", env_extra=env).returncode == 0
    listed = triage("writebacks", "list", env_extra=env)
    assert listed.returncode == 0 and "0 write-back(s) failed" in listed.stdout


def test_failed_tickets_are_listed_with_their_reason_and_put_back_in_line(tmp_path):
    from service.core.settings import Settings
    from service.infra.db import Database
    from service.infra.models import Ticket

    env = {"TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    assert triage("db", "upgrade", env_extra=env).returncode == 0
    db = Database(Settings(database_url=env["TRIAGE_DATABASE_URL"]).database_url)
    with db.session() as session:
        for n, source in ((1, "zendesk"), (2, "jira")):
            session.add(
                Ticket(
                    source=source,
                    external_id=str(n),
                    subject="",
                    body="",
                    status="failed",
                    last_error="fetch: HTTP 401: token revoked",
                )
            )
        session.commit()
    listed = triage("tickets", "list", env_extra=env)
    assert (
        "1\tzendesk:1" in listed.stdout and "token revoked" in listed.stdout and "2 ticket(s) failed" in listed.stdout
    )
    assert triage("tickets", "retry", env_extra=env).returncode == 2  # says which to retry
    retried = triage("tickets", "retry", "--source", "zendesk", env_extra=env)
    assert retried.returncode == 0 and "1 failed ticket(s) back in line" in retried.stdout
    with db.session() as session:
        assert {t.source: t.status for t in session.query(Ticket)} == {"zendesk": "received", "jira": "failed"}
    db.dispose()


def test_train_writes_a_model_through_the_cli(tmp_path, models_dir):
    from tests.support.settings import BANKING77, TINY_LABELS, write_subset

    data = write_subset(tmp_path / "train.csv", BANKING77 / "train.csv", TINY_LABELS[:3], 20)
    result = triage(
        "train",
        "--data",
        str(data),
        "--family",
        "baseline",
        "--report-dir",
        str(tmp_path / "runs"),
        env_extra={"TRIAGE_MODELS_DIR": str(tmp_path / "m")},
    )
    assert result.returncode == 0, result.stderr
    assert "split by ticket: 48 to train, 12 held out" in result.stdout
    assert Path(tmp_path / "m" / "baseline" / "CURRENT").is_file()
