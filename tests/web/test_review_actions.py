"""Agents' actions: accept, correct, drafts; what they store as feedback and write back to the helpdesk."""

import csv
import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from service.cli import main
from service.drafts import flow as drafts_flow
from service.infra.models import DraftRow, Feedback, Ticket, WritebackRow
from service.review import feedback as review_feedback
from service.review import verdicts as review_verdicts
from service.writeback import flow as writeback_flow
from tests.support.review import csrf_token, decided_ticket, decision_id
from tests.support.settings import ROOT


def post(client, path, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, "/review"), **data})


def deliver_all(rt, kind=None):
    with rt.db.session() as session:
        query = select(WritebackRow.id).where(WritebackRow.status == "pending")
        ids = session.scalars(query.where(WritebackRow.kind == kind) if kind else query).all()
    for wb_id in ids:
        with rt.db.session() as session:
            assert writeback_flow.deliver_writeback(rt, session, wb_id).outcome == "done"
    return ids


def feedback_rows(rt):
    with rt.db.session() as session:
        return session.scalars(select(Feedback).order_by(Feedback.id)).all()


def test_accepting_records_feedback_and_moves_on_to_the_next_ticket(agent, rt, fake_helpdesk):
    second = decided_ticket(rt)
    first = decided_ticket(rt)
    response = post(
        agent, f"/review/tickets/{first}/review", action="accept", decision_id=decision_id(rt, first), next_id=second
    )
    assert response.status_code == 303 and response.headers["Location"] == f"/review/tickets/{second}"
    [fb] = feedback_rows(rt)
    assert (fb.kind, fb.from_label, fb.to_label, fb.from_queue, fb.to_queue) == (
        "accepted",
        "card_arrival",
        "card_arrival",
        "cards",
        "cards",
    )
    assert fb.ticket_revision == 1 and len(fb.text_sha256) == 64
    deliver_all(rt)
    [request] = fake_helpdesk.requests
    assert request.body["label"] == "card_arrival" and request.body["group"] == "cards"
    assert "triage_reviewed" in request.body["tags"]
    assert request.body["internal_note"] == (
        "Triage review by ann: accepted label card_arrival, queue cards, priority normal."
    )
    assert "accepted; the helpdesk is being updated" in agent.get(response.headers["Location"]).get_data(True)


def test_a_correction_is_feedback_from_old_to_new_and_reaches_the_helpdesk(agent, rt, fake_helpdesk):
    ticket_id = decided_ticket(rt, label="card_arrival", queue="cards", priority="normal")
    response = post(
        agent,
        f"/review/tickets/{ticket_id}/review",
        action="correct",
        decision_id=decision_id(rt, ticket_id),
        label="lost_or_stolen_card",
        queue="fraud_security",
        priority="urgent",
        stay="1",
    )
    assert response.headers["Location"] == f"/review/tickets/{ticket_id}"
    [fb] = feedback_rows(rt)
    assert (fb.kind, fb.from_label, fb.to_label, fb.to_queue, fb.from_priority, fb.to_priority) == (
        "corrected",
        "card_arrival",
        "lost_or_stolen_card",
        "fraud_security",
        "normal",
        "urgent",
    )
    with rt.db.session() as session:
        assert fb.text_sha256 == review_verdicts.text_sha256(session.get(Ticket, ticket_id))
    deliver_all(rt)
    [request] = fake_helpdesk.requests
    assert (request.body["label"], request.body["group"], request.body["priority"]) == (
        "lost_or_stolen_card",
        "fraud_security",
        "urgent",
    )
    assert "label card_arrival -> lost_or_stolen_card; queue cards -> fraud_security" in request.body["internal_note"]
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert "corrected" in page and "lost_or_stolen_card" in page and "badge-wb-done" in page


def test_a_late_decision_write_back_does_not_undo_the_agents_correction(rt, fake_helpdesk):
    ticket_id = decided_ticket(rt)
    with rt.db.session() as session:
        decision = session.get(Ticket, ticket_id).decision
        session.add(WritebackRow(decision_id=decision.id, target="fake", status="pending"))
        session.commit()
        review_verdicts.review_ticket(
            rt, session, ticket_id=ticket_id, decision_id=decision.id, user_id=1, label="exchange_rate", queue="fx_fees"
        )
    deliver_all(rt, kind="review")
    deliver_all(rt, kind="decision")  # e.g. the helpdesk was down when the decision was first sent
    assert [(r.body["label"], r.body["group"]) for r in fake_helpdesk.requests] == [
        ("exchange_rate", "fx_fees"),
        ("exchange_rate", "fx_fees"),
    ]
    assert "triage_needs_review" in fake_helpdesk.requests[1].body["tags"]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("label", "no_such_label", "is not a label Triage knows"),
        ("queue", "nowhere", "is not a queue in the routing rules"),
        ("priority", "asap", "priority must be one of low, normal, high, urgent"),
    ],
)
def test_a_correction_to_an_unknown_value_is_refused_with_a_reason(agent, rt, field, value, message):
    ticket_id = decided_ticket(rt)
    response = post(
        agent,
        f"/review/tickets/{ticket_id}/review",
        action="correct",
        decision_id=decision_id(rt, ticket_id),
        **{field: value},
    )
    assert response.status_code == 303
    assert message in agent.get(response.headers["Location"]).get_data(as_text=True)
    assert feedback_rows(rt) == []


def test_reviewing_a_decision_that_was_replaced_is_refused(agent, rt):
    ticket_id = decided_ticket(rt)
    stale = decision_id(rt, ticket_id)
    with rt.db.session() as session:
        session.get(Ticket, ticket_id).revision = 2  # the text changed and it is being routed again
        session.commit()
    response = post(agent, f"/review/tickets/{ticket_id}/review", action="accept", decision_id=stale)
    assert "changed and was routed again" in agent.get(response.headers["Location"]).get_data(as_text=True)
    assert feedback_rows(rt) == []


def test_a_proposed_draft_is_edited_approved_and_written_back_once(agent, rt, fake_helpdesk):
    ticket_id = decided_ticket(rt)
    with rt.db.session() as session:
        draft = drafts_flow.propose_draft(
            session, decision_id=decision_id(rt, ticket_id), text="Dear customer,\nyes.", source="template"
        )
        again = drafts_flow.propose_draft(session, decision_id=draft.decision_id, text="other", source="slm")
        assert again.id == draft.id and again.text == "Dear customer,\nyes."
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert "Drafted by template" in page and "Dear customer,\nyes.</textarea>" in page
    common = {"decision_id": decision_id(rt, ticket_id), "version": "1"}
    post(
        agent,
        f"/review/tickets/{ticket_id}/draft",
        action="save",
        text="Hello Ann,\r\nyour card is on its way.  ",
        **common,
    )
    # The page was loaded at version 1; the save made it 2, so approving that stale page is refused.
    response = post(agent, f"/review/tickets/{ticket_id}/draft", action="approve", text="stale", **common)
    assert "someone else changed or sent this draft" in agent.get(response.headers["Location"]).get_data(True)
    post(
        agent,
        f"/review/tickets/{ticket_id}/draft",
        action="approve",
        text="Hello Ann,\nyour card is on its way.",
        **{**common, "version": "2"},
    )
    with rt.db.session() as session:
        draft = session.scalars(select(DraftRow)).one()
        assert (draft.status, draft.text, draft.original_text) == (
            "approved",
            "Hello Ann,\nyour card is on its way.",
            "Dear customer,\nyes.",
        )
        assert draft.reviewed_by_id is not None and draft.version == 3
    deliver_all(rt)
    [request] = fake_helpdesk.requests
    assert "triage_reply_approved" in request.body["tags"]
    assert request.body["internal_note"].endswith(
        "approved by ann and sent to the requester as a public reply:\n\nHello Ann,\nyour card is on its way."
    )
    assert request.body["public_reply"] == "Hello Ann,\nyour card is on its way."
    response = post(
        agent, f"/review/tickets/{ticket_id}/draft", action="approve", text="twice", **{**common, "version": "3"}
    )
    assert "someone else changed or sent" in agent.get(response.headers["Location"]).get_data(True)
    with rt.db.session() as session:
        assert len(session.scalars(select(WritebackRow).where(WritebackRow.kind == "reply")).all()) == 1


def test_an_agent_writes_a_reply_when_there_is_no_draft(agent, rt):
    ticket_id = decided_ticket(rt)
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert "No draft yet" in page
    post(
        agent,
        f"/review/tickets/{ticket_id}/draft",
        action="approve",
        text="",
        version="0",
        decision_id=decision_id(rt, ticket_id),
    )
    assert "the reply is empty" in agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    post(
        agent,
        f"/review/tickets/{ticket_id}/draft",
        action="approve",
        text="We have sent a new card.",
        version="0",
        decision_id=decision_id(rt, ticket_id),
    )
    with rt.db.session() as session:
        draft = session.scalars(select(DraftRow)).one()
        assert (draft.source, draft.status) == ("agent", "approved")


def test_a_rejected_draft_can_be_rewritten(agent, rt):
    ticket_id = decided_ticket(rt)
    with rt.db.session() as session:
        drafts_flow.propose_draft(
            session, decision_id=decision_id(rt, ticket_id), text="I'm sorry for your loss.", source="slm"
        )
    common = {"decision_id": decision_id(rt, ticket_id)}
    post(agent, f"/review/tickets/{ticket_id}/draft", action="reject", version="1", **common)
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert "Draft rejected" in page and "Rejected by ann" in page
    post(
        agent,
        f"/review/tickets/{ticket_id}/draft",
        action="save",
        text="Your card is on its way.",
        version="2",
        **common,
    )
    with rt.db.session() as session:
        assert session.scalars(select(DraftRow.status)).one() == "proposed"


def test_feedback_exports_as_labelled_examples_and_skips_changed_texts(rt):
    kept = decided_ticket(rt, subject="Card", body="My card never came")
    changed = decided_ticket(rt, subject="Rate", body="What rate do you use?")
    accepted = decided_ticket(rt, subject="Hi", body="Card arrived?")
    with rt.db.session() as session:
        for ticket_id, label in ((kept, "lost_or_stolen_card"), (kept, "card_arrival"), (changed, "exchange_rate")):
            review_verdicts.review_ticket(
                rt, session, ticket_id=ticket_id, decision_id=decision_id(rt, ticket_id), user_id=1, label=label
            )
        review_verdicts.review_ticket(rt, session, ticket_id=accepted, decision_id=decision_id(rt, accepted), user_id=2)
        session.get(Ticket, changed).body = "Edited after review"
        session.commit()
        examples, stale = review_feedback.feedback_examples(session)
        corrections, _ = review_feedback.feedback_examples(session, corrections_only=True)
    assert stale == 1
    # The agent's latest word on a text wins (here a correction back to the model's own label).
    assert [(e.text, e.label, e.kind) for e in examples] == [
        ("Card. My card never came", "card_arrival", "corrected"),
        ("Hi. Card arrived?", "card_arrival", "accepted"),
    ]
    assert [e.ticket_id for e in corrections] == [kept]


def test_the_cli_exports_feedback_that_training_reads(rt, review_app, tmp_path):
    ticket_id = decided_ticket(rt, subject="Card", body="Someone took my card")
    with rt.db.session() as session:
        review_verdicts.review_ticket(
            rt,
            session,
            ticket_id=ticket_id,
            decision_id=decision_id(rt, ticket_id),
            user_id=1,
            label="lost_or_stolen_card",
        )
    out = tmp_path / "feedback.csv"
    result = review_app.test_cli_runner().invoke(main, ["feedback", "export", "--out", str(out)])
    assert result.exit_code == 0 and "1 labelled example(s) written" in result.output
    with out.open(newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert (row["text"], row["category"], row["kind"]) == (
        "Card. Someone took my card",
        "lost_or_stolen_card",
        "corrected",
    )
    from training.data import read_csv

    assert read_csv(out).labels == ["lost_or_stolen_card"]


@pytest.mark.e2e
def test_train_reads_the_review_feedback_from_the_database(rt, review_app, tmp_path, monkeypatch):
    texts = {
        "card_arrival": [
            "My card never came",
            "Card still not here",
            "Where is the card I ordered",
            "No card in the post yet",
        ],
        "exchange_rate": [
            "What rate do you use",
            "Is the exchange rate fair",
            "Rate for euros today",
            "How do you convert dollars",
        ],
    }
    with rt.db.session() as session:
        for label, bodies in texts.items():
            for body in bodies:
                ticket_id = decided_ticket(rt, subject="", body=body, label="lost_or_stolen_card")
                review_verdicts.review_ticket(
                    rt, session, ticket_id=ticket_id, decision_id=decision_id(rt, ticket_id), user_id=1, label=label
                )
    monkeypatch.setenv("TRIAGE_MODELS_DIR", str(tmp_path / "models"))
    result = review_app.test_cli_runner().invoke(
        main,
        [
            "train",
            "--feedback",
            "--family",
            "baseline",
            "--min-count",
            "2",
            "--holdout",
            "0.25",
            "--report-dir",
            str(tmp_path / "runs"),
        ],
    )
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    [source] = summary["sources"]
    assert source["source"].startswith("feedback:") and source["read"] == 8
    assert summary["prepared"]["labels"] == {"card_arrival": 4, "exchange_rate": 4}
    with (run_dir / "train.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # Keys are "<webhook source>:<helpdesk id>", the same keys an export of that helpdesk gets.
    assert all(r["key"].startswith("generic:T-") for r in rows) and summary["split"]["holdout"] == 2


@pytest.mark.e2e
def test_the_cli_creates_users_from_a_password_file_or_says_why_not(tmp_path, sqlite_url):
    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    env = {"TRIAGE_DATABASE_URL": sqlite_url, "PATH": "/usr/bin:/bin"}

    def triage(*args):
        return subprocess.run(
            [sys.executable, "-m", "service.cli", "users", "create", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = triage("Carol", "--role", "admin", "--password-file", str(password))
    assert result.returncode == 0 and "created admin 'carol'" in result.stdout
    assert "a long enough password" not in result.stdout + result.stderr
    result = triage("carol", "--role", "agent", "--password-file", str(password))
    assert result.returncode != 0 and "already exists" in result.stderr and "Traceback" not in result.stderr
    password.write_text("short\n")
    result = triage("dave", "--role", "agent", "--password-file", str(password))
    assert result.returncode != 0 and "at least 12 characters" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "users", "create", "erin", "--role", "agent"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input="a long enough password\na long enough password\n",
    )
    assert result.returncode == 0 and "created agent 'erin'" in result.stdout


def test_a_guess_shows_that_its_reply_is_drafted_once_the_label_is_settled(agent, rt):
    guess = decided_ticket(rt, confidence=0.3)  # below its 0.45 threshold
    sure = decided_ticket(rt, status="auto_routed", confidence=0.9)
    page = agent.get(f"/review/tickets/{guess}").get_data(as_text=True)
    assert 'id="draft-waits"' in page and "drafted from the label you settle" in page
    assert 'id="draft-waits"' not in agent.get(f"/review/tickets/{sure}").get_data(as_text=True)
