"""Concurrent deliveries on Postgres: the intake's INSERT ... ON CONFLICT path stores each ticket and delivery once."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, func, select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.infra.models import Ticket, WebhookEvent
from tests.support.settings import SECRET, make_settings

pytestmark = pytest.mark.services


@pytest.fixture
def pg_app(postgres_url, models_dir):
    app = create_app(make_settings(postgres_url, models_dir), environ={})
    yield app
    # The Postgres database is shared by the session's tests: leave it as it was found.
    with app.extensions["triage"].db.session() as session:
        session.execute(delete(WebhookEvent).where(WebhookEvent.delivery_id.like("d-race-%")))
        session.execute(delete(Ticket).where(Ticket.external_id.like("race-%")))
        session.commit()
    app.extensions["triage"].db.dispose()


def post_all(app, deliveries):
    def send(delivery):
        body, headers = delivery
        with app.test_client() as client:
            response = client.post("/webhooks/generic", data=body, headers=headers)
            return response.status_code, response.get_json()

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(send, deliveries))


def test_the_same_delivery_sent_eight_times_at_once_is_stored_once(pg_app):
    delivery = signed_delivery(SECRET, {"id": "race-1", "body": "My card never arrived"}, delivery_id="d-race-1")
    answers = post_all(pg_app, [delivery] * 8)
    assert sorted(status for status, _ in answers) == [200] * 7 + [202]
    assert {body["ticket_id"] for _, body in answers} == {answers[0][1]["ticket_id"]}
    assert sum(body["duplicate"] for _, body in answers) == 7
    with pg_app.extensions["triage"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.external_id == "race-1")) == 1
        assert (
            session.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.delivery_id == "d-race-1"))
            == 1
        )


def test_one_ticket_in_eight_different_deliveries_at_once_is_one_ticket_with_eight_events(pg_app):
    # Each signed on its own (a second apart): the same signed request under eight ids would be one delivery replayed.
    now = int(time.time())
    deliveries = [
        signed_delivery(
            SECRET, {"id": "race-2", "body": "Exchange rate?"}, delivery_id=f"d-race-2-{i}", timestamp=now - i
        )
        for i in range(8)
    ]
    answers = post_all(pg_app, deliveries)
    assert sorted(status for status, _ in answers) == [200] * 7 + [202]
    assert sorted(body["outcome"] for _, body in answers) == ["created"] + ["known_ticket"] * 7
    with pg_app.extensions["triage"].db.session() as session:
        [ticket_id] = session.scalars(select(Ticket.id).where(Ticket.external_id == "race-2")).all()
        events = session.scalars(select(WebhookEvent.ticket_id).where(WebhookEvent.delivery_id.like("d-race-2-%")))
        assert list(events) == [ticket_id] * 8


def test_a_repeated_delivery_id_for_another_ticket_is_refused_and_stores_nothing(pg_app):
    first = signed_delivery(SECRET, {"id": "race-3", "body": "Lost card"}, delivery_id="d-race-3")
    other = signed_delivery(SECRET, {"id": "race-4", "body": "Top up"}, delivery_id="d-race-3")
    assert post_all(pg_app, [first])[0][0] == 202
    [(status, body)] = post_all(pg_app, [other])
    assert status == 422 and "another body" in body["detail"]  # the same key with another body is a conflict
    with pg_app.extensions["triage"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(Ticket).where(Ticket.external_id == "race-4")) == 0
