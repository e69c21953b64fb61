"""The `triage` command as a user runs it: demo, classify, config, worker, writebacks, db."""

import json
from pathlib import Path

import pytest

from tests.support.cli import triage

pytestmark = pytest.mark.e2e


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
        env_extra={"TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db", "TRIAGE_MODELS_DIR": str(models_dir)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["sent"] == summary["accepted"] == summary["processed"] == 120
    assert summary["model"].startswith("baseline@")
    assert sum(summary["queue_counts"].values()) == 120
    assert summary["intake_ms"]["p95"] > 0 and summary["end_to_end_ms"]["p50"] > 0
    # The tiny test model knows 8 of the 77 intents, so only the tickets of those can be right.
    assert 0 < summary["accuracy"] < 1
    for words in ("accuracy", "auto-routed", "intake latency", "end-to-end latency", "per queue"):
        assert words in result.stdout
    assert "random secret" in result.stdout and "API token is in var/demo-api-token" in result.stdout


def test_demo_trains_the_baseline_when_no_model_exists(tmp_path):
    models = tmp_path / "models"
    result = triage(
        "demo",
        "--limit",
        "20",
        "--no-serve",
        "--port",
        "0",
        env_extra={"TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db", "TRIAGE_MODELS_DIR": str(models)},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training the baseline" in result.stdout
    assert (models / "baseline" / "CURRENT").is_file()
    assert "accuracy" in result.stdout


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
