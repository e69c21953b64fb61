"""Combining the priority model with the rules: the rules may only raise, a person's priority stays."""

from dataclasses import replace

import numpy as np
import pytest

from service.core.domain import Decision, DecisionStatus, Prediction, Route
from service.decide.held import Held, keep_held
from service.decide.priority import (
    REASON_KEY,
    PriorityAnswer,
    choose,
    combine,
    kept_priority,
    with_priority,
)

SCALE = ("low", "normal", "high", "urgent")


def route(priority):
    return Route("cards", priority, "label 'card_arrival' -> queue 'cards'", 0.5)


def answer(priority, confidence=0.7):
    return PriorityAnswer(priority, confidence, None, "priority@v1")


def decision(priority="normal"):
    prediction = Prediction("card_arrival", 0.9, (("card_arrival", 0.9),), "baseline", "v1")
    return Decision(DecisionStatus.AUTO_ROUTED, route(priority), prediction, "confidence 0.90 >= threshold 0.50")


@pytest.mark.parametrize(
    ("rules", "model", "final", "source"),
    [
        ("normal", "urgent", "urgent", "model"),  # the model raises the queue's priority
        ("low", "high", "high", "model"),
        ("high", "low", "high", "rules"),  # the rules are a floor: never lowered by the model
        ("urgent", "normal", "urgent", "rules"),
        ("normal", "normal", "normal", "rules"),
        ("normal", "blocker", "normal", "rules"),  # a priority the routing file does not know is ignored
        ("normal", None, "normal", "rules"),  # no model published: the rules alone, as before
    ],
)
def test_the_final_priority_is_the_more_urgent_of_the_rules_and_the_model(rules, model, final, source):
    combined, came_from = combine(route(rules), answer(model) if model else None, SCALE)
    assert (combined.priority, came_from) == (final, source)
    assert ("priority model" in combined.rule) == (source == "model")


def test_the_decision_says_what_the_model_answered_and_where_its_priority_came_from():
    decided = with_priority(decision("normal"), answer("urgent", 0.83), SCALE, ms=0.4)
    reason = decided.explanation()
    assert reason["priority"] == "urgent" and reason["priority_from"] == "model"
    assert reason[REASON_KEY] == {"priority": "urgent", "confidence": 0.83, "cutoff": None, "model": "priority@v1"}
    assert "priority model -> 'urgent' (0.83)" in reason["rule"] and decided.timings_ms["priority"] == 0.4
    assert decided.status == DecisionStatus.AUTO_ROUTED  # a priority never changes whether the ticket is routed


def test_a_new_route_after_escalation_gets_the_models_priority_again():
    before = with_priority(decision("normal"), answer("high"), SCALE)
    rerouted = replace(decision("low"), extra={})  # the LLM's label led to another queue, built from the rules
    assert kept_priority(before, rerouted, SCALE).route.priority == "high"
    assert kept_priority(before, before, SCALE) is before
    # Sent to the LLM but not re-routed: the priority and where it came from stand as they were.
    unchanged = kept_priority(before, replace(before, reason="no LLM configured: a person decides", extra={}), SCALE)
    assert unchanged.route == before.route and unchanged.extra["priority_from"] == "model"


def test_a_priority_a_person_set_outlasts_the_model():
    decided = keep_held(
        with_priority(decision("normal"), answer("urgent"), SCALE),
        Held(priority="low", by={"priority": "ann, review page"}),
    )
    assert decided.route.priority == "low"
    assert kept_priority(decided, replace(decision("normal"), extra={}), SCALE).route.priority == "normal"


@pytest.mark.parametrize(
    ("row", "chosen"),
    [
        ([0.1, 0.5, 0.1, 0.3], "urgent"),  # P(urgent) reaches its cutoff though "normal" is more probable
        ([0.1, 0.6, 0.1, 0.2], "normal"),  # below the cutoff: the most probable of the rest
        ([0.1, 0.1, 0.1, 0.7], "urgent"),
        ([0.2, 0.1, 0.5, 0.2], "high"),
    ],
)
def test_the_urgent_cutoff_is_tried_first_then_the_most_probable_priority(row, chosen):
    labels = ["low", "normal", "high", "urgent"]
    assert labels[choose(np.array(row), labels, SCALE, {"urgent": 0.25})] == chosen


@pytest.fixture
def priority_models(models_dir, tmp_path_factory):
    """The shared tiny label model and a priority model beside it, in a copy (other tests see none)."""
    import shutil

    from tests.support.priority import train_priority, write_priority_csv

    base = tmp_path_factory.mktemp("priority-models")
    shutil.copytree(models_dir, base / "models")
    train_priority(base / "models", write_priority_csv(base / "priority.csv", per_label=40))
    return base / "models"


@pytest.mark.parametrize(("strict", "written"), [(False, "high"), (True, None)])
def test_a_decided_ticket_writes_the_models_priority_back_and_a_guess_does_not(
    strict, written, sqlite_url, priority_models, fake_helpdesk, tmp_path
):
    from service import create_app
    from service.infra.models import Ticket
    from tests.support.flows import deliver, process, receive, strict_rules
    from tests.support.settings import make_settings

    routing = {"routing_file": strict_rules(tmp_path)} if strict else {}
    app = create_app(
        make_settings(sqlite_url, priority_models, **routing), environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url}
    )
    rt = app.extensions["triage"]
    try:
        ticket_id = receive(app.test_client(), body="What exchange rate will I get for dollars?")
        assert deliver(rt, process(rt, ticket_id)).outcome == "done"
        with rt.db.session() as session:
            decision = session.get(Ticket, ticket_id).decision
            assert (decision.queue, decision.priority, decision.reason["priority_from"]) == ("fx_fees", "high", "model")
            assert decision.status == ("needs_review" if strict else "auto_routed")
        [request] = fake_helpdesk.successful()
        # A guess moves nothing: the model's priority waits for an agent like the label does.
        assert request.body.get("priority") == written
    finally:
        rt.db.dispose()
