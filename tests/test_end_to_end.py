"""The whole spine on real components: Postgres, Redis, a `celery worker` process, the fake helpdesk."""

import pytest
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import Secret
from service.infra.models import Ticket, WebhookEvent, WritebackRow
from tests.support.processes import WorkerProcess, app_with_worker, service_env, wait_until
from tests.support.settings import METRICS_TOKEN, OPS_AUTH, SECRET, TOKEN, make_settings

pytestmark = [pytest.mark.services, pytest.mark.e2e]

TICKETS = [
    ("E2E-1", "I lost my card yesterday, I think it was stolen", "lost_or_stolen_card", "fraud_security"),
    ("E2E-2", "What exchange rate will I get for dollars?", "exchange_rate", "fx_fees"),
    ("E2E-3", "My card still has not arrived, it has been two weeks", "card_arrival", "cards"),
    ("E2E-4", "The ATM would not give me cash, where can I withdraw?", "atm_support", "cash_atm"),
    ("E2E-5", "My top up failed again, why?", "top_up_failed", "top_ups"),
]


@pytest.fixture
def stack(own_postgres_url, redis_url, models_dir, fake_helpdesk, tmp_path):
    # Its own database: the counts below are of every row, and the shared one holds other tests' waiting tickets,
    # which a worker tops its batches up with.
    settings = make_settings(
        own_postgres_url, models_dir, broker_url=redis_url, writeback_backoff_s=0.2, metrics_token=Secret(METRICS_TOKEN)
    )
    env = service_env(settings, TRIAGE_FAKE_HELPDESK_URL=fake_helpdesk.url)
    with app_with_worker(settings, env, tmp_path / "worker.log") as running:
        yield running


def test_signed_webhooks_flow_through_redis_and_a_worker_to_postgres_and_the_helpdesk(stack, fake_helpdesk):
    app, worker = stack
    client = app.test_client()
    fake_helpdesk.fail(503)  # the first write-back meets an outage and must be retried, not dropped
    ids = {}
    for external_id, text, _, _ in TICKETS:
        body, headers = signed_delivery(
            SECRET, {"id": external_id, "subject": "", "body": text}, delivery_id=f"delivery-{external_id}"
        )
        response = client.post("/webhooks/generic", data=body, headers=headers)
        assert response.status_code == 202, response.get_json()
        ids[external_id] = response.get_json()["ticket_id"]

    # The helpdesk retries a delivery: acknowledged again, processed once.
    body, headers = signed_delivery(
        SECRET, {"id": "E2E-1", "subject": "", "body": TICKETS[0][1]}, delivery_id="delivery-E2E-1"
    )
    duplicate = client.post("/webhooks/generic", data=body, headers=headers)
    assert duplicate.status_code == 200 and duplicate.get_json()["ticket_id"] == ids["E2E-1"]

    # A forged delivery is refused and leaves no trace.
    body, headers = signed_delivery("not-the-secret", {"id": "E2E-FORGED", "body": "route me to VIP"})
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 401

    rt = app.extensions["triage"]

    def all_written_back():
        with rt.db.session() as session:
            done = session.scalars(select(WritebackRow).where(WritebackRow.status == "done")).all()
            return len(done) == len(TICKETS)

    wait_until(all_written_back, timeout=90, message=f"write-backs; worker log:\n{worker.log()[-3000:]}")

    with rt.db.session() as session:
        assert session.scalars(select(Ticket).where(Ticket.external_id == "E2E-FORGED")).first() is None
        assert len(session.scalars(select(WebhookEvent)).all()) == len(TICKETS)
        for external_id, _, label, queue in TICKETS:
            ticket = session.get(Ticket, ids[external_id])
            assert ticket.status == "decided"
            assert (ticket.decision.prediction.label, ticket.decision.queue) == (label, queue)
            assert len(ticket.decision.writebacks) == 1
        attempts = sorted(wb.attempts for wb in session.scalars(select(WritebackRow)))
        assert attempts == [1, 1, 1, 1, 2]  # exactly one write-back was retried after the 503

    sent = fake_helpdesk.successful()
    assert sorted(r.path.split("/")[3] for r in sent) == sorted(ids)  # one successful update per ticket
    assert len({r.headers["Idempotency-Key"] for r in sent}) == len(TICKETS)

    api = client.get(f"/api/v1/tickets/{ids['E2E-2']}", headers={"Authorization": f"Bearer {TOKEN}"})
    decision = api.get_json()["decision"]
    assert decision["label"] == "exchange_rate" and decision["queue"] == "fx_fees"
    assert len(decision["top_k"]) == 3 and decision["model"]["name"] == "baseline"
    assert decision["threshold"] > 0 and "queue 'fx_fees'" in decision["rule"]
    assert decision["writebacks"][0]["status"] == "done"

    ready = client.get("/readyz", headers=OPS_AUTH).get_json()
    assert ready["checks"] == {"database": "ok", "broker": "ok"}


def test_tickets_acknowledged_while_no_worker_runs_are_processed_when_one_starts(
    postgres_url, redis_url, models_dir, fake_helpdesk, tmp_path
):
    settings = make_settings(postgres_url, models_dir, broker_url=redis_url)
    env = service_env(settings, TRIAGE_FAKE_HELPDESK_URL=fake_helpdesk.url)
    app = create_app(settings, environ=env)
    client = app.test_client()
    ids = []
    for i in range(3):
        body, headers = signed_delivery(SECRET, {"id": f"LATE-{i}", "body": "where is my new card?"})
        ids.append(client.post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"])
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        rt = app.extensions["triage"]

        def decided():
            with rt.db.session() as session:
                return all(session.get(Ticket, i).status == "decided" for i in ids)

        wait_until(decided, timeout=60, message="queued tickets to be processed")
    finally:
        worker.stop()
        app.extensions["triage"].db.dispose()
