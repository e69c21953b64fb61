"""The intake's group commit: many deliveries' new tickets stored in one transaction, on SQLite and Postgres."""

import uuid

import pytest
from sqlalchemy import delete, func, select

from service.core.domain import InboundTicket
from service.infra.db import Database
from service.infra.models import Ticket, WebhookEvent
from service.intake import flow as intake_flow


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.services)])
def db(request):
    database = Database(request.getfixturevalue(request.param))
    yield database
    with database.session() as session:  # the Postgres database is shared by the session's tests
        session.execute(delete(WebhookEvent).where(WebhookEvent.delivery_id.like("gc-%")))
        session.execute(delete(Ticket).where(Ticket.external_id.like("gc-%")))
        session.commit()
    database.dispose()


def row(external_id: str, delivery_id: str, body: str = "My card never arrived"):
    ticket = InboundTicket(
        source="generic", external_id=external_id, subject="", body=body, tags=("vip",), metadata={"tier": "gold"}
    )
    return intake_flow.new_ticket_row(ticket, delivery_id=delivery_id, body_sha256="0" * 64)


def test_a_batch_stores_new_tickets_once_and_leaves_every_repeat_to_the_look_up(db):
    run = uuid.uuid4().hex[:6]
    [(known_id, _), (_, _)] = intake_flow.store_new_tickets(
        db, [row(f"gc-{run}-known", f"gc-{run}-d-known"), row(f"gc-{run}-other", f"gc-{run}-d-other")]
    )
    results = intake_flow.store_new_tickets(
        db,
        [
            row(f"gc-{run}-a", f"gc-{run}-d-a"),  # new
            row(f"gc-{run}-a", f"gc-{run}-d-a2"),  # the same ticket again in this batch
            row(f"gc-{run}-b", f"gc-{run}-d-a"),  # another ticket with the first row's delivery id
            row(f"gc-{run}-known", f"gc-{run}-d-new"),  # a ticket stored before
            row(f"gc-{run}-c", f"gc-{run}-d-other"),  # a new ticket whose delivery id was recorded before
            row(f"gc-{run}-e", f"gc-{run}-d-e", body="x"),  # new
        ],
    )
    assert [r is not None for r in results] == [True, False, False, False, False, True]
    with db.session() as session:
        mine = select(Ticket).where(Ticket.external_id.like(f"gc-{run}-%"))
        stored = {t.external_id: t for t in session.scalars(mine)}
        assert sorted(stored) == sorted(f"gc-{run}-{k}" for k in ("known", "other", "a", "e"))
        assert stored[f"gc-{run}-known"].id == known_id
        assert (stored[f"gc-{run}-a"].tags, stored[f"gc-{run}-a"].meta) == (["vip"], {"tier": "gold"})
        assert stored[f"gc-{run}-a"].attempts == 0 and stored[f"gc-{run}-a"].revision == 1
        for result, external_id in ((results[0], "a"), (results[5], "e")):
            ticket_id, event_id = result
            assert stored[f"gc-{run}-{external_id}"].id == ticket_id
            assert session.get(WebhookEvent, event_id).ticket_id == ticket_id
        assert (
            session.scalar(
                select(func.count()).select_from(WebhookEvent).where(WebhookEvent.delivery_id.like(f"gc-{run}-%"))
            )
            == 4
        )


def test_a_row_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce column lengths")
    run = uuid.uuid4().hex[:6]
    too_long = row(f"gc-{run}-" + "x" * 200, f"gc-{run}-d-long")  # past the column's 128 characters
    results = intake_flow.store_new_tickets(
        db, [row(f"gc-{run}-ok1", f"gc-{run}-d1"), too_long, row(f"gc-{run}-ok2", f"gc-{run}-d2")]
    )
    assert isinstance(results[1], Exception) and "too long" in str(results[1])
    assert all(isinstance(r, tuple) for r in (results[0], results[2]))
    with db.session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(Ticket)
                .where(Ticket.external_id.in_([f"gc-{run}-ok1", f"gc-{run}-ok2"]))
            )
            == 2
        )
