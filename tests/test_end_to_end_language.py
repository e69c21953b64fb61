"""Language on real components: webhook -> Redis -> prefork worker -> Postgres -> Zendesk and Jira -> review page.

The worker runs the prefork pool, so the language models it loads before forking are the ones its pool processes
use. The tiny model is trained on English alone: a German ticket is held back for a person and tagged lang_de; an
English one is tagged lang_en.
"""

import json

import pytest
from sqlalchemy import select

from service import create_app
from service.core.settings import Secret
from service.infra.models import Ticket
from service.review import users as review_users
from tests.support.processes import WorkerProcess, service_env, wait_until
from tests.support.review import PASSWORD, SECRET_KEY, sign_in
from tests.support.settings import FIXTURES, make_settings
from tests.support.vendors import fresh_jira, jira_env, jira_headers, zendesk_env, zendesk_headers

pytestmark = [pytest.mark.services, pytest.mark.e2e]

JIRA_CREATED = "jenkins-jira-trigger__issue_created.json"

GERMAN = (
    "Karte gesperrt",
    "Hallo, meine Karte wurde gestern gesperrt und ich kann nicht mehr bezahlen. Was muss ich jetzt tun?",
)


@pytest.fixture
def stack(postgres_url, redis_url, models_dir, zendesk_server, jira_server, tmp_path):
    settings = make_settings(
        postgres_url,
        models_dir,
        broker_url=redis_url,
        integrations="zendesk,jira",
        writeback_backoff_s=0.2,
        secret_key=Secret(SECRET_KEY),
    )
    env = {**zendesk_env(zendesk_server.url), **jira_env(jira_server.url), "TRIAGE_INTEGRATIONS": "zendesk,jira"}
    app = create_app(settings, environ=env)
    worker = WorkerProcess(service_env(settings, **env), tmp_path / "worker.log", pool="prefork")
    try:
        worker.wait_ready(timeout=120)
        yield app, worker
    finally:
        worker.stop()
        app.extensions["triage"].db.dispose()


def delivered(app, source, external_id):
    def check():
        with app.extensions["triage"].db.session() as session:
            ticket = session.scalars(
                select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)
            ).first()
            if ticket is None or ticket.decision is None or ticket.decision.writebacks[0].status != "done":
                return None
            return ticket.id, ticket.language, ticket.decision.status, dict(ticket.decision.reason)

    return check


def test_a_german_zendesk_ticket_is_held_back_tagged_and_shown_and_an_english_jira_issue_tagged(
    stack, zendesk_server, jira_server
):
    app, worker = stack
    assert "language models for en,de,fr,es,it,pt,nl,pl,ru,tr,ja,zh,ko,ar loaded" in worker.log()

    zendesk_server.add_ticket(7001, *GERMAN)
    body = b'{"event": "ticket.created", "ticket": {"id": "7001", "updated_at": "2026-11-30T10:00:00Z"}}'
    assert (
        app.test_client()
        .post("/webhooks/zendesk", data=body, headers=zendesk_headers(body, invocation="language-7001"))
        .status_code
        == 202
    )
    ticket_id, language, status, reason = wait_until(
        delivered(app, "zendesk", "7001"), timeout=90, message=f"zendesk write-back\n{worker.log()[-3000:]}"
    )
    assert (language, status) == ("de", "needs_review")
    assert reason["language_gate"] == "language 'de' is not one the model was trained on (en): needs review"
    put = zendesk_server.requests[-1].body["ticket"]
    assert {"triage_lang_de", "triage_needs_review"} <= set(put["additional_tags"])
    assert "group_id" not in put  # held back: a guess never moves the ticket
    assert "Held back: language 'de' is not one the model was trained on (en)" in put["comment"]["body"]

    payload = fresh_jira(json.loads((FIXTURES / "webhooks" / "jira" / JIRA_CREATED).read_text()))
    payload["issue"]["key"] = "SUP-88"
    payload["issue"]["fields"]["summary"] = "What exchange rate do you use when I pay in dollars?"
    jira_server.add_issue("SUP-88", payload["issue"]["fields"]["summary"])
    body = json.dumps(payload).encode()
    client = app.test_client()
    assert client.post("/webhooks/jira", data=body, headers=jira_headers(body, identifier="lang-1")).status_code == 202
    _, language, _, reason = wait_until(
        delivered(app, "jira", "SUP-88"), timeout=90, message=f"jira write-back\n{worker.log()[-3000:]}"
    )
    assert language == "en" and "language_gate" not in reason
    edit = next(r for r in jira_server.requests if r.method == "PUT")
    assert {"add": "triage_lang_en"} in edit.body["update"]["labels"]

    with app.extensions["triage"].db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    agent = app.test_client()
    sign_in(agent, "ann")
    assert 'data-language="de"' in agent.get("/review").get_data(as_text=True)
    page = agent.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="ticket-language" title="detected from the text">de</abbr>' in page
    assert "language &#39;de&#39; is not one the model was trained on (en)" in page
