"""Corpus tickets escalated through the real path: no labelled personal data reaches the LLM server."""

import json

import pytest
import requests

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.decide import flow as decide_flow
from tests.support.chat import PII_CORPUS, ChatServer, corpus_entities_in
from tests.support.flows import strict_rules
from tests.support.settings import SECRET, make_settings

ROWS = [json.loads(line) for line in PII_CORPUS.read_text(encoding="utf-8").splitlines()]
WITH_PII = [row for row in ROWS if row["entities"]]


def escalate_all(sqlite_url, models_dir, tmp_path, chat, rows):
    env = {
        "TRIAGE_LLM_BASE_URL": f"{chat.url}/v1",
        "TRIAGE_LLM_MODEL": "gpt-test",
        "TRIAGE_LLM_API_KEY": "sk-test",
    }
    settings = make_settings(
        sqlite_url, models_dir, routing_file=strict_rules(tmp_path), llm_max_calls_per_hour=len(rows) + 1
    )
    app = create_app(settings, environ=env)
    runtime, client = app.extensions["triage"], app.test_client()
    for i, row in enumerate(rows):
        body, headers = signed_delivery(SECRET, {"id": f"PII-{i}", "body": row["text"]})
        ticket_id = client.post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"]
        with runtime.db.session() as session:
            decide_flow.process_tickets(runtime, session, [ticket_id])


def leaked_values(chat, rows):
    """Each labelled value (any length) of each ticket that its own request carried verbatim."""
    leaked = []
    for request, row in zip(chat.requests, rows, strict=True):
        sent = json.dumps(request.body, ensure_ascii=False)
        leaked += [v for e in row["entities"] if (v := row["text"][e["start"] : e["end"]]) in sent and len(v) > 3]
    return leaked


@pytest.fixture
def chat():
    server = ChatServer().start()
    yield server
    server.stop()  # fails the test if any request carried a corpus value


def test_escalated_corpus_tickets_reach_the_llm_without_their_personal_data(sqlite_url, models_dir, tmp_path, chat):
    rows = WITH_PII[::10]  # every language and shape; the slow test below sends them all
    escalate_all(sqlite_url, models_dir, tmp_path, chat, rows)
    assert len(chat.requests) == len(rows)
    assert leaked_values(chat, rows) == []


@pytest.mark.slow
def test_every_corpus_ticket_escalates_without_its_personal_data(sqlite_url, models_dir, tmp_path, chat):
    escalate_all(sqlite_url, models_dir, tmp_path, chat, WITH_PII)
    assert len(chat.requests) == len(WITH_PII)
    assert leaked_values(chat, WITH_PII) == []


def test_the_llm_server_fails_a_test_whose_request_carries_a_corpus_value():
    server = ChatServer().start()
    value = next(v for v in (r["text"][e["start"] : e["end"]] for r in WITH_PII for e in r["entities"]) if "@" in v)
    requests.post(f"{server.url}/v1/chat/completions", json={"messages": [{"content": f"mail {value}"}]}, timeout=5)
    assert corpus_entities_in(server.requests[0].body) == [value]
    with pytest.raises(AssertionError, match="personal data from tests/data/pii reached the LLM server"):
        server.stop()
