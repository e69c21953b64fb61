"""A memory of corrections on real components: webhook -> Redis -> worker -> Postgres -> Zendesk -> review page.

An agent corrects a decision on the review page; a person then moves the ticket to another group in Zendesk,
which Triage learns from the next update webhook. The customer's new comment re-routes the ticket, and the new
decision keeps what the people set: Zendesk's group is never moved back.
"""

import json

import pytest
from sqlalchemy import select

from service import create_app
from service.core.settings import Secret
from service.infra.models import Correction, Ticket
from service.review import users as review_users
from tests.support.processes import WorkerProcess, service_env, wait_until
from tests.support.review import PASSWORD, SECRET_KEY, csrf_token, sign_in
from tests.support.settings import make_settings
from tests.support.vendors import zendesk_env, zendesk_headers

pytestmark = [pytest.mark.services, pytest.mark.e2e]

GROUPS = {"fraud_security": 360000000002, "cards": 360000000003}  # docs/examples/zendesk-mapping.yaml


@pytest.fixture
def stack(own_postgres_url, redis_url, models_dir, zendesk_server, tmp_path):
    settings = make_settings(
        own_postgres_url,
        models_dir,
        broker_url=redis_url,
        integrations="zendesk",
        reroute_on_update=True,
        writeback_backoff_s=0.2,
        secret_key=Secret(SECRET_KEY),
    )
    env = {**zendesk_env(zendesk_server.url), "TRIAGE_INTEGRATIONS": "zendesk"}
    app = create_app(settings, environ=env)
    with app.extensions["triage"].db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    worker = WorkerProcess(service_env(settings, **env), tmp_path / "worker.log")
    try:
        worker.wait_ready(timeout=120)
        yield app, worker
    finally:
        worker.stop()
        app.extensions["triage"].db.dispose()


def deliver(app, kind, body, group_id=None):
    ticket = {"id": 7100, "subject": "Card", "description": body, "requester_id": 1, "tags": []}
    if group_id is not None:
        ticket["group_id"] = group_id
    raw = json.dumps({"event": kind, "ticket": ticket}).encode()
    return app.test_client().post("/webhooks/zendesk", data=raw, headers=zendesk_headers(raw, invocation=body[:20]))


def settled(app, revision):
    """The ticket once its decision for `revision` and every write-back so far are delivered."""

    def check():
        with app.extensions["triage"].db.session() as session:
            ticket = session.scalars(select(Ticket).where(Ticket.external_id == "7100")).first()
            if ticket is None or ticket.decision is None or ticket.decision.revision != revision:
                return None
            if any(wb.status != "done" for d in ticket.decisions for wb in d.writebacks):
                return None
            return ticket.id, ticket.decision.queue, ticket.decision.label, ticket.decision.reason["reason"]

    return check


def test_what_agents_set_on_the_page_and_in_zendesk_outlasts_the_next_decision(stack, zendesk_server):
    app, worker = stack
    rt = app.extensions["triage"]
    zendesk_server.add_ticket(7100, "Card", "My card has still not arrived after two weeks")
    assert deliver(app, "ticket.created", "My card has still not arrived after two weeks").status_code == 202
    ticket_id, *_ = wait_until(settled(app, 1), timeout=90, message=f"first decision\n{worker.log()[-3000:]}")

    agent = app.test_client()
    sign_in(agent, "ann")
    with rt.db.session() as session:
        decision_id = session.get(Ticket, ticket_id).decision.id
    agent.post(
        f"/review/tickets/{ticket_id}/review",
        data={
            "csrf_token": csrf_token(agent, "/review"),
            "action": "correct",
            "decision_id": decision_id,
            "label": "lost_or_stolen_card",
            "queue": "fraud_security",
            "priority": "urgent",
        },
    )
    wait_until(
        lambda: zendesk_server.tickets[7100].get("group_id") == GROUPS["fraud_security"],
        timeout=60,
        message=f"the review's write-back\n{worker.log()[-3000:]}",
    )
    wait_until(settled(app, 1), timeout=60, message="every write-back delivered")

    # A person moves it to the cards group in Zendesk; the customer's next comment carries that group.
    answer = deliver(app, "ticket.updated", "Found it in the post, but it says it is blocked", GROUPS["cards"])
    assert answer.status_code == 202 and answer.get_json()["outcome"] == "rerouted"
    _, queue, label, reason = wait_until(
        settled(app, 2), timeout=90, message=f"the second decision\n{worker.log()[-3000:]}"
    )
    assert (queue, label) == ("cards", "lost_or_stolen_card")
    assert reason.startswith(
        "kept as people set it: label lost_or_stolen_card (ann, review page), queue cards (zendesk, helpdesk)"
    )
    assert zendesk_server.tickets[7100]["group_id"] == GROUPS["cards"]  # the re-route was not undone
    with rt.db.session() as session:
        history = session.scalars(select(Correction).where(Correction.ticket_id == ticket_id).order_by(Correction.id))
        assert [(c.origin, c.field, c.new_value) for c in history][-2:] == [
            ("review", "priority", "urgent"),
            ("helpdesk", "queue", "cards"),
        ]
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert "zendesk" in page and "in the helpdesk" in page and "queue fraud_security → <strong>cards</strong>" in page
