"""Shared fixtures: tiny trained model, apps on SQLite and Postgres, Redis, a real worker, fake helpdesk."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from integrations.fake.server import FakeHelpdeskServer
from service import create_app
from service.config import Secret, Settings
from service.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
BANKING77 = ROOT / "data" / "banking77"
PG_ADMIN_URL = os.environ.get("TRIAGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TRIAGE_TEST_REDIS", "redis://127.0.0.1:6379/11")
SECRET = "test-webhook-secret"
TOKEN = "test-api-token"
# A few labels spread over several queues: enough to route for real, small enough to train in seconds.
TINY_LABELS = ("card_arrival", "lost_or_stolen_card", "exchange_rate", "pending_transfer", "top_up_failed",
               "edit_personal_details", "declined_card_payment", "atm_support")


def write_subset(path: Path, source: Path, labels: tuple[str, ...], per_label: int) -> Path:
    counts = dict.fromkeys(labels, 0)
    with source.open(newline="") as fh, path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "category"])
        for row in csv.DictReader(fh):
            if row["category"] in counts and counts[row["category"]] < per_label:
                counts[row["category"]] += 1
                writer.writerow([row["text"], row["category"]])
    return path


@pytest.fixture(scope="session")
def tiny_test_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_subset(tmp_path_factory.mktemp("data") / "test.csv", BANKING77 / "test.csv", TINY_LABELS, 10)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding one promoted tiny baseline trained on Banking77 examples."""
    from training.baseline import train

    base = tmp_path_factory.mktemp("models")
    data = write_subset(base / "train.csv", BANKING77 / "train.csv", TINY_LABELS, 40)
    train(data=data, out=base, name="baseline", progress=False)
    return base


def make_settings(database_url: str, models_dir: Path, **overrides: object) -> Settings:
    return Settings(database_url=database_url, models_dir=models_dir,
                    routing_file=ROOT / "data" / "routing" / "banking77.yaml",
                    webhook_secret=Secret(SECRET), api_tokens=Secret(TOKEN)).replace(**overrides)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'triage.db'}"
    upgrade(url)
    return url


@pytest.fixture
def app(sqlite_url: str, models_dir: Path):  # type: ignore[no-untyped-def]
    """An app on a fresh SQLite file with the in-memory broker and no worker (tasks wait in the queue)."""
    application = create_app(make_settings(sqlite_url, models_dir), environ={})
    yield application
    application.extensions["triage"].db.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runtime(app):  # type: ignore[no-untyped-def]
    return app.extensions["triage"]


@pytest.fixture
def fake_helpdesk() -> Iterator[FakeHelpdeskServer]:
    server = FakeHelpdeskServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated Postgres database for this test session, dropped afterwards."""
    name = f"triage_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"Postgres is not reachable at {PG_ADMIN_URL} ({exc}); start it (see README) "
                    "or point TRIAGE_TEST_PG at one")
    admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    upgrade(url)
    yield url
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); start it (see README) "
                    "or point TRIAGE_TEST_REDIS at one")
    client.flushdb()
    return REDIS_URL


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a separate worker process needs to share the test's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update({
        "TRIAGE_DATABASE_URL": settings.database_url,
        "TRIAGE_BROKER_URL": settings.broker_url,
        "TRIAGE_MODELS_DIR": str(settings.models_dir),
        "TRIAGE_ROUTING_FILE": str(settings.routing_file),
        "TRIAGE_WEBHOOK_SECRET": settings.webhook_secret.reveal(),
        "TRIAGE_API_TOKENS": settings.api_tokens.reveal(),
        "TRIAGE_WRITEBACK_BACKOFF_S": str(settings.writeback_backoff_s),
        **extra,
    })
    return env


class WorkerProcess:
    """A real `celery worker` subprocess, started and stopped by tests."""

    def __init__(self, env: dict[str, str], log_path: Path, concurrency: int = 2, quiet: bool = False,
                 pool: str = "threads") -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            # quiet: no start-up banner, so the output holds nothing but log lines.
            [sys.executable, "-m", "celery", "-A", "service.worker:celery", *(["-q"] if quiet else []), "worker",
             "-Q", "triage", "-P", pool, "-c", str(concurrency), "--loglevel=INFO", "--without-mingle",
             "--without-gossip", "-n", f"test-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()}")
            if " ready." in self.log():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def wait_until(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


FIXTURES = ROOT / "tests" / "fixtures"
ZENDESK_SECRET, JIRA_SECRET = "zd-webhook-secret", "jira-webhook-secret"
ZENDESK_GROUPS = {q: 360000000000 + i for i, q in enumerate(
    ["general", "fraud_security", "cards", "card_payments", "transfers", "top_ups", "cash_atm", "fx_fees",
     "identity_verification", "account", "complaints"], start=1)}


@pytest.fixture
def zendesk_server():  # type: ignore[no-untyped-def]
    from tests.fakes.vendors import ZendeskServer

    server = ZendeskServer(groups=set(ZENDESK_GROUPS.values())).start()
    yield server
    server.stop()


@pytest.fixture
def jira_server():  # type: ignore[no-untyped-def]
    from tests.fakes.vendors import JiraServer

    server = JiraServer(priorities={"1", "2", "3", "4"}, components={str(10100 + i) for i in range(11)}).start()
    yield server
    server.stop()


def zendesk_env(server_url: str) -> dict[str, str]:
    from tests.fakes.vendors import ZENDESK_EMAIL, ZENDESK_TOKEN

    return {"TRIAGE_ZENDESK_URL": server_url, "TRIAGE_ZENDESK_EMAIL": ZENDESK_EMAIL,
            "TRIAGE_ZENDESK_API_TOKEN": ZENDESK_TOKEN, "TRIAGE_ZENDESK_WEBHOOK_SECRET": ZENDESK_SECRET,
            "TRIAGE_ZENDESK_MAPPING_FILE": str(ROOT / "docs" / "examples" / "zendesk-mapping.yaml")}


def jira_env(server_url: str) -> dict[str, str]:
    from tests.fakes.vendors import JIRA_EMAIL, JIRA_TOKEN

    return {"TRIAGE_JIRA_URL": server_url, "TRIAGE_JIRA_EMAIL": JIRA_EMAIL, "TRIAGE_JIRA_API_TOKEN": JIRA_TOKEN,
            "TRIAGE_JIRA_WEBHOOK_SECRET": JIRA_SECRET,
            "TRIAGE_JIRA_MAPPING_FILE": str(ROOT / "docs" / "examples" / "jira-mapping.yaml")}


def zendesk_headers(body: bytes, secret: str = ZENDESK_SECRET, timestamp: str | None = None,
                    invocation: str = "8350205582") -> dict[str, str]:
    import base64
    import hashlib
    import hmac
    from datetime import UTC, datetime

    ts = timestamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": signature,
            "X-Zendesk-Webhook-Signature-Timestamp": ts, "X-Zendesk-Webhook-Id": "01F1KRFQ6BG29CNWFR60NK5FNY",
            "X-Zendesk-Webhook-Invocation-Id": invocation}


def jira_headers(body: bytes, secret: str = JIRA_SECRET, identifier: str = "jira-delivery-1") -> dict[str, str]:
    import hashlib
    import hmac

    return {"Content-Type": "application/json",
            "X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "X-Atlassian-Webhook-Identifier": identifier}


@contextlib.contextmanager
def app_with_worker(settings: Settings, env: dict[str, str], log_path: Path) -> Iterator[tuple[Any, WorkerProcess]]:
    """An app and a ready `celery worker` process sharing one configuration; both torn down after."""
    app = create_app(settings, environ=env)
    worker = WorkerProcess(env, log_path)
    try:
        worker.wait_ready()
        yield app, worker
    finally:
        worker.stop()
        app.extensions["triage"].db.dispose()
