"""The priority model on the real stack: webhook, Redis, a `celery worker`, Postgres, the fake helpdesk, the page."""

import shutil

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service.core.settings import Secret
from service.infra.models import Ticket, WritebackRow
from service.review import users as review_users
from service.web.openapi import document
from tests.support.priority import train_priority, write_priority_csv
from tests.support.processes import app_with_worker, service_env, wait_until
from tests.support.review import PASSWORD, SECRET_KEY, sign_in
from tests.support.settings import SECRET, TOKEN, make_settings

pytestmark = [pytest.mark.services, pytest.mark.e2e]

# (id, text, the queue's priority in data/routing/banking77.yaml, what the model says, the final priority)
TICKETS = [
    ("P-1", "What exchange rate will I get for dollars?", "low", "high", "high"),  # the model raises fx_fees
    ("P-2", "My card still has not arrived, it has been two weeks", "normal", "low", "normal"),  # rules stand
]


@pytest.fixture
def models_with_priority(models_dir, tmp_path):
    """The shared tiny label model, and a priority model published beside it (in a copy: others see none)."""
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    train_priority(models, write_priority_csv(tmp_path / "priority.csv", per_label=40))
    return models


@pytest.fixture
def stack(own_postgres_url, redis_url, models_with_priority, fake_helpdesk, tmp_path):
    settings = make_settings(
        own_postgres_url,
        models_with_priority,
        broker_url=redis_url,
        writeback_backoff_s=0.2,
        secret_key=Secret(SECRET_KEY),
    )
    env = service_env(settings, TRIAGE_FAKE_HELPDESK_URL=fake_helpdesk.url)
    with app_with_worker(settings, env, tmp_path / "worker.log") as running:
        yield running


def test_the_workers_priority_model_raises_the_rules_priority_and_it_is_written_back_and_shown(stack, fake_helpdesk):
    app, worker = stack
    client = app.test_client()
    ids = {}
    for external_id, text, *_ in TICKETS:
        body, headers = signed_delivery(SECRET, {"id": external_id, "subject": "", "body": text})
        response = client.post("/webhooks/generic", data=body, headers=headers)
        assert response.status_code == 202, response.get_json()
        ids[external_id] = response.get_json()["ticket_id"]
    rt = app.extensions["triage"]

    def written_back():
        with rt.db.session() as session:
            return len(session.scalars(select(WritebackRow).where(WritebackRow.status == "done")).all()) == 2

    wait_until(written_back, timeout=90, message=f"write-backs; worker log:\n{worker.log()[-3000:]}")

    sent = {r.path.split("/")[3]: r.body for r in fake_helpdesk.successful()}
    with rt.db.session() as session:
        for external_id, _, rules, said, final in TICKETS:
            decision = session.get(Ticket, ids[external_id]).decision
            assert decision.reason["priority_model"]["priority"] == said
            assert decision.reason["priority_from"] == ("model" if said == final != rules else "rules")
            assert decision.priority == final
            # An auto-routed decision writes its priority back; a guess would send none (it moves nothing).
            expected = final if decision.status == "auto_routed" else None
            assert sent[external_id].get("priority") == expected, (decision.status, sent[external_id])
        statuses = {session.get(Ticket, i).decision.status for i in ids.values()}
    assert "auto_routed" in statuses  # else the write-back of a model's priority was never exercised

    view = client.get(f"/api/v1/tickets/{ids['P-1']}", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert view["decision"]["priority_model"]["priority"] == "high" and view["decision"]["priority_from"] == "model"
    errors = Draft202012Validator(document()["components"]["schemas"]["TicketView"]).iter_errors(view)
    assert not [error.message for error in errors]

    with rt.db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    sign_in(client, "ann")
    page = client.get(f"/review/tickets/{ids['P-1']}").get_data(as_text=True)
    assert 'id="priority-model"' in page and "model says <strong>high</strong>" in page
    assert "it set the priority" in page
