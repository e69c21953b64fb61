"""The sweep: tickets and write-backs that should be in the queue but are not."""

from datetime import timedelta

import pytest

from service.core import clock as core_clock
from service.infra.models import Ticket
from service.worker import sweep as worker_sweep
from tests.support.flows import process, receive


@pytest.fixture
def app(helpdesk_app):
    """The app of these tests delivers write-backs to the fake helpdesk over HTTP."""
    return helpdesk_app


def test_the_sweep_finds_tickets_that_were_acknowledged_but_never_processed(client, runtime):
    ticket_id = receive(client)
    with runtime.db.session() as session:
        assert worker_sweep.stragglers(runtime, session) == ([], [])  # just received: still in its grace period
        session.get(Ticket, ticket_id).received_at = core_clock.now_utc() - timedelta(minutes=5)
        session.commit()
        assert worker_sweep.stragglers(runtime, session)[0] == [ticket_id]


def test_a_ticket_whose_worker_died_mid_way_is_taken_up_again_after_the_lease(client, runtime):
    ticket_id = receive(client)
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        ticket.status, ticket.claimed_at = "processing", core_clock.now_utc()
        session.commit()
    assert process(runtime, ticket_id) is None  # someone holds a fresh claim
    with runtime.db.session() as session:
        session.get(Ticket, ticket_id).claimed_at = core_clock.now_utc() - timedelta(hours=1)
        session.commit()
        assert ticket_id in worker_sweep.stragglers(runtime, session)[0]
    assert process(runtime, ticket_id) is not None
