"""A near-duplicate written back to Jira (a Duplicate issue link) and Zendesk (a tag and an internal note).

Real webhooks from each platform go through the app, a tiny frozen-embedding model decides them, and the
write-backs go over HTTP to local servers that speak the Jira and Zendesk REST APIs.
"""

from __future__ import annotations

import copy
import json

import pytest

from service import create_app
from service.decide import flow as decide_flow
from service.writeback import flow as writeback_flow
from tests.support.settings import make_settings
from tests.support.vendors import (
    FIXTURES,
    fresh_jira,
    jira_env,
    jira_headers,
    zendesk_env,
    zendesk_headers,
)

CARD_LATE = "I ordered a new card two weeks ago and it still has not arrived in the post"
CARD_LATE_AGAIN = "My new card that I ordered two weeks ago has still not arrived by post"
RATE = "What exchange rate do you use when I pay in dollars?"
JIRA_SAMPLE = json.loads((FIXTURES / "webhooks" / "jira" / "jira-to-matrix__issue_created.json").read_text())


@pytest.fixture
def app(tmp_path, sqlite_url, frozen_models_dir, zendesk_server, jira_server):
    env = {**zendesk_env(zendesk_server.url), **jira_env(jira_server.url)}
    settings = make_settings(
        sqlite_url, frozen_models_dir, model_name="frozen", integrations="zendesk,jira", similar_dir=tmp_path / "idx"
    )
    application = create_app(settings, environ=env)
    yield application
    application.extensions["triage"].db.dispose()


def decide_and_deliver(app, path, body, headers):
    runtime = app.extensions["triage"]
    response = app.test_client().post(path, data=body, headers=headers)
    assert response.status_code == 202, response.get_data(as_text=True)
    with runtime.db.session() as session:
        [writeback_id] = decide_flow.process_tickets(runtime, session, [response.get_json()["ticket_id"]])
    with runtime.db.session() as session:
        assert writeback_flow.deliver_writeback(runtime, session, writeback_id).outcome == "done"


def jira_issue(key, summary, reporter="5b912f5c8a96e82b9549361c"):
    payload = copy.deepcopy(JIRA_SAMPLE)
    issue = payload["issue"]
    issue["key"], issue["id"] = key, str(20000 + int(key.rsplit("-", 1)[1]))
    issue["fields"].update(summary=summary, description="", reporter={"accountId": reporter}, creator=None)
    return json.dumps(fresh_jira(payload)).encode()


def send_jira(app, jira_server, key, summary, reporter="5b912f5c8a96e82b9549361c"):
    jira_server.add_issue(key, summary)
    body = jira_issue(key, summary, reporter)
    decide_and_deliver(app, "/webhooks/jira", body, jira_headers(body, identifier=f"delivery-{key}"))


def test_a_jira_near_duplicate_from_the_same_reporter_is_linked_labelled_and_noted(app, jira_server):
    send_jira(app, jira_server, "BBCOM-1", CARD_LATE)
    send_jira(app, jira_server, "BBCOM-2", RATE)
    assert jira_server.links == []
    send_jira(app, jira_server, "BBCOM-3", CARD_LATE_AGAIN)
    # BBCOM-3 "duplicates" BBCOM-1 (the link's outward side), with Jira's own link type.
    assert jira_server.links == [("Duplicate", "BBCOM-3", "BBCOM-1")]
    assert "triage_duplicate" in jira_server.issues["BBCOM-3"]["fields"]["labels"]
    note = jira_server.comments["BBCOM-3"][-1]["body"]
    assert "Possible duplicate of BBCOM-1" in note and "same requester" in note
    assert "triage_duplicate" not in jira_server.issues["BBCOM-2"]["fields"]["labels"]


def test_a_jira_without_the_duplicate_link_type_still_gets_the_routing_and_the_note(app, jira_server):
    jira_server.link_types = {"Relates"}
    send_jira(app, jira_server, "BBCOM-1", CARD_LATE)
    send_jira(app, jira_server, "BBCOM-3", CARD_LATE_AGAIN)
    assert jira_server.links == []
    assert "Possible duplicate of BBCOM-1" in jira_server.comments["BBCOM-3"][-1]["body"]
    [link] = [r for r in jira_server.requests if r.path == "/rest/api/2/issueLink"]
    assert link.status == 404


def zendesk_ticket(ticket_id, subject, email):
    return json.dumps(
        {
            "event": "ticket.created",
            "ticket": {"id": ticket_id, "subject": subject, "description": subject, "requester": {"email": email}},
        }
    ).encode()


def send_zendesk(app, zendesk_server, ticket_id, subject, email):
    zendesk_server.add_ticket(ticket_id, subject, subject, requester_email=email)
    body = zendesk_ticket(ticket_id, subject, email)
    decide_and_deliver(app, "/webhooks/zendesk", body, zendesk_headers(body, invocation=f"inv-{ticket_id}"))


def test_a_zendesk_near_duplicate_is_tagged_and_noted_in_the_same_update(app, zendesk_server):
    send_zendesk(app, zendesk_server, 501, CARD_LATE, "ann@example.com")
    send_zendesk(app, zendesk_server, 502, CARD_LATE_AGAIN, "ann@example.com")
    assert "triage_duplicate" in zendesk_server.tickets[502]["tags"]
    assert "triage_duplicate" not in zendesk_server.tickets[501]["tags"]
    [comment] = zendesk_server.comments[502]
    assert comment["public"] is False and "Possible duplicate of 501" in comment["body"]
