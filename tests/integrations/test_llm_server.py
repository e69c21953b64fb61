"""Escalation against a real OpenAI-compatible server: llama-cpp-python's, with the SmolLM2 GGUF Triage installs,
through Redis and a real Celery worker to Postgres."""

import csv

import pytest
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service.drafts.local_model import smollm2_path
from service.infra.models import LLMCall, Ticket
from tests.support.flows import strict_rules
from tests.support.llm import llama_cpp_server
from tests.support.processes import app_with_worker, service_env, wait_until
from tests.support.settings import BANKING77, SECRET, TINY_LABELS, make_settings

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def banking77_tickets(n):
    """The first test ticket of each of n of the tiny model's labels."""
    seen = {}
    with (BANKING77 / "test.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["category"] in TINY_LABELS[:n] and row["category"] not in seen:
                seen[row["category"]] = row["text"]
    return list(seen.values())


@pytest.fixture
def llama_server(tmp_path):
    with llama_cpp_server(smollm2_path(), tmp_path / "llama.log") as base:
        yield base


def test_unsure_tickets_escalate_through_the_worker_to_llama_cpp_python_and_get_allowed_labels(
    postgres_url, redis_url, models_dir, llama_server, tmp_path
):
    # Every ticket is below threshold, so each one goes to the LLM; the server kind is left to negotiation.
    settings = make_settings(postgres_url, models_dir, broker_url=redis_url, routing_file=strict_rules(tmp_path))
    env = service_env(
        settings,
        TRIAGE_LLM_BASE_URL=llama_server,
        TRIAGE_LLM_MODEL="smollm2-135m",
        TRIAGE_LLM_PRICE_IN_PER_1K="0.01",
        TRIAGE_LLM_PRICE_OUT_PER_1K="0.02",
        # Generous: on 2 shared cores a 135M model still answers in about a second, but calls queue up.
        TRIAGE_LLM_TIMEOUT_S="60",
        TRIAGE_LLM_DEADLINE_S="90",
    )
    texts = banking77_tickets(5)
    with app_with_worker(settings, env, tmp_path / "worker.log") as (app, worker):
        client, ids = app.test_client(), []
        for i, text in enumerate(texts):
            body, headers = signed_delivery(SECRET, {"id": f"LLM-{i}", "body": text})
            ids.append(client.post("/webhooks/generic", data=body, headers=headers).get_json()["ticket_id"])
        db = app.extensions["triage"].db

        def escalated():
            with db.session() as session:
                calls = session.scalars(select(LLMCall).where(LLMCall.ticket_id.in_(ids))).all()
                decided = [session.get(Ticket, tid).decision for tid in ids]
                return len(calls) == len(ids) and all(d is not None for d in decided)

        wait_until(escalated, timeout=120, message=f"escalations\n{worker.log()[-3000:]}")
        with db.session() as session:
            for tid in ids:
                decision = session.get(Ticket, tid).decision
                [call] = session.scalars(select(LLMCall).where(LLMCall.ticket_id == tid)).all()
                offered = [label for label, _ in decision.prediction.top_k]
                assert call.reason in ("valid label", "the LLM was unsure"), call.reason  # no failure, no stray answer
                assert call.label is None or call.label in offered
                assert call.tokens_in > 0 and call.tokens_out > 0 and call.cost > 0
                assert call.model and call.latency_ms > 0
        log = worker.log()
        assert "LLM response format settled for this process" in log and "json_object_schema" in log
        assert "call failed" not in log and "circuit open" not in log
