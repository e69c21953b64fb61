"""A ticket whose text cannot be fetched fails or waits alone; it gives up by time, not count, and comes back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from service import create_app
from service.core.clock import now_utc
from service.decide.flow import process_tickets, retry_failed_tickets
from service.infra.models import Ticket
from service.worker.sweep import stragglers
from tests.support.settings import make_settings
from tests.support.vendors import zendesk_env, zendesk_headers


@pytest.fixture
def app(sqlite_url, models_dir, zendesk_server):
    settings = make_settings(sqlite_url, models_dir, integrations="zendesk", batch_size=4)
    application = create_app(settings, environ=zendesk_env(zendesk_server.url))
    yield application
    application.extensions["triage"].db.dispose()


def trigger(client, ticket_id: int) -> int:
    body = f'{{"event": "ticket.created", "ticket": {{"id": "{ticket_id}"}}}}'.encode()
    response = client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body, invocation=f"inv-{ticket_id}"))
    assert response.status_code == 202, response.get_json()
    return response.get_json()["ticket_id"]


def statuses(runtime) -> dict[str, tuple[str, str | None]]:
    with runtime.db.session() as session:
        return {t.external_id: (t.status, t.last_error) for t in session.scalars(select(Ticket))}


def test_a_deleted_ticket_fails_alone_and_its_batch_companions_are_decided(client, runtime, zendesk_server):
    zendesk_server.add_ticket(101, "Card lost", "I lost my card")
    zendesk_server.add_ticket(103, "Exchange rate", "What exchange rate do you use?")
    ids = [trigger(client, n) for n in (101, 102, 103)]  # 102 was deleted in Zendesk meanwhile
    with runtime.db.session() as session:
        writebacks = process_tickets(runtime, session, ids, batch_size=4)
    assert len(writebacks) == 2
    found = statuses(runtime)
    assert found["101"][0] == found["103"][0] == "decided"
    assert found["102"][0] == "failed" and "RecordNotFound" in found["102"][1]


def test_an_outage_defers_the_fetch_without_failing_and_a_429_waits_as_long_as_it_says(client, runtime, zendesk_server):
    zendesk_server.add_ticket(201, "Card lost", "I lost my card")
    ticket_id = trigger(client, 201)
    for status, headers in ((503, {}), (503, {}), (429, {"Retry-After": "120"})):
        zendesk_server.fail(status, headers=headers)
        before = now_utc()
        with runtime.db.session() as session:
            assert process_tickets(runtime, session, [ticket_id]) == []
            ticket = session.get(Ticket, ticket_id)
            assert ticket.status == "received" and f"HTTP {status}" in ticket.last_error
            wait = (ticket.retry_at.replace(tzinfo=before.tzinfo) - before).total_seconds()
            ticket.retry_at = None  # due again now, as the sweep would find it later
            session.commit()
    assert 110 <= wait <= 130  # the 429's Retry-After, not our backoff
    with runtime.db.session() as session:
        assert len(process_tickets(runtime, session, [ticket_id])) == 1
    assert statuses(runtime)["201"][0] == "decided"


def test_a_deferred_ticket_is_not_claimed_before_its_time_and_the_sweep_brings_it_back_then(
    client, runtime, zendesk_server
):
    zendesk_server.add_ticket(301, "Card lost", "I lost my card")
    ticket_id = trigger(client, 301)
    zendesk_server.fail(503)
    with runtime.db.session() as session:
        process_tickets(runtime, session, [ticket_id])
        assert process_tickets(runtime, session, [ticket_id]) == []  # not due: no fetch, no attempt
        assert ticket_id not in stragglers(runtime, session)[0]
        session.get(Ticket, ticket_id).retry_at = now_utc() - timedelta(seconds=1)
        session.commit()
        assert ticket_id in stragglers(runtime, session)[0]
    assert len([r for r in zendesk_server.requests if r.method == "GET"]) == 1


def test_a_ticket_gives_up_by_elapsed_time_not_by_the_number_of_attempts(client, runtime, zendesk_server):
    zendesk_server.add_ticket(401, "Card lost", "I lost my card")
    ticket_id = trigger(client, 401)
    for _ in range(8):  # many more outages than the old five attempts: still waiting, not failed
        zendesk_server.fail(503)
        with runtime.db.session() as session:
            process_tickets(runtime, session, [ticket_id])
            session.get(Ticket, ticket_id).retry_at = None
            session.commit()
    assert statuses(runtime)["401"][0] == "received"
    with runtime.db.session() as session:
        session.get(Ticket, ticket_id).received_at = now_utc() - timedelta(seconds=runtime.settings.process_give_up_s)
        session.commit()
    zendesk_server.fail(503)
    with runtime.db.session() as session:
        process_tickets(runtime, session, [ticket_id])
    status, error = statuses(runtime)["401"]
    assert status == "failed" and "gave up after 86400 s" in error and "HTTP 503" in error


def test_failed_tickets_come_back_by_redelivery_or_by_the_operator(client, runtime, zendesk_server):
    ids = [trigger(client, n) for n in (501, 502)]
    with runtime.db.session() as session:
        process_tickets(runtime, session, ids, batch_size=4)
    assert [statuses(runtime)[k][0] for k in ("501", "502")] == ["failed", "failed"]
    zendesk_server.add_ticket(501, "Card lost", "I lost my card")
    zendesk_server.add_ticket(502, "Exchange rate", "What exchange rate do you use?")
    # Zendesk sends the ticket again (another invocation): it is queued again, not just recorded.
    body = b'{"event": "ticket.updated", "ticket": {"id": "501"}}'
    again = client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body, invocation="inv-501-b"))
    assert again.status_code == 202 and again.get_json()["outcome"] == "requeued"
    with runtime.db.session() as session:
        assert retry_failed_tickets(session, source="zendesk") == [ids[1]]
        assert len(process_tickets(runtime, session, ids, batch_size=4)) == 2
    assert [statuses(runtime)[k][0] for k in ("501", "502")] == ["decided", "decided"]


def test_the_metrics_count_failed_tickets(client, runtime):
    trigger(client, 601)
    with runtime.db.session() as session:
        process_tickets(runtime, session, [session.scalars(select(Ticket.id)).one()])
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'triage_tickets{status="failed"} 1.0' in metrics
