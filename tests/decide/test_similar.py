"""Similar and duplicate tickets through the webhook, the decision and the write-back, with a model that embeds.

A tiny frozen-embedding model (all-MiniLM-L6-v2 under a logistic regression) decides real tickets on SQLite;
write-backs go to the fake helpdesk's HTTP server, so the tests see what the helpdesk received.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import delete, select, update

from service import create_app
from service.core.clock import now_utc
from service.decide import similar
from service.decide.classify import BASE_SPACE
from service.decide.vector_index import IndexStore
from service.infra.models import Ticket, TicketVector
from service.infra.queries import get_ticket
from tests.support.flows import deliver, process, receive
from tests.support.settings import make_settings

CARD_LATE = "I ordered a new card two weeks ago and it still has not arrived in the post"
CARD_LATE_AGAIN = "My new card that I ordered two weeks ago has still not arrived by post"
TOP_UP = "My top up with a bank transfer failed, the money never showed up"
ATM = "The cash machine kept my card and did not give me any money"
RATE = "What exchange rate do you use when I pay in dollars?"


@pytest.fixture
def app(tmp_path, sqlite_url, frozen_models_dir, fake_helpdesk):
    application = create_app(
        make_settings(sqlite_url, frozen_models_dir, model_name="frozen", similar_dir=tmp_path / "similar"),
        environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url},
    )
    yield application
    application.extensions["triage"].db.dispose()


def decide(app, client, external_id, body, requester="ann@example.com"):
    runtime = app.extensions["triage"]
    ticket_id = receive(client, external_id, body=body, requester=requester)
    writeback_id = process(runtime, ticket_id)
    with runtime.db.session() as session:
        ticket = get_ticket(session=session, ticket_id=ticket_id)
        return ticket_id, writeback_id, dict(ticket.decision.reason)


def vectors(runtime):
    with runtime.db.session() as session:
        return {v.ticket_id: (v.model, bytes(v.vector)) for v in session.scalars(select(TicketVector))}


def test_each_decided_ticket_keeps_its_embedding_and_lists_its_most_similar_earlier_tickets(app, client):
    runtime = app.extensions["triage"]
    first, _, reason = decide(app, client, "T-1", CARD_LATE, requester="ann@example.com")
    assert reason["similar"] == [] and "duplicate_of" not in reason
    others = [
        decide(app, client, f"T-{i}", body, requester=f"p{i}@example.com")[0]
        for i, body in enumerate([TOP_UP, ATM, RATE], start=2)
    ]
    last, _, reason = decide(app, client, "T-9", CARD_LATE_AGAIN, requester="bob@example.com")

    stored = vectors(runtime)
    assert set(stored) == {first, *others, last}
    assert {model for model, _ in stored.values()} == {BASE_SPACE}
    unit = np.frombuffer(stored[last][1], dtype=np.float32)
    assert unit.shape == (384,) and abs(float(np.linalg.norm(unit)) - 1) < 1e-4
    # The paraphrase comes first, then the rest, most similar first; only earlier tickets, never itself.
    found = [s["ticket_id"] for s in reason["similar"]]
    assert found[0] == first and sorted(found) == sorted([first, *others])
    scores = [s["similarity"] for s in reason["similar"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.8 > scores[-1]


def test_a_paraphrase_from_the_same_requester_is_flagged_and_written_back_as_a_link(app, client, fake_helpdesk):
    runtime = app.extensions["triage"]
    first, _, _ = decide(app, client, "T-1", CARD_LATE, requester="ann@example.com")
    second, writeback_id, reason = decide(app, client, "T-2", CARD_LATE_AGAIN, requester="Ann@Example.com ")
    duplicate = reason["duplicate_of"]
    assert duplicate["ticket_id"] == first and duplicate["external_id"] == "T-1"
    assert duplicate["why"] == "same requester" and duplicate["similarity"] >= runtime.settings.duplicate_threshold
    assert f"near-duplicate of #{first} (same requester" in reason["reason"]

    assert deliver(runtime, writeback_id).outcome == "done"
    [sent] = [r.body for r in fake_helpdesk.successful() if r.path.endswith("/T-2/triage")]
    assert sent["duplicate_of"] == "T-1" and "triage_duplicate" in sent["tags"]
    assert f"Possible duplicate of T-1 (Triage #{first}): same requester" in sent["internal_note"]


def test_a_paraphrase_of_someone_elses_long_closed_ticket_is_similar_but_not_a_duplicate(app, client, fake_helpdesk):
    runtime = app.extensions["triage"]
    first, _, _ = decide(app, client, "T-1", CARD_LATE, requester="ann@example.com")
    with runtime.db.session() as session:
        old = now_utc() - timedelta(days=runtime.settings.duplicate_open_days + 1)
        session.execute(update(Ticket).where(Ticket.id == first).values(received_at=old))
        session.commit()
    _, writeback_id, reason = decide(app, client, "T-2", CARD_LATE_AGAIN, requester="bob@example.com")
    assert reason["similar"][0]["ticket_id"] == first and "duplicate_of" not in reason
    assert deliver(runtime, writeback_id).outcome == "done"
    [sent] = [r.body for r in fake_helpdesk.successful() if r.path.endswith("/T-2/triage")]
    assert "duplicate_of" not in sent and "triage_duplicate" not in sent["tags"]


def test_a_paraphrase_of_someone_elses_recent_ticket_is_a_duplicate_of_an_open_ticket(app, client):
    first, _, _ = decide(app, client, "T-1", CARD_LATE, requester="ann@example.com")
    _, _, reason = decide(app, client, "T-2", CARD_LATE_AGAIN, requester="bob@example.com")
    assert reason["duplicate_of"]["ticket_id"] == first and reason["duplicate_of"]["why"] == "still open"


def test_an_unrelated_ticket_from_the_same_requester_is_no_duplicate(app, client):
    decide(app, client, "T-1", CARD_LATE, requester="ann@example.com")
    _, _, reason = decide(app, client, "T-2", RATE, requester="ann@example.com")
    assert reason["similar"] and "duplicate_of" not in reason


def test_the_index_answers_for_what_it_holds_and_the_database_for_what_came_after(app, client):
    runtime = app.extensions["triage"]
    first, _, _ = decide(app, client, "T-1", CARD_LATE, requester="ann@example.com")
    second, _, _ = decide(app, client, "T-2", TOP_UP, requester="ann@example.com")
    with runtime.db.session() as session:
        # The first was stored well before the second: the index built now holds both, and its watermark is
        # the second's time, so a search reads the first only from the index.
        session.execute(
            update(TicketVector)
            .where(TicketVector.ticket_id == first)
            .values(created_at=now_utc() - timedelta(hours=3))
        )
        session.execute(
            update(TicketVector)
            .where(TicketVector.ticket_id == second)
            .values(created_at=now_utc() - timedelta(hours=1))
        )
        session.commit()
        report = similar.refresh_index(runtime, session)
    assert report[BASE_SPACE]["indexed"] == 2 and report[BASE_SPACE]["added"] == 2
    published = IndexStore(runtime.settings.similar_dir).published(BASE_SPACE)
    assert published is not None and published.count == 2
    with runtime.db.session() as session:
        session.execute(delete(TicketVector).where(TicketVector.ticket_id == first))
        session.commit()
    third, _, reason = decide(app, client, "T-3", CARD_LATE_AGAIN, requester="ann@example.com")
    assert reason["similar"][0]["ticket_id"] == first  # from the index: its row is gone from the database
    assert reason["duplicate_of"]["ticket_id"] == first

    # Topping up adds only what came since; a rebuild starts from the rows, so the deleted one is gone.
    with runtime.db.session() as session:
        assert similar.refresh_index(runtime, session)[BASE_SPACE]["added"] >= 1
        rebuilt = similar.refresh_index(runtime, session, rebuild=True)[BASE_SPACE]
    assert rebuilt["indexed"] == 2 and rebuilt["stored"] == 2


def test_a_second_writer_leaves_the_index_alone(app, client):
    runtime = app.extensions["triage"]
    decide(app, client, "T-1", CARD_LATE)
    with IndexStore(runtime.settings.similar_dir).writer() as mine, runtime.db.session() as session:
        assert mine
        assert similar.refresh_index(runtime, session) == {"skipped": "another process is writing the index"}


def test_with_similar_tickets_off_nothing_is_stored_or_searched(tmp_path, sqlite_url, frozen_models_dir):
    application = create_app(
        make_settings(sqlite_url, frozen_models_dir, model_name="frozen", similar_tickets=False), environ={}
    )
    client = application.test_client()
    decide(application, client, "T-1", CARD_LATE)
    _, _, reason = decide(application, client, "T-2", CARD_LATE_AGAIN)
    assert "similar" not in reason and "duplicate_of" not in reason
    assert vectors(application.extensions["triage"]) == {}
    application.extensions["triage"].db.dispose()


def test_the_baseline_computes_no_embedding_so_its_tickets_have_no_similar_list(sqlite_url, models_dir):
    application = create_app(make_settings(sqlite_url, models_dir), environ={})
    runtime = application.extensions["triage"]
    ticket_id = receive(application.test_client(), "T-1", body=CARD_LATE)
    process(runtime, ticket_id)
    with runtime.db.session() as session:
        reason = get_ticket(session=session, ticket_id=ticket_id).decision.reason
    assert reason["model"].startswith("baseline@")
    assert "similar" not in reason and vectors(runtime) == {}
    runtime.db.dispose()


def test_the_embedded_worker_tops_the_index_up_itself(tmp_path, sqlite_url, frozen_models_dir):
    from service.worker.embedded import EmbeddedWorker
    from tests.support.processes import wait_until

    settings = make_settings(
        sqlite_url, frozen_models_dir, model_name="frozen", similar_dir=tmp_path / "idx", similar_index_interval_s=1
    )
    application = create_app(settings, environ={})
    decide(application, application.test_client(), "T-1", CARD_LATE)
    store = IndexStore(tmp_path / "idx")
    assert store.published(BASE_SPACE) is None
    worker = EmbeddedWorker(application.extensions["celery"], concurrency=1, sweep_interval_s=0.2)
    worker.start()
    try:
        published = wait_until(lambda: store.published(BASE_SPACE), timeout=30, message="the index published")
        assert published.count == 1
    finally:
        worker.stop()
        application.extensions["triage"].db.dispose()


def test_the_ticket_api_returns_the_similar_tickets_and_the_duplicate_as_its_schema_says(app, client):
    import jsonschema

    from service.web.openapi import document
    from tests.support.settings import TOKEN

    first, _, _ = decide(app, client, "T-1", CARD_LATE, requester="ann@example.com")
    second, _, _ = decide(app, client, "T-2", CARD_LATE_AGAIN, requester="ann@example.com")
    response = client.get(f"/api/v1/tickets/{second}", headers={"Authorization": f"Bearer {TOKEN}"})
    decision = response.get_json()["decision"]
    assert decision["similar"][0]["ticket_id"] == first and decision["duplicate_of"]["ticket_id"] == first
    spec = document()
    jsonschema.validate(
        response.get_json(), {**spec["components"]["schemas"]["TicketView"], "components": spec["components"]}
    )


def test_an_unreadable_index_costs_the_explanation_its_similar_tickets_never_the_decision(app, client, caplog):
    runtime = app.extensions["triage"]
    decide(app, client, "T-1", CARD_LATE)
    directory = runtime.settings.similar_dir
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "all-MiniLM-L6-v2.1.usearch").write_bytes(b"not an index")
    pointer = {"space": BASE_SPACE, "file": "all-MiniLM-L6-v2.1.usearch", "ndim": 384, "count": 1, "watermark": None}
    (directory / "all-MiniLM-L6-v2.json").write_text(json.dumps(pointer))
    second, writeback_id, reason = decide(app, client, "T-2", CARD_LATE_AGAIN)
    assert writeback_id is not None and reason["status"] and "similar" not in reason
    assert "similar tickets could not be searched" in caplog.text
    assert set(vectors(runtime)) == {1, second}  # its embedding is still kept for later tickets
