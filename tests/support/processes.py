"""Real processes for end-to-end tests: a `celery worker`, and waiting for what it does."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service import create_app
from service.core.settings import Settings
from tests.support.settings import ROOT


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a separate worker process needs to share the test's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update(
        {
            "TRIAGE_DATABASE_URL": settings.database_url,
            "TRIAGE_BROKER_URL": settings.broker_url,
            "TRIAGE_MODELS_DIR": str(settings.models_dir),
            "TRIAGE_ROUTING_FILE": str(settings.routing_file),
            "TRIAGE_WEBHOOK_SECRET": settings.webhook_secret.reveal(),
            "TRIAGE_API_TOKENS": settings.api_tokens.reveal(),
            "TRIAGE_WRITEBACK_BACKOFF_S": str(settings.writeback_backoff_s),
            "TRIAGE_HELPDESK": settings.helpdesk,
            "TRIAGE_ALLOW_FAKE_HELPDESK": "true" if settings.allow_fake_helpdesk else "false",
            **extra,
        }
    )
    return env


class WorkerProcess:
    """A real `celery worker` subprocess, started and stopped by tests."""

    def __init__(
        self, env: dict[str, str], log_path: Path, concurrency: int = 2, quiet: bool = False, pool: str = "threads"
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            # quiet: no start-up banner, so the output holds nothing but log lines.
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "service.worker.app:celery",
                *(["-q"] if quiet else []),
                "worker",
                "-Q",
                "triage",
                "-P",
                pool,
                "-c",
                str(concurrency),
                "--loglevel=INFO",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"test-{uuid.uuid4().hex[:6]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
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


def wait_until(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


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
