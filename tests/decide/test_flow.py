"""Deciding tickets on SQLite: claim, classify in batches, route, record; races between workers."""

import pytest
from sqlalchemy import func, select

from service.decide import flow as decide_flow
from service.infra.models import DecisionRow, PredictionRow, Ticket, WritebackRow
from tests.support.flows import process, receive


@pytest.fixture
def app(helpdesk_app):
    """The app of these tests delivers write-backs to the fake helpdesk over HTTP."""
    return helpdesk_app


def test_processing_stores_prediction_decision_and_one_pending_writeback(client, runtime):
    ticket_id = receive(client, metadata={"tier": "vip"})
    writeback_id = process(runtime, ticket_id)
    assert writeback_id is not None
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        decision = ticket.decision
        assert ticket.status == "decided" and ticket.processed_at is not None
        assert decision.prediction.label == "lost_or_stolen_card"
        assert decision.queue == "fraud_security" and decision.priority == "urgent"
        assert decision.reason["top_k"][0]["label"] == "lost_or_stolen_card"
        assert decision.reason["model"].startswith("baseline@")
        assert [wb.status for wb in decision.writebacks] == ["pending"]


def test_processing_twice_decides_once(client, runtime):
    ticket_id = receive(client)
    assert process(runtime, ticket_id) is not None
    assert process(runtime, ticket_id) is None
    with runtime.db.session() as session:
        for model in (PredictionRow, DecisionRow, WritebackRow):
            assert session.scalar(select(func.count()).select_from(model)) == 1


def test_a_failing_model_leaves_the_ticket_for_retry_with_the_error_recorded(client, runtime, tmp_path):
    ticket_id = receive(client)
    runtime.settings = runtime.settings.replace(models_dir=tmp_path / "empty")
    runtime.__dict__.pop("models", None)
    with pytest.raises(Exception, match="triage train"):
        process(runtime, ticket_id)
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.status == "received" and "triage train" in ticket.last_error


def test_tickets_waiting_together_are_classified_in_one_batch_and_their_own_tasks_do_nothing(client, runtime):
    ids = [
        receive(client, ticket_id=f"B-{i}", body=text)
        for i, text in enumerate(
            ["I lost my card", "What is the exchange rate for euros?", "My top up failed", "ATM kept my cash"]
        )
    ]
    with runtime.db.session() as session:
        writebacks = decide_flow.process_tickets(runtime, session, [ids[1]], batch_size=3)
    assert len(writebacks) == 3
    with runtime.db.session() as session:
        statuses = {t.id: t.status for t in session.scalars(select(Ticket))}
        assert sorted(i for i, s in statuses.items() if s == "decided") == sorted([ids[1], ids[0], ids[2]])
        assert statuses[ids[3]] == "received"  # beyond the batch: waits for its own task
        assert decide_flow.process_tickets(runtime, session, [ids[0]], batch_size=3) == []
        assert len(decide_flow.process_tickets(runtime, session, [ids[3]], batch_size=3)) == 1
        labels = {t.external_id: t.decision.prediction.label for t in session.scalars(select(Ticket))}
    assert labels["B-0"] == "lost_or_stolen_card" and labels["B-1"] == "exchange_rate"


def test_a_message_with_several_tickets_claims_those_still_waiting_and_skips_the_rest(client, runtime):
    ids = [
        receive(client, ticket_id=f"M-{i}", body=text)
        for i, text in enumerate(
            ["I lost my card", "What is the exchange rate for euros?", "My top up failed", "ATM kept my cash"]
        )
    ]
    with runtime.db.session() as session:
        assert len(decide_flow.process_tickets(runtime, session, [ids[0]], batch_size=1)) == 1
    with runtime.db.session() as session:
        # ids[0] is decided already; a batch of 2 leaves no room for a waiting companion.
        writebacks = decide_flow.process_tickets(runtime, session, [ids[0], ids[2], ids[3]], batch_size=2)
    assert len(writebacks) == 2
    with runtime.db.session() as session:
        statuses = {t.id: t.status for t in session.scalars(select(Ticket))}
        decisions = {t.id: len(t.decisions) for t in session.scalars(select(Ticket))}
    assert [statuses[i] for i in ids] == ["decided", "received", "decided", "decided"]
    assert decisions[ids[0]] == 1


def test_a_batch_that_races_another_worker_keeps_their_decision_and_saves_the_rest(client, runtime):
    ids = [
        receive(client, ticket_id=f"R-{i}", body=text)
        for i, text in enumerate(["I lost my card", "What is the exchange rate for euros?", "My top up failed"])
    ]
    # Another worker, whose claim had gone stale, decided R-2 between our claim and our commit.
    with runtime.db.session() as session:
        prediction = PredictionRow(
            ticket_id=ids[2],
            model_name="other",
            model_version="v0",
            label="top_up_failed",
            confidence=0.99,
            latency_ms=1.0,
            top_k=[["top_up_failed", 0.99]],
        )
        session.add(prediction)
        session.flush()
        session.add(
            DecisionRow(
                ticket_id=ids[2],
                revision=1,
                prediction_id=prediction.id,
                queue="payments",
                priority="normal",
                status="auto_routed",
                rule="theirs",
                threshold=0.5,
                reason={},
            )
        )
        session.commit()
    with runtime.db.session() as session:
        writebacks = decide_flow.process_tickets(runtime, session, [ids[0]], batch_size=3)
    assert len(writebacks) == 2
    with runtime.db.session() as session:
        rules = {t.external_id: [d.rule for d in t.decisions] for t in session.scalars(select(Ticket))}
    assert rules["R-2"] == ["theirs"] and len(rules["R-0"]) == len(rules["R-1"]) == 1
