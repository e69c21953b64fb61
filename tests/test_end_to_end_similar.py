"""Similar and duplicate tickets on the production stack: Postgres, Redis, a `celery worker` process, the
`triage similar` command and the fake helpdesk's HTTP server."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service.infra.models import Ticket, TicketVector
from tests.support.cli import triage
from tests.support.processes import app_with_worker, service_env, wait_until
from tests.support.settings import SECRET, make_settings

pytestmark = [pytest.mark.services, pytest.mark.e2e]

TICKETS = [
    ("SIM-1", "ann@example.com", "I ordered a new card two weeks ago and it still has not arrived in the post"),
    ("SIM-2", "carl@example.com", "The cash machine kept my card and did not give me any money"),
    ("SIM-3", "dora@example.com", "What exchange rate do you use when I pay in dollars?"),
    ("SIM-4", "ann@example.com", "My new card that I ordered two weeks ago has still not arrived by post"),
]


@pytest.fixture
def stack(own_postgres_url, redis_url, frozen_models_dir, fake_helpdesk, tmp_path):
    settings = make_settings(
        own_postgres_url,
        frozen_models_dir,
        broker_url=redis_url,
        model_name="frozen",
        similar_dir=tmp_path / "similar",
        writeback_backoff_s=0.2,
    )
    env = service_env(
        settings,
        TRIAGE_FAKE_HELPDESK_URL=fake_helpdesk.url,
        TRIAGE_MODEL_NAME="frozen",
        TRIAGE_SIMILAR_DIR=str(tmp_path / "similar"),
        TRIAGE_DRAFTING_MODEL="none",
    )
    with app_with_worker(settings, env, tmp_path / "worker.log") as (app, worker):
        yield app, worker, env


def send(app, worker, external_id, requester, text):
    body, headers = signed_delivery(SECRET, {"id": external_id, "body": text, "requester": requester})
    response = app.test_client().post("/webhooks/generic", data=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    ticket_id = response.get_json()["ticket_id"]
    rt = app.extensions["triage"]

    def decided():
        with rt.db.session() as session:
            return session.scalar(select(Ticket.status).where(Ticket.id == ticket_id)) == "decided"

    wait_until(decided, timeout=90, message=f"{external_id} decided; worker log:\n{worker.log()[-3000:]}")
    return ticket_id


def test_a_worker_stores_embeddings_finds_similar_tickets_and_writes_back_a_duplicate(stack, fake_helpdesk):
    app, worker, env = stack
    rt = app.extensions["triage"]
    ids = [send(app, worker, *ticket) for ticket in TICKETS]

    with rt.db.session() as session:
        vectors = {v.ticket_id: v for v in session.scalars(select(TicketVector))}
        assert sorted(vectors) == sorted(ids) and {v.model for v in vectors.values()} == {"all-MiniLM-L6-v2"}
        assert np.frombuffer(vectors[ids[0]].vector, dtype=np.float32).shape == (384,)
        reason = session.get(Ticket, ids[3]).decision.reason
    assert [s["ticket_id"] for s in reason["similar"]][0] == ids[0] and len(reason["similar"]) == 3
    assert reason["duplicate_of"]["ticket_id"] == ids[0] and reason["duplicate_of"]["why"] == "same requester"

    def linked():
        return [r for r in fake_helpdesk.successful() if r.path == "/api/tickets/SIM-4/triage"]

    [sent] = wait_until(linked, timeout=60, message="the duplicate's write-back")
    assert sent.body["duplicate_of"] == "SIM-1" and "triage_duplicate" in sent.body["tags"]

    # The index is built from the rows by the command; the worker reads it for the next ticket.
    built = triage("similar", "rebuild", env_extra=env)
    assert built.returncode == 0, built.stderr
    assert "all-MiniLM-L6-v2\t4 indexed of 4 stored" in built.stdout
    status = triage("similar", "status", env_extra=env)
    assert "4 stored\t4 indexed up to" in status.stdout
    fifth = send(app, worker, "SIM-5", "erin@example.com", "Still waiting for the card I ordered two weeks ago")
    with rt.db.session() as session:
        reason = session.get(Ticket, fifth).decision.reason
    assert reason["similar"][0]["ticket_id"] in (ids[0], ids[3]) and len(reason["similar"]) == 4
