"""Per platform, on real components: signed webhook -> Redis -> worker process -> Postgres -> vendor API."""

import json

import pytest
from sqlalchemy import select

from service.infra.models import Ticket
from tests.support.processes import app_with_worker, service_env, wait_until
from tests.support.settings import FIXTURES, make_settings
from tests.support.vendors import fresh_jira, jira_env, jira_headers, zendesk_env, zendesk_headers

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture
def platform_stack(postgres_url, redis_url, models_dir, zendesk_server, jira_server, tmp_path):
    env_extra = {**zendesk_env(zendesk_server.url), **jira_env(jira_server.url), "TRIAGE_INTEGRATIONS": "zendesk,jira"}
    settings = make_settings(
        postgres_url, models_dir, broker_url=redis_url, integrations="zendesk,jira", writeback_backoff_s=0.2
    )
    with app_with_worker(settings, service_env(settings, **env_extra), tmp_path / "worker.log") as running:
        yield running


def written_back(app, source, external_id):
    def check():
        with app.extensions["triage"].db.session() as session:
            ticket = session.scalars(
                select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)
            ).first()
            return ticket is not None and ticket.decision is not None and ticket.decision.writebacks[0].status == "done"

    return check


def test_zendesk_trigger_to_fetch_to_update_with_a_rate_limited_first_try(platform_stack, zendesk_server):
    app, worker = platform_stack
    zendesk_server.add_ticket(5150, "My card was stolen", "Someone stole my card at the station, block it please")
    zendesk_server.fail(429, headers={"Retry-After": "1"})  # the first API call meets Zendesk's rate limit
    body = b'{"event": "ticket.created", "ticket": {"id": "5150", "updated_at": "2026-11-30T10:00:00Z"}}'
    response = app.test_client().post("/webhooks/zendesk", data=body, headers=zendesk_headers(body))
    assert response.status_code == 202
    wait_until(written_back(app, "zendesk", "5150"), timeout=90, message=f"zendesk write-back\n{worker.log()[-3000:]}")
    statuses = [(r.method, r.status) for r in zendesk_server.requests]
    assert statuses == [("GET", 429), ("GET", 200), ("PUT", 200)]  # retried after Retry-After, then updated once
    put = zendesk_server.requests[-1].body["ticket"]
    assert put["group_id"] == 360000000002 and put["priority"] == "urgent"
    assert put["comment"]["public"] is False and "lost_or_stolen_card" in put["comment"]["body"]


def test_jira_issue_created_to_edit_and_internal_comment(platform_stack, jira_server):
    app, worker = platform_stack
    payload = json.loads((FIXTURES / "webhooks" / "jira" / "jenkins-jira-trigger__issue_created.json").read_text())
    payload = fresh_jira(payload)
    payload["issue"]["key"] = "SUP-77"
    payload["issue"]["fields"]["summary"] = "What exchange rate do you use for dollars?"
    jira_server.add_issue("SUP-77", payload["issue"]["fields"]["summary"])
    body = json.dumps(payload).encode()
    client = app.test_client()
    assert client.post("/webhooks/jira", data=body, headers=jira_headers(body, identifier="e2e-1")).status_code == 202
    # Jira retries the delivery: acknowledged, not processed again.
    assert client.post("/webhooks/jira", data=body, headers=jira_headers(body, identifier="e2e-1")).status_code == 200
    wait_until(written_back(app, "jira", "SUP-77"), timeout=90, message=f"jira write-back\n{worker.log()[-3000:]}")
    edit, comment = jira_server.requests
    assert edit.body["fields"]["components"] == [{"id": "10107"}]  # fx_fees
    assert comment.path == "/rest/servicedeskapi/request/SUP-77/comment" and comment.body["public"] is False
    with app.extensions["triage"].db.session() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.external_id == "SUP-77")).one()
        assert len(ticket.decisions) == 1 and len(ticket.decision.writebacks) == 1
