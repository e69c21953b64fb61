"""The routing file's scope quantile reaches each decision: a tiny frozen-embedding model decides on SQLite."""

from __future__ import annotations

import pytest

from service import create_app
from service.core.modelcard import current_version_dir
from service.decide.classify import load_model
from service.infra.queries import get_ticket
from tests.support.flows import process, receive
from tests.support.settings import ROOT, make_settings


@pytest.fixture
def app(tmp_path, sqlite_url, frozen_models_dir, fake_helpdesk):
    routing = tmp_path / "routing.yaml"
    # Half the training tickets lie beyond the median of their own distances: a wary helpdesk's setting.
    text = (ROOT / "data" / "routing" / "banking77.yaml").read_text(encoding="utf-8")
    routing.write_text(text + "\nscope_quantile: 0.5\n", encoding="utf-8")
    application = create_app(
        make_settings(sqlite_url, frozen_models_dir, model_name="frozen", routing_file=routing),
        environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url},
    )
    yield application
    application.extensions["triage"].db.dispose()


def test_each_decision_is_held_to_the_limit_at_the_routing_files_quantile(app, client, frozen_models_dir):
    runtime = app.extensions["triage"]
    scope = load_model(current_version_dir(frozen_models_dir, "frozen")).scope
    assert scope is not None and runtime.rules.scope_quantile == 0.5
    reasons: list[dict] = []
    for i, body in enumerate(["My card has still not arrived", "Which wine goes with grilled sardines?"]):
        ticket_id = receive(client, f"S-{i}", body=body)
        process(runtime, ticket_id)
        with runtime.db.session() as session:
            reasons.append(dict(get_ticket(session=session, ticket_id=ticket_id).decision.reason))
    for reason in reasons:
        assert reason["scope_limit"] == scope.limit_at(0.5) < scope.limit
        assert reason["out_of_scope"] == (reason["scope_distance"] > reason["scope_limit"])
    unrelated = reasons[1]  # kept from auto-routing; with no LLM configured, a person decides
    assert unrelated["out_of_scope"] and unrelated["status"] == "needs_review"
    # The sentence says why, not only who decides: the helpdesk's internal note carries it.
    assert unrelated["reason"].startswith(f"out of scope: distance {unrelated['scope_distance']:.2f}")
    assert unrelated["reason"].endswith("; no LLM configured: a person decides")
