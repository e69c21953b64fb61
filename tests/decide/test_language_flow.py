"""Language through the flow on SQLite: webhook, decide, write-back to the fake helpdesk over HTTP, review page.

The tiny model is trained on English Banking77 questions, so its card names English alone. The routing here
promises only 50 % precision, so its thresholds are low enough that, without the language gate, it would
auto-route some of the corpus's foreign tickets with a nonsense label ("Mijn pakket zou maandag komen" as
card_arrival at 80 %).
"""

import json

import pytest
import yaml

from service import create_app
from service.core.domain import Prediction
from service.core.settings import ConfigError, Secret
from service.decide.language import DEFAULT_LANGUAGES
from service.infra.migrate import upgrade
from service.infra.models import Ticket
from service.review import users as review_users
from tests.support.chat import ChatServer
from tests.support.flows import deliver, process, receive
from tests.support.review import PASSWORD, SECRET_KEY, sign_in
from tests.support.settings import ROOT, TOKEN, make_settings

CORPUS = [json.loads(line) for line in (ROOT / "tests" / "data" / "language_corpus.jsonl").read_text().splitlines()]
# Whole tickets in a configured language, one language each (the mixed ones quote another language).
TICKETS = [r for r in CORPUS if r["language"] in DEFAULT_LANGUAGES and not r.get("mixed") and len(r["text"]) > 25]
SPANISH = "¿Por qué rechazaron mi transferencia?"  # pending_transfer at 72 % to the tiny English model


def lenient_rules(tmp_path, **transfers):
    raw = yaml.safe_load((ROOT / "data" / "routing" / "banking77.yaml").read_text())
    raw["target_precision"] = 0.5
    raw["queues"]["transfers"].update(transfers)
    path = tmp_path / "lenient.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def make_app(sqlite_url, models_dir, tmp_path, fake_helpdesk, environ=None, transfers=None, **settings):
    app = create_app(
        make_settings(
            sqlite_url,
            models_dir,
            routing_file=lenient_rules(tmp_path, **(transfers or {})),
            secret_key=Secret(SECRET_KEY),
            **settings,
        ),
        environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url, **(environ or {})},
    )
    with app.extensions["triage"].db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    return app


@pytest.fixture
def app(sqlite_url, models_dir, tmp_path, fake_helpdesk):
    application = make_app(sqlite_url, models_dir, tmp_path, fake_helpdesk)
    yield application
    application.extensions["triage"].db.dispose()


def decided(runtime, ticket_id):
    """The ticket's stored language, its decision's status and reason, and its prediction as the router takes it."""
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        decision, row = ticket.decision, ticket.decision.prediction
        promised = runtime.models.get().thresholds(runtime.rules.target_precision, runtime.rules.groups()) or {}
        prediction = Prediction(
            label=row.label,
            confidence=row.confidence,
            top_k=tuple((label, score) for label, score in row.top_k),
            model_name=row.model_name,
            model_version=row.model_version,
            threshold=promised.get(row.label, 1.0),
        )
        return ticket.language, decision.status, dict(decision.reason), prediction


def test_the_served_model_card_names_the_languages_it_was_trained_on(runtime):
    assert runtime.models.get().card.languages == ["en"]


def test_corpus_tickets_in_untrained_languages_go_to_review_with_the_reason_and_every_ticket_is_tagged(
    client, runtime, fake_helpdesk
):
    assert len({row["language"] for row in TICKETS}) >= 6
    held_back_confident = 0
    for i, row in enumerate(TICKETS):
        ticket_id = receive(client, ticket_id=f"L-{i}", body=row["text"])
        writeback_id = process(runtime, ticket_id)
        assert deliver(runtime, writeback_id).outcome == "done"
        language, status, reason, prediction = decided(runtime, ticket_id)
        tags = fake_helpdesk.requests[-1].body["tags"]
        assert language == reason["language"] == row["language"], row["text"]
        assert f"triage_lang_{row['language']}" in tags
        if row["language"] == "en":
            assert "language_gate" not in reason
            continue
        assert status == "needs_review", row["text"]
        gate = f"language '{row['language']}' is not one the model was trained on (en): needs review"
        assert reason["language_gate"] == gate
        assert f"Held back: {gate}." in fake_helpdesk.requests[-1].body["internal_note"]  # the agent reads why
        # Why it was held back comes first, then who decides: the agent's note says both.
        assert reason["reason"] == f"{gate}; no LLM configured: a person decides"
        without_gate, _, _ = runtime.rules.route(prediction, text=row["text"])
        held_back_confident += without_gate == "auto_routed"
    # The gate decided some of these: without it the English model would have routed them on a nonsense label.
    assert held_back_confident >= 3


def test_with_detection_off_the_same_ticket_is_routed_on_the_models_word_and_not_tagged(
    sqlite_url, models_dir, tmp_path, fake_helpdesk
):
    app = make_app(sqlite_url, models_dir, tmp_path, fake_helpdesk, languages="none")
    runtime = app.extensions["triage"]
    ticket_id = receive(app.test_client(), ticket_id="OFF-1", body=SPANISH)
    assert deliver(runtime, process(runtime, ticket_id)).outcome == "done"
    language, status, reason, prediction = decided(runtime, ticket_id)
    assert (language, status, prediction.label) == (None, "auto_routed", "pending_transfer")
    assert "language" not in reason and "language_gate" not in reason  # the page says nothing of it either
    assert not [t for t in fake_helpdesk.requests[-1].body["tags"] if t.startswith("triage_lang_")]
    app.extensions["triage"].db.dispose()


@pytest.mark.parametrize("escalate", [True, False], ids=["llm-allowed", "llm-closed"])
def test_a_held_back_ticket_goes_to_the_llm_only_where_its_queue_allows_and_keeps_the_reason(
    sqlite_url, models_dir, tmp_path, fake_helpdesk, escalate
):
    chat = ChatServer().start()
    chat.answers.append({"label": "pending_transfer", "confidence": 0.9})
    try:
        app = make_app(
            sqlite_url,
            models_dir,
            tmp_path,
            fake_helpdesk,
            environ={"TRIAGE_LLM_BASE_URL": f"{chat.url}/v1", "TRIAGE_LLM_MODEL": "gpt-test"},
            transfers={"escalate": escalate},
        )
        runtime = app.extensions["triage"]
        ticket_id = receive(app.test_client(), ticket_id="LLM-1", body=SPANISH)
        assert deliver(runtime, process(runtime, ticket_id)).outcome == "done"
        language, status, reason, _ = decided(runtime, ticket_id)
        assert language == "es"
        assert reason["language_gate"] == "language 'es' is not one the model was trained on (en): needs review"
        if escalate:
            assert len(chat.requests) == 1
            assert status == "escalated" and reason["reason"].startswith("escalated: LLM agrees")
        else:
            assert chat.requests == []
            assert status == "needs_review"
            gate = reason["language_gate"]
            assert reason["reason"] == f"{gate}; queue 'transfers' is never sent to the LLM: a person decides"
        app.extensions["triage"].db.dispose()
    finally:
        chat.stop()


def test_the_review_page_shows_the_language_in_the_list_and_on_the_ticket_with_the_reason(app, client, runtime):
    german = receive(client, ticket_id="P-1", body="Ich habe meine Karte verloren und brauche bitte eine neue.")
    english = receive(client, ticket_id="P-2", body="I lost my card yesterday and need a new one, what should I do?")
    process(runtime, german)
    process(runtime, english)
    agent = app.test_client()
    sign_in(agent, "ann")
    listing = agent.get("/review?tab=all").get_data(as_text=True)
    assert 'data-language="de"' in listing
    page = agent.get(f"/review/tickets/{german}").get_data(as_text=True)
    assert '<abbr class="lang" id="ticket-language" title="detected from the text">de</abbr>' in page
    assert "language &#39;de&#39; is not one the model was trained on (en): needs review" in page
    page = agent.get(f"/review/tickets/{english}").get_data(as_text=True)
    assert 'id="ticket-language" title="detected from the text">en</abbr>' in page
    assert "not one the model was trained on" not in page
    view = client.get(f"/api/v1/tickets/{german}", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert view["language"] == "de" and "'de'" in view["decision"]["language_gate"]


def test_drafts_check_the_reply_language_with_the_workers_detector_and_not_at_all_when_it_is_off(
    runtime, models_dir, tmp_path, fake_helpdesk
):
    drafter = runtime.drafter()
    assert drafter is not None and drafter.language_of == runtime.language.detect
    other = f"sqlite:///{tmp_path / 'off.db'}"
    upgrade(other)
    app = make_app(other, models_dir, tmp_path, fake_helpdesk, languages="none")
    assert app.extensions["triage"].drafter().language_of is None
    app.extensions["triage"].db.dispose()


def test_an_unknown_language_code_stops_the_start_with_its_name(sqlite_url, models_dir, tmp_path, fake_helpdesk):
    with pytest.raises(ConfigError, match="TRIAGE_LANGUAGES: xx"):
        make_app(sqlite_url, models_dir, tmp_path, fake_helpdesk, languages="en,xx")
