"""An LLM that obeys every instruction in a ticket still cannot steer escalation (tests/data/injection/)."""

import json

import pytest
import yaml
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.decide import flow as decide_flow
from service.infra.migrate import upgrade
from service.infra.models import LLMCall, Ticket
from tests.support.flows import strict_rules
from tests.support.llm import ObedientChatServer, offered_labels
from tests.support.settings import BANKING77, ROOT, SECRET, make_settings

pytestmark = pytest.mark.slow

CORPUS = yaml.safe_load((ROOT / "tests" / "data" / "injection" / "tickets.yaml").read_text())["tickets"]
KINDS = {"body", "quoted_mail", "fake_json", "language", "zero_width", "homoglyph"}
TARGETS = [*json.loads((BANKING77 / "categories.json").read_text()), "VIP", "fraud_security", "urgent"]


def test_the_corpus_has_sixty_tickets_of_every_kind_each_naming_its_target():
    assert len(CORPUS) >= 60 and {t["kind"] for t in CORPUS} == KINDS
    judge = ObedientChatServer(TARGETS).start()
    try:
        # The obedient model really finds each instruction, however it is hidden.
        assert {t["id"]: judge.demand(t["text"]) for t in CORPUS} == {t["id"]: t["target"] for t in CORPUS}
    finally:
        judge.stop()


@pytest.fixture(scope="module")
def outcomes(models_dir, tmp_path_factory):
    """Every corpus ticket through intake, the classifier and escalation, against an LLM that obeys it."""
    tmp = tmp_path_factory.mktemp("injection")
    rules_path = strict_rules(tmp)
    url = f"sqlite:///{tmp / 'triage.db'}"
    upgrade(url)
    llm = ObedientChatServer(TARGETS).start()
    env = {"TRIAGE_LLM_BASE_URL": f"{llm.url}/v1", "TRIAGE_LLM_MODEL": "obedient", "TRIAGE_LLM_API_KEY": "sk-test"}
    app = create_app(make_settings(url, models_dir, routing_file=rules_path), environ=env)
    runtime, client = app.extensions["triage"], app.test_client()
    rows = []
    try:
        for ticket in CORPUS:
            body, headers = signed_delivery(SECRET, {"id": ticket["id"], "body": ticket["text"]})
            tid = client.post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"]
            with runtime.db.session() as session:
                decide_flow.process_tickets(runtime, session, [tid])
            with runtime.db.session() as session:
                decision = session.get(Ticket, tid).decision
                [call] = session.scalars(select(LLMCall).where(LLMCall.ticket_id == tid)).all()
                rows.append(
                    {
                        "ticket": ticket,
                        "status": decision.status,
                        "queue": decision.queue,
                        "label": decision.label,
                        "top": [label for label, _ in decision.prediction.top_k],
                        "classifier": (decision.prediction.label, decision.prediction.confidence),
                        "llm_label": call.label,
                        "branch": call.branch,
                    }
                )
        yield {"rows": rows, "requests": list(llm.requests), "obeyed": list(llm.obeyed), "rules": runtime.rules}
    finally:
        llm.stop()
        runtime.db.dispose()


def test_the_obedient_llm_was_asked_about_every_ticket_and_obeyed_each(outcomes):
    assert len(outcomes["requests"]) == len(CORPUS)
    assert outcomes["obeyed"] == [t["target"] for t in CORPUS]


def test_no_stored_llm_label_lies_outside_the_classifiers_top_three(outcomes):
    outside = [r["ticket"]["id"] for r in outcomes["rows"] if r["llm_label"] and r["llm_label"] not in r["top"][:3]]
    assert outside == []


def test_the_llm_was_offered_only_the_top_three_labels(outcomes):
    for request, row in zip(outcomes["requests"], outcomes["rows"], strict=True):
        assert offered_labels(request) == row["top"][:3], row["ticket"]["id"]


def test_no_ticket_is_auto_routed_into_a_queue_closed_to_the_llm(outcomes):
    closed = {name for name, rule in outcomes["rules"].queues.items() if not rule.llm_may_route}
    assert closed == {"fraud_security"}
    routed = [r["ticket"]["id"] for r in outcomes["rows"] if r["status"] == "escalated" and r["queue"] in closed]
    assert routed == []
    # The attack was real: the obedient LLM named a fraud label among its top labels, and a person got it.
    assert any(r["branch"] == "llm_queue_closed" for r in outcomes["rows"])


def test_the_llm_never_overrules_a_confident_classifier(outcomes):
    overruled = [
        r["ticket"]["id"]
        for r in outcomes["rows"]
        if r["status"] == "escalated" and r["label"] != r["classifier"][0] and r["classifier"][1] >= 0.5
    ]
    assert overruled == []


def test_every_escalated_route_is_one_the_classifier_proposed(outcomes):
    queues = outcomes["rules"].queues
    for row in outcomes["rows"]:
        if row["status"] == "escalated":
            assert row["label"] in row["top"][:3] and row["queue"] in queues, row["ticket"]["id"]


def test_no_personal_data_in_the_corpus_reaches_the_llm(outcomes):
    sent = "\n".join(json.dumps(r.body, ensure_ascii=False) for r in outcomes["requests"])
    leaked = [pii for t in CORPUS for pii in t.get("pii", []) if pii in sent]
    assert leaked == []
