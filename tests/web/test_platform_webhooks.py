"""POST /webhooks/zendesk and /webhooks/jira through the app: verification, dedupe, updates, fetch, throttle."""

import json

import pytest
from sqlalchemy import func, select

from service import create_app
from service.decide import flow as decide_flow
from service.infra.models import DecisionRow, Ticket, WebhookEvent, WritebackRow
from service.writeback import flow as writeback_flow
from tests.support.settings import make_settings
from tests.support.vendors import jira_env, jira_fixture, jira_headers, zendesk_env, zendesk_headers

JIRA_CREATED = jira_fixture("jira-to-matrix__issue_created")


@pytest.fixture
def app(sqlite_url, models_dir, zendesk_server, jira_server):
    env = {**zendesk_env(zendesk_server.url), **jira_env(jira_server.url)}
    application = create_app(make_settings(sqlite_url, models_dir, integrations="zendesk,jira"), environ=env)
    yield application
    application.extensions["triage"].db.dispose()


def count(runtime, model):
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def post_jira(client, body=JIRA_CREATED, **kw):
    return client.post("/webhooks/jira", data=body, headers=jira_headers(body, **kw))


def test_a_signed_jira_issue_created_is_stored_and_queued(client, runtime):
    response = post_jira(client)
    assert response.status_code == 202
    with runtime.db.session() as session:
        ticket = session.get(Ticket, response.get_json()["ticket_id"])
        assert (ticket.source, ticket.external_id) == ("jira", "BBCOM-1398")


def test_jira_redelivery_with_the_same_identifier_is_a_no_op(client, runtime):
    first = post_jira(client).get_json()
    again = post_jira(client)
    assert again.status_code == 200 and again.get_json()["ticket_id"] == first["ticket_id"]
    assert again.get_json()["outcome"] == "duplicate_delivery" and count(runtime, WebhookEvent) == 1


def test_jira_events_that_are_not_tickets_answer_200_with_a_reason_and_create_nothing(client, runtime):
    for name in ("comment_created", "issuelink_created", "project_created"):
        body = jira_fixture(f"jira-to-matrix__{name}")
        response = post_jira(client, body=body, identifier=name)
        assert response.status_code == 200 and response.get_json()["ignored"] is True
        assert name in response.get_json()["reason"]
    assert count(runtime, Ticket) == 0 and count(runtime, WebhookEvent) == 0


@pytest.mark.parametrize(
    "headers",
    [
        lambda body: jira_headers(body, secret="wrong"),
        lambda body: {"Content-Type": "application/json"},
    ],
)
def test_forged_or_unsigned_jira_webhooks_get_401(client, runtime, headers):
    response = client.post("/webhooks/jira", data=JIRA_CREATED, headers=headers(JIRA_CREATED))
    assert response.status_code == 401 and count(runtime, Ticket) == 0


def test_a_verified_body_that_is_not_a_jira_payload_gets_400(client):
    body = b'{"hello": "world"}'
    response = client.post("/webhooks/jira", data=body, headers=jira_headers(body))
    assert response.status_code == 400 and "webhookEvent" in response.get_json()["detail"]


def test_an_integration_that_is_not_enabled_answers_404(sqlite_url, models_dir):
    app = create_app(make_settings(sqlite_url, models_dir), environ={})
    response = app.test_client().post("/webhooks/zendesk", json={})
    assert response.status_code == 404 and "TRIAGE_INTEGRATIONS" in response.get_json()["detail"]


def zendesk_event(ticket_id="35436", event_id="evt-1", kind="created", description="My card was charged twice"):
    return json.dumps(
        {
            "type": f"zen:event-type:ticket.{kind}",
            "id": event_id,
            "account_id": 1,
            "time": "2026-11-30T05:33:18Z",
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket_id}",
            "detail": {
                "id": ticket_id,
                "subject": "Charged twice",
                "description": description,
                "requester_id": "1",
                "tags": [],
            },
        }
    ).encode()


def test_zendesk_forged_stale_and_unsigned_deliveries_get_401(client, runtime):
    body = zendesk_event()
    for headers in (
        zendesk_headers(body, secret="wrong"),
        zendesk_headers(body, timestamp="2020-01-01T00:00:00Z"),
        {"Content-Type": "application/json"},
    ):
        assert client.post("/webhooks/zendesk", data=body, headers=headers).status_code == 401
    assert count(runtime, Ticket) == 0


def test_an_update_to_a_known_ticket_is_recorded_but_not_rerouted_by_default(client, runtime):
    created = zendesk_event()
    first = client.post("/webhooks/zendesk", data=created, headers=zendesk_headers(created, invocation="i1"))
    assert first.status_code == 202
    flows_process(runtime, first.get_json()["ticket_id"])
    update = zendesk_event(event_id="evt-2", kind="comment_added", description="Still charged twice!!")
    second = client.post("/webhooks/zendesk", data=update, headers=zendesk_headers(update, invocation="i2"))
    assert second.status_code == 200 and second.get_json()["outcome"] == "known_ticket"
    assert count(runtime, DecisionRow) == 1 and count(runtime, WebhookEvent) == 2


def test_with_reroute_on_update_a_changed_ticket_gets_a_new_decision_and_write_back(client, runtime):
    runtime.settings = runtime.settings.replace(reroute_on_update=True)
    created = zendesk_event()
    ticket_id = client.post(
        "/webhooks/zendesk", data=created, headers=zendesk_headers(created, invocation="i1")
    ).get_json()["ticket_id"]
    flows_process(runtime, ticket_id)
    update = zendesk_event(event_id="evt-2", kind="comment_added", description="Actually I lost my card")
    again = client.post("/webhooks/zendesk", data=update, headers=zendesk_headers(update, invocation="i2"))
    assert again.status_code == 202 and again.get_json()["outcome"] == "rerouted"
    assert flows_process(runtime, ticket_id) is not None
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.revision == 2 and [d.revision for d in ticket.decisions] == [1, 2]
        assert ticket.body == "Actually I lost my card"
    assert count(runtime, WritebackRow) == 2


def test_a_trigger_with_only_the_id_is_fetched_from_zendesk_by_the_worker(client, runtime, zendesk_server):
    zendesk_server.add_ticket(4711, "Card lost", "I lost my card, please block it", requester_email="bob@example.com")
    body = b'{"event": "ticket.created", "ticket": {"id": "4711", "updated_at": "2026-11-30T10:00:00Z"}}'
    ticket_id = client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body)).get_json()["ticket_id"]
    writeback_id = flows_process(runtime, ticket_id)
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert (ticket.subject, ticket.requester, ticket.needs_fetch) == ("Card lost", "bob@example.com", False)
        assert ticket.decision.prediction.label == "lost_or_stolen_card"
    with runtime.db.session() as session:
        assert writeback_flow.deliver_writeback(runtime, session, writeback_id).outcome == "done"
    get, put = zendesk_server.requests
    assert (get.method, put.method, put.path) == ("GET", "PUT", "/api/v2/tickets/4711.json")
    assert put.body["ticket"]["group_id"] == 360000000002  # fraud_security


def test_a_ticket_that_cannot_be_fetched_fails_visibly(client, runtime):
    body = b'{"event": "ticket.created", "ticket": {"id": "999"}}'
    ticket_id = client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body)).get_json()["ticket_id"]
    assert flows_process(runtime, ticket_id) is None  # no write-back: it failed alone, without raising
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.status == "failed" and "RecordNotFound" in ticket.last_error


def test_our_own_rate_limit_defers_a_write_back_without_spending_an_attempt(sqlite_url, models_dir, fake_helpdesk):
    from integrations.fake.webhook import signed_delivery
    from tests.support.settings import SECRET

    env = {"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url, "TRIAGE_FAKE_LIMIT_PER_MINUTE": "1"}
    app = create_app(make_settings(sqlite_url, models_dir), environ=env)
    client, rt = app.test_client(), app.extensions["triage"]
    outcomes = []
    for i in range(2):
        body, headers = signed_delivery(SECRET, {"id": f"R-{i}", "body": "where is my card"})
        writeback_id = flows_process(
            rt, client.post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"]
        )
        with rt.db.session() as session:
            outcomes.append(writeback_flow.deliver_writeback(rt, session, writeback_id))
            wb = session.get(WritebackRow, writeback_id)
            attempts, status = wb.attempts, wb.status
    assert [o.outcome for o in outcomes] == ["done", "throttled"]
    assert 50 < outcomes[1].retry_in <= 60 and (attempts, status) == (0, "retrying")
    assert len(fake_helpdesk.requests) == 1


def flows_process(runtime, ticket_id):
    with runtime.db.session() as session:
        ids = decide_flow.process_tickets(runtime, session, [ticket_id])
        return ids[0] if ids else None
