"""The production web server (granian, as docker-compose runs it) in front of the app, over real HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select

from integrations.fake.webhook import signed_delivery
from service.infra.models import Ticket
from tests.support.processes import WorkerProcess, service_env, wait_until
from tests.support.settings import METRICS_TOKEN, OPS_AUTH, ROOT, SECRET, make_settings

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(postgres_url: str, redis_url: str, models_dir: Path, tmp_path: Path) -> Iterator[str]:
    settings = make_settings(postgres_url, models_dir, broker_url=redis_url)
    env = service_env(settings, TRIAGE_MAX_BODY_BYTES="4096", TRIAGE_METRICS_TOKEN=METRICS_TOKEN)
    port = free_port()
    log = (tmp_path / "granian.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "wsgi",
            "--workers",
            "2",
            "--blocking-threads",
            "4",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ws",
            "service.wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url, server), timeout=60, message="granian to answer /healthz")
        worker.wait_ready()
        yield url
    finally:
        worker.stop()
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _answers(url: str, server: subprocess.Popen) -> bool:
    if server.poll() is not None:
        raise AssertionError(f"granian exited with {server.returncode}")
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_tickets_posted_to_the_server_are_acknowledged_and_then_decided_by_a_worker(served, postgres_url):
    http = requests.Session()  # keep-alive, as a helpdesk's sender would
    for i in range(40):
        body, headers = signed_delivery(SECRET, {"id": f"SRV-{i}", "body": "I lost my card, please block it"})
        answer = http.post(f"{served}/webhooks/generic", data=body, headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    # Acknowledged in the web processes; published a batch at a time from their dispatch threads.
    engine = create_engine(postgres_url)
    try:

        def decided() -> bool:
            with engine.connect() as conn:
                return (
                    conn.execute(
                        select(func.count())
                        .select_from(Ticket)
                        .where(Ticket.external_id.like("SRV-%"), Ticket.status == "decided")
                    ).scalar()
                    == 40
                )

        wait_until(decided, timeout=120, message="all 40 tickets decided")
    finally:
        engine.dispose()


def test_the_server_passes_refusals_through_with_their_status_and_problem(served):
    body, headers = signed_delivery(SECRET, {"id": "SRV-big", "body": "x" * 8000})
    too_big = requests.post(f"{served}/webhooks/generic", data=body, headers=headers, timeout=10)
    assert too_big.status_code == 413
    assert too_big.headers["Content-Type"] == "application/problem+json"
    body, headers = signed_delivery(SECRET, {"id": "SRV-type", "body": "hello"})
    wrong_type = requests.post(
        f"{served}/webhooks/generic", data=body, headers={**headers, "Content-Type": "text/plain"}, timeout=10
    )
    assert wrong_type.status_code == 415 and "application/json" in wrong_type.json()["detail"]
    forged = requests.post(
        f"{served}/webhooks/generic",
        data=body,
        headers={**headers, "X-Triage-Signature": "sha256=" + "0" * 64},
        timeout=10,
    )
    assert forged.status_code == 401
    assert requests.get(f"{served}/readyz", headers=OPS_AUTH, timeout=10).status_code == 200
