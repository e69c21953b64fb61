"""/metrics after real tickets: every family the operators page on, with values that match what happened."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.decide import flow as decide_flow
from service.drafts import flow as drafts_flow
from service.writeback import flow as writeback_flow
from tests.support.chat import ChatServer
from tests.support.flows import strict_rules
from tests.support.processes import wait_until
from tests.support.settings import SECRET, make_settings

STAGES = ("classify", "route", "escalate", "draft", "writeback")


@pytest.fixture
def chat():
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture
def app(sqlite_url, models_dir, tmp_path, chat, fake_helpdesk):
    """Every ticket is unsure (strict rules), so it goes to the LLM; write-backs go to the fake helpdesk."""
    env = {
        "TRIAGE_LLM_BASE_URL": f"{chat.url}/v1",
        "TRIAGE_LLM_MODEL": "gpt-test",
        "TRIAGE_LLM_API_KEY": "sk-test",
        "TRIAGE_LLM_PRICE_IN_PER_1K": "1",
        "TRIAGE_LLM_PRICE_OUT_PER_1K": "2",
        "TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url,
    }
    application = create_app(
        make_settings(sqlite_url, models_dir, routing_file=strict_rules(tmp_path), drafting_model="none"), environ=env
    )
    yield application
    application.extensions["triage"].db.dispose()


def scrape(client) -> dict[str, dict[tuple, float]]:
    """name -> {(sample suffix, sorted labels): value}, from the exposition text a Prometheus server reads."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        samples = out.setdefault(family.name, {})
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metrics, family: str, sample: str | None = None, **labels) -> float:
    return metrics[family][(sample or family, tuple(sorted(labels.items())))]


def test_metrics_expose_intake_queue_latency_confidence_escalation_failures_and_cost(app, chat, fake_helpdesk):
    client, rt = app.test_client(), app.extensions["triage"]
    chat.answers += [{"label": "card_arrival", "confidence": 0.9}] * 2
    ids = []
    for external_id, text in (("M-1", "where is my card? it has not arrived"), ("M-2", "my card never came")):
        body, headers = signed_delivery(SECRET, {"id": external_id, "body": text})
        ids.append(client.post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"])
    forged, headers = signed_delivery("wrong", {"id": "M-3", "body": "x"})
    assert client.post("/webhooks/generic", data=forged, headers=headers).status_code == 401

    def queued() -> dict | None:
        """A scrape once the ids are on the broker: they are published in a batch up to 20 ms after commit."""
        metrics = scrape(client)
        return metrics if value(metrics, "triage_broker_queue_messages", queue="triage") >= 1 else None

    waiting = wait_until(queued, timeout=5, interval=0.05, message="the tickets' message on the broker")
    assert (
        value(waiting, "triage_intake", "triage_intake_total", source="generic", status="202", outcome="created") == 2
    )
    assert (
        value(waiting, "triage_intake", "triage_intake_total", source="generic", status="401", outcome="bad_signature")
        == 1
    )
    assert value(waiting, "triage_intake_seconds", "triage_intake_seconds_count", source="generic") == 2
    # Enqueued, no worker here: ids committed within 20 ms share one message, so two tickets make one or two.
    assert value(waiting, "triage_broker_queue_messages", queue="triage") >= 1
    assert value(waiting, "triage_tickets", status="received") == 2
    assert value(waiting, "triage_backlog_oldest_seconds") > 0

    # What the worker's tasks do, in order; the second write-back meets a permanent refusal.
    writebacks = []
    for ticket_id in ids:
        with rt.db.session() as session:
            writebacks += decide_flow.process_tickets(rt, session, [ticket_id])
    for writeback_id in writebacks:
        with rt.db.session() as session:
            drafts_flow.draft_reply(rt, session, writeback_id)
    outcomes = []
    for writeback_id in writebacks:
        with rt.db.session() as session:
            outcomes.append(writeback_flow.deliver_writeback(rt, session, writeback_id).outcome)
        fake_helpdesk.fail(422)
    assert outcomes == ["done", "failed"]

    done = scrape(client)
    assert value(done, "triage_tickets", status="decided") == 2 and value(done, "triage_backlog_oldest_seconds") == 0
    for stage in STAGES:
        count = value(done, "triage_stage_seconds", "triage_stage_seconds_count", stage=stage)
        assert count == 2, stage
        total = value(done, "triage_stage_seconds", "triage_stage_seconds_sum", stage=stage)
        assert 0 < total < 60, stage
        buckets = sorted(
            (float(dict(labels)["le"]), v)
            for (name, labels), v in done["triage_stage_seconds"].items()
            if name.endswith("_bucket") and dict(labels)["stage"] == stage
        )
        assert [v for _, v in buckets] == sorted(v for _, v in buckets) and buckets[-1][1] == count
    assert value(done, "triage_confidence", "triage_confidence_count") == 2
    assert 0 < value(done, "triage_confidence", "triage_confidence_sum") <= 2
    assert value(done, "triage_decisions", status="escalated") == 2 and value(done, "triage_escalation_rate") == 1
    assert value(done, "triage_llm_calls") == 2 and value(done, "triage_llm_cost") > 0
    assert value(done, "triage_writebacks", status="failed") == value(done, "triage_writebacks", status="done") == 1
