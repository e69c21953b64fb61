"""What makes a delivery the same delivery: its key and its body, never a webhook-wide id, and not its replay."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.decide.flow import process_tickets
from service.infra.models import Ticket, WritebackRow
from service.writeback.flow import deliver_writeback
from tests.support.settings import SECRET, TOKEN, make_settings
from tests.support.vendors import jira_env, jira_headers, zendesk_env, zendesk_headers


@pytest.fixture
def app(sqlite_url, models_dir, zendesk_server, jira_server):
    env = {**zendesk_env(zendesk_server.url), **jira_env(jira_server.url)}
    settings = make_settings(sqlite_url, models_dir, integrations="zendesk,jira", reroute_on_update=True)
    application = create_app(settings, environ=env)
    yield application
    application.extensions["triage"].db.dispose()


def zendesk(client, ticket_id: str, event: str = "ticket.created", **headers: str):
    body = json.dumps({"event": event, "ticket": {"id": ticket_id}}).encode()
    sent = zendesk_headers(body)
    del sent["X-Zendesk-Webhook-Invocation-Id"]
    return client.post("/webhooks/zendesk", data=body, headers={**sent, **headers})


def test_without_an_invocation_id_two_zendesk_tickets_are_two_deliveries_though_the_webhook_id_is_the_same(client):
    first, second = zendesk(client, "901"), zendesk(client, "902")
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.get_json()["ticket_id"] != second.get_json()["ticket_id"]


def test_an_idempotency_key_used_again_for_another_body_is_refused_with_422(client):
    auth = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": "key-1"}
    assert client.post("/api/v1/tickets", json={"id": "A-1", "body": "my card"}, headers=auth).status_code == 202
    assert client.post("/api/v1/tickets", json={"id": "A-1", "body": "my card"}, headers=auth).status_code == 200
    other = client.post("/api/v1/tickets", json={"id": "A-2", "body": "a new card"}, headers=auth)
    assert other.status_code == 422 and other.mimetype == "application/problem+json"
    assert "key-1" in other.get_json()["detail"] and "another body" in other.get_json()["detail"]


def test_a_signed_request_replayed_under_a_new_delivery_id_is_a_duplicate(client, runtime):
    body, headers = signed_delivery(SECRET, {"id": "R-1", "body": "my card"}, delivery_id="d-1")
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 202
    replayed = client.post("/webhooks/generic", data=body, headers={**headers, "X-Triage-Delivery": "d-2"})
    assert replayed.status_code == 200 and replayed.get_json()["outcome"] == "duplicate_delivery"


def test_a_replayed_zendesk_update_does_not_route_the_ticket_again(client, runtime):
    ticket_id = zendesk(client, "903").get_json()["ticket_id"]
    body = json.dumps({"event": "ticket.updated", "ticket": {"id": "903"}}).encode()
    headers = zendesk_headers(body, invocation="inv-upd-1")
    assert client.post("/webhooks/zendesk", data=body, headers=headers).get_json()["outcome"] == "rerouted"
    replay = client.post("/webhooks/zendesk", data=body, headers={**headers, "X-Zendesk-Webhook-Invocation-Id": "x"})
    assert replay.status_code == 200 and replay.get_json()["outcome"] == "duplicate_delivery"
    with runtime.db.session() as session:
        assert session.get(Ticket, ticket_id).revision == 2


def test_a_jira_delivery_whose_signed_event_time_is_older_than_the_window_is_refused(client):
    payload = {
        "timestamp": int((time.time() - 2 * 24 * 3600) * 1000),
        "webhookEvent": "jira:issue_created",
        "issue": {"id": "1", "key": "SUP-1", "fields": {"summary": "Card"}},
    }
    body = json.dumps(payload).encode()
    response = client.post("/webhooks/jira", data=body, headers=jira_headers(body))
    assert response.status_code == 401 and "older than 86400 s" in response.get_json()["detail"]
    fresh = json.dumps({**payload, "timestamp": int(time.time() * 1000)}).encode()
    assert client.post("/webhooks/jira", data=fresh, headers=jira_headers(fresh, identifier="j-2")).status_code == 202


def test_an_id_the_target_helpdesk_cannot_hold_is_refused_at_intake(sqlite_url, models_dir, zendesk_server):
    settings = make_settings(sqlite_url, models_dir, integrations="zendesk", helpdesk="zendesk")
    app = create_app(settings, environ=zendesk_env(zendesk_server.url))
    body, headers = signed_delivery(SECRET, {"id": "ORDER-7", "body": "my card"})
    response = app.test_client().post("/webhooks/generic", data=body, headers=headers)
    assert response.status_code == 422 and "Zendesk ticket ids are numbers" in response.get_json()["detail"]
    app.extensions["triage"].db.dispose()


def test_a_write_back_to_a_helpdesk_that_cannot_hold_the_id_fails_for_good_instead_of_being_resent(
    sqlite_url, models_dir, zendesk_server
):
    before = create_app(make_settings(sqlite_url, models_dir), environ={})  # stored while the helpdesk was fake
    body, headers = signed_delivery(SECRET, {"id": "ORDER-8", "body": "my card"})
    ticket_id = before.test_client().post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"]
    before.extensions["triage"].db.dispose()
    settings = make_settings(sqlite_url, models_dir, integrations="zendesk", helpdesk="zendesk")
    after = create_app(settings, environ=zendesk_env(zendesk_server.url))
    rt = after.extensions["triage"]
    with rt.db.session() as session:
        [writeback_id] = process_tickets(rt, session, [ticket_id])
        assert deliver_writeback(rt, session, writeback_id).outcome == "failed"
        wb = session.scalars(select(WritebackRow)).one()
        assert "Zendesk ticket ids are numbers" in wb.last_error
    assert zendesk_server.requests == []
    rt.db.dispose()
