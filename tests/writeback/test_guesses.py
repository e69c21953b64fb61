"""A guess never acts: below threshold the write-back only tags and notes; a person's verdict routes."""

import pytest
import yaml

from service import create_app
from service.infra.models import Ticket
from service.review import verdicts as review_verdicts
from service.writeback import flow as writeback_flow
from tests.support.flows import deliver, process, receive, strict_rules
from tests.support.settings import make_settings


def app_with(sqlite_url, models_dir, fake_helpdesk, rules):
    return create_app(
        make_settings(sqlite_url, models_dir, routing_file=rules, drafting_model="none"),
        environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url},
    )


@pytest.fixture
def unsure(sqlite_url, models_dir, fake_helpdesk, tmp_path):
    """Every ticket below threshold (no tiny model reaches 0.999)."""
    application = app_with(sqlite_url, models_dir, fake_helpdesk, strict_rules(tmp_path))
    yield application
    application.extensions["triage"].db.dispose()


def test_a_guess_is_tagged_and_noted_but_never_moved_relabelled_or_reprioritised(unsure, fake_helpdesk):
    rt, client = unsure.extensions["triage"], unsure.test_client()
    # The guessed label's queue, the label and its queue's default priority stay out of the helpdesk.
    ticket_id = receive(client, ticket_id="G-1", body="Is this a question?")
    assert deliver(rt, process(rt, ticket_id)).outcome == "done"
    [request] = fake_helpdesk.requests
    body = request.body
    assert "group" not in body and "priority" not in body and "label" not in body
    assert body["tags"] == ["triage_needs_review"] and body["status"] == "needs_review"
    assert "top:" in body["internal_note"]  # the top guesses, for the agent who settles it


def test_a_rule_on_the_tickets_own_words_still_raises_priority(unsure, fake_helpdesk):
    rt, client = unsure.extensions["triage"], unsure.test_client()
    ticket_id = receive(client, ticket_id="G-2", body="Something odd happened, I think I was scammed")
    assert deliver(rt, process(rt, ticket_id)).outcome == "done"
    [request] = fake_helpdesk.requests
    assert request.body["priority"] == "urgent" and "group" not in request.body and "label" not in request.body


def test_the_routing_file_may_name_a_review_queue_that_guesses_are_moved_to(
    sqlite_url, models_dir, fake_helpdesk, tmp_path
):
    rules = strict_rules(tmp_path)
    raw = yaml.safe_load(rules.read_text())
    raw["review_queue"] = "general"
    rules.write_text(yaml.safe_dump(raw))
    application = app_with(sqlite_url, models_dir, fake_helpdesk, rules)
    rt = application.extensions["triage"]
    ticket_id = receive(application.test_client(), ticket_id="G-3", body="Is this a question?")
    assert deliver(rt, process(rt, ticket_id)).outcome == "done"
    [request] = fake_helpdesk.requests
    assert request.body["group"] == "general" and "label" not in request.body and "priority" not in request.body
    assert request.body["tags"] == ["triage_general", "triage_needs_review"]
    application.extensions["triage"].db.dispose()


def test_a_review_queue_must_be_a_declared_queue(tmp_path):
    from service.decide.route import RoutingError, load_rules

    rules = strict_rules(tmp_path)
    raw = yaml.safe_load(rules.read_text())
    raw["review_queue"] = "nowhere"
    rules.write_text(yaml.safe_dump(raw))
    with pytest.raises(RoutingError, match="review_queue 'nowhere' is not declared"):
        load_rules(rules)


def test_once_an_agent_settles_it_the_review_write_back_routes_fully(unsure, fake_helpdesk):
    from service.review import users

    rt, client = unsure.extensions["triage"], unsure.test_client()
    ticket_id = receive(client, ticket_id="G-4", body="Is this a question?")
    deliver(rt, process(rt, ticket_id))
    with rt.db.session() as session:
        agent = users.create_user(session, username="ann", password="correct horse battery staple", role="agent")
        decision_id = session.get(Ticket, ticket_id).decision.id
        review_verdicts.review_ticket(
            rt,
            session,
            ticket_id=ticket_id,
            decision_id=decision_id,
            user_id=agent.id,
            label="card_arrival",
            queue="cards",
        )
    with rt.db.session() as session:
        pending = [wb.id for wb in writeback_flow.writebacks_in(session, "pending")]
    assert [deliver(rt, wb).outcome for wb in pending] == ["done"]
    review = fake_helpdesk.requests[-1].body
    assert review["group"] == "cards" and review["label"] == "card_arrival" and "priority" in review
    assert "triage_reviewed" in review["tags"]


def test_an_auto_routed_decision_still_routes(sqlite_url, models_dir, fake_helpdesk):
    from tests.support.settings import ROOT

    application = app_with(sqlite_url, models_dir, fake_helpdesk, ROOT / "data" / "routing" / "banking77.yaml")
    rt = application.extensions["triage"]
    ticket_id = receive(application.test_client(), ticket_id="G-5", body="I lost my card and I think it was stolen")
    deliver(rt, process(rt, ticket_id))
    [request] = fake_helpdesk.requests
    assert request.body["group"] == "fraud_security" and request.body["label"] == "lost_or_stolen_card"
    application.extensions["triage"].db.dispose()
