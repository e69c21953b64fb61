"""A memory of corrections: what a person set, on the review page or in the helpdesk, outlasts later decisions."""

import json

import pytest
from sqlalchemy import select

from service import create_app
from service.core.domain import InboundTicket
from service.decide import flow as decide_flow
from service.infra.models import Correction, Ticket, WritebackRow
from service.intake import flow as intake_flow
from service.retrain.queries import bot_labelled_ids
from service.retrain.schedule import retrain
from service.writeback import flow as writeback_flow
from tests.support.review import csrf_token, decided_ticket, decision_id
from tests.support.settings import BANKING77, TINY_LABELS, make_settings, write_subset
from tests.support.vendors import zendesk_env, zendesk_headers
from training.baseline import train


def deliver_all(rt):
    with rt.db.session() as session:
        ids = session.scalars(select(WritebackRow.id).where(WritebackRow.status == "pending")).all()
    for wb_id in ids:
        with rt.db.session() as session:
            assert writeback_flow.deliver_writeback(rt, session, wb_id).outcome == "done"
    return ids


def corrections(rt, ticket_id):
    with rt.db.session() as session:
        rows = session.scalars(select(Correction).where(Correction.ticket_id == ticket_id).order_by(Correction.id))
        return [(c.origin, c.actor, c.field, c.old_value, c.new_value) for c in rows]


def update_text(rt, ticket_id, body):
    """The ticket's text changes in the helpdesk (the intake's update path, re-routing on): a new revision."""
    with rt.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        inbound = InboundTicket(source=ticket.source, external_id=ticket.external_id, subject=ticket.subject, body=body)
        result = intake_flow.receive_ticket(
            session,
            inbound,
            delivery_id=f"update-{body}",
            body_sha256=intake_flow.body_digest(body.encode()),
            store_new=rt.store_new,
            is_update=True,
            reroute_on_update=True,
        )
    assert result.outcome == "rerouted"


def redecide(rt, ticket_id):
    with rt.db.session() as session:
        assert decide_flow.process_tickets(rt, session, [ticket_id])
    with rt.db.session() as session:
        decision = session.get(Ticket, ticket_id).decision
        return decision.status, decision.label, decision.queue, decision.priority, decision.reason["reason"]


def test_an_agents_correction_is_kept_by_the_next_automatic_decision_and_shown(agent, rt, fake_helpdesk):
    ticket_id = decided_ticket(rt, label="card_arrival", queue="cards", priority="normal")
    agent.post(
        f"/review/tickets/{ticket_id}/review",
        data={
            "csrf_token": csrf_token(agent, "/review"),
            "action": "correct",
            "decision_id": decision_id(rt, ticket_id),
            "label": "lost_or_stolen_card",
            "queue": "fraud_security",
            "priority": "urgent",
        },
    )
    assert corrections(rt, ticket_id) == [
        ("review", "ann", "label", "card_arrival", "lost_or_stolen_card"),
        ("review", "ann", "queue", "cards", "fraud_security"),
        ("review", "ann", "priority", "normal", "urgent"),
    ]
    deliver_all(rt)
    # The customer writes again about something the model files elsewhere: the ticket is decided anew.
    update_text(rt, ticket_id, "Where do I find the exchange rate for euros in the app?")
    status, label, queue, priority, reason = redecide(rt, ticket_id)
    assert (status, label, queue, priority) == ("auto_routed", "lost_or_stolen_card", "fraud_security", "urgent")
    assert reason.startswith(
        "kept as people set it: label lost_or_stolen_card (ann, review page), queue fraud_security (ann, review page)"
    )
    deliver_all(rt)
    last = fake_helpdesk.requests[-1].body
    assert (last["group"], last["label"], last["priority"]) == ("fraud_security", "lost_or_stolen_card", "urgent")
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="corrections"' in page and "queue cards → <strong>fraud_security</strong>" in page
    assert 'id="held"' in page and "priority urgent (ann, review page)" in page


def test_accepting_holds_label_and_queue_but_leaves_priority_to_the_rules(agent, rt):
    ticket_id = decided_ticket(rt, label="card_arrival", queue="cards", priority="normal")
    agent.post(
        f"/review/tickets/{ticket_id}/review",
        data={
            "csrf_token": csrf_token(agent, "/review"),
            "action": "accept",
            "decision_id": decision_id(rt, ticket_id),
        },
    )
    with rt.db.session() as session:
        assert session.get(Ticket, ticket_id).held == {
            "label": "card_arrival",
            "queue": "cards",
            "by": {"label": "ann, review page", "queue": "ann, review page"},
        }
    assert corrections(rt, ticket_id) == []  # a confirmation changes nothing, so it is no correction


@pytest.fixture
def zendesk_app(sqlite_url, models_dir, zendesk_server):
    application = create_app(
        make_settings(sqlite_url, models_dir, integrations="zendesk", reroute_on_update=True),
        environ=zendesk_env(zendesk_server.url),
    )
    yield application
    application.extensions["triage"].db.dispose()


def zendesk_event(event_id, kind, description, group_id=None):
    detail = {"id": "35436", "subject": "Card", "description": description, "requester_id": "1", "tags": []}
    if group_id is not None:
        detail["group_id"] = group_id
    return json.dumps(
        {
            "type": f"zen:event-type:ticket.{kind}",
            "id": event_id,
            "account_id": 1,
            "time": "2026-12-01T05:33:18Z",
            "zendesk_event_version": "2022-11-06",
            "subject": "zen:ticket:35436",
            "detail": detail,
        }
    ).encode()


def post(client, body, invocation):
    return client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body, invocation=invocation))


FRAUD_GROUP = 360000000002  # docs/examples/zendesk-mapping.yaml


def test_a_re_route_in_the_helpdesk_is_noted_from_its_next_webhook_and_kept(zendesk_app, zendesk_server):
    rt = zendesk_app.extensions["triage"]
    client = zendesk_app.test_client()
    zendesk_server.add_ticket(35436, "Card", "My card has still not arrived after two weeks")
    created = zendesk_event("e1", "created", "My card has still not arrived after two weeks")
    ticket_id = post(client, created, "i1").get_json()["ticket_id"]
    with rt.db.session() as session:
        decide_flow.process_tickets(rt, session, [ticket_id])
    # Before our write-back is delivered the helpdesk cannot show our routing: a difference means nothing yet.
    early = zendesk_event("e2", "comment_added", "My card has still not arrived after two weeks", FRAUD_GROUP)
    assert post(client, early, "i2").status_code == 200
    assert corrections(rt, ticket_id) == []
    deliver_all(rt)
    with rt.db.session() as session:
        wrote = session.get(Ticket, ticket_id).decision.queue
    assert wrote != "fraud_security"
    # Showing what we wrote is no change of a person's.
    group = rt.integrations.helpdesk("zendesk").settings.groups[wrote]
    same = zendesk_event("e3", "comment_added", "My card has still not arrived after two weeks", group)
    assert post(client, same, "i3").status_code == 200 and corrections(rt, ticket_id) == []
    # An agent moves it to the fraud group in Zendesk and the customer adds a comment.
    moved = zendesk_event("e4", "comment_added", "Someone else may have taken my card", FRAUD_GROUP)
    assert post(client, moved, "i4").get_json()["outcome"] == "rerouted"
    assert corrections(rt, ticket_id) == [("helpdesk", "zendesk", "queue", wrote, "fraud_security")]
    with rt.db.session() as session:
        assert decide_flow.process_tickets(rt, session, [ticket_id])
        decision = session.get(Ticket, ticket_id).decision
        assert (decision.queue, decision.status) == ("fraud_security", "auto_routed")
    deliver_all(rt)
    assert zendesk_server.tickets[35436]["group_id"] == FRAUD_GROUP
    # The same delivery again records nothing new.
    assert post(client, moved, "i4").status_code == 200
    assert len(corrections(rt, ticket_id)) == 1


def test_retraining_leaves_out_labels_only_our_write_back_set(agent, rt, fake_helpdesk, tmp_path):
    bot = decided_ticket(rt, status="auto_routed", confidence=0.97, external_id="bot-1")
    reviewed = decided_ticket(rt, status="auto_routed", confidence=0.97, external_id="seen-1")
    pending = decided_ticket(rt, status="auto_routed", confidence=0.97, external_id="pending-1")
    with rt.db.session() as session:
        for ticket_id in (bot, reviewed, pending):
            session.add(
                WritebackRow(decision_id=session.get(Ticket, ticket_id).decision.id, target="fake", status="pending")
            )
        session.commit()
    for ticket_id in (bot, reviewed):
        with rt.db.session() as session:
            [wb] = session.get(Ticket, ticket_id).decision.writebacks
            writeback_flow.deliver_writeback(rt, session, wb.id)
    agent.post(
        f"/review/tickets/{reviewed}/review",
        data={"csrf_token": csrf_token(agent, "/review"), "action": "accept", "decision_id": decision_id(rt, reviewed)},
    )
    with rt.db.session() as session:
        assert bot_labelled_ids(session=session) == {"generic:bot-1"}
    # A labelled export that holds the bot's ticket among the team's own.
    data = write_subset(tmp_path / "export.csv", BANKING77 / "train.csv", TINY_LABELS, 10)
    rows = data.read_text().splitlines()
    data.write_text(
        "\n".join(
            [rows[0] + ",source_id", *(f"{r},team:{i}" for i, r in enumerate(rows[1:-1])), rows[-1] + ",generic:bot-1"]
        )
        + "\n"
    )
    models = tmp_path / "models"
    train(data=write_subset(tmp_path / "few.csv", BANKING77 / "train.csv", TINY_LABELS, 3), out=models, progress=False)
    result = retrain(
        models_dir=models,
        name="baseline",
        examples=[],
        data=data,
        holdout=write_subset(tmp_path / "holdout.csv", BANKING77 / "test.csv", TINY_LABELS, 5),
        exclude={"generic:bot-1"},
    )
    assert result["left_out_bot_labels"] == 1 and result["examples"] == len(rows) - 2
