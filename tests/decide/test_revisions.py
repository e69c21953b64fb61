"""A decision counts only for the revision its claim read: re-routes never lose a revision or send an old one."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from service import create_app
from service.decide.flow import process_tickets
from service.infra.models import DecisionRow, LLMCall, Ticket, WritebackRow
from service.writeback.flow import deliver_writeback
from tests.support.chat import ChatServer
from tests.support.flows import strict_rules
from tests.support.settings import make_settings
from tests.support.vendors import zendesk_env, zendesk_headers

LLM_ENV = {"TRIAGE_LLM_MODEL": "gpt-test", "TRIAGE_LLM_API_KEY": "sk-test"}


class SignallingChat(ChatServer):
    """Says when a call arrives, before it answers (the recorded request list grows only after the answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def _complete(self, m, request):
        self.arrived.set()
        return super()._complete(m, request)


@pytest.fixture
def chat():
    server = SignallingChat().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite_url", pytest.param("postgres_url", marks=pytest.mark.services)])
def app(request, models_dir, zendesk_server, chat, tmp_path):
    url = request.getfixturevalue(request.param)
    settings = make_settings(
        url, models_dir, integrations="zendesk", reroute_on_update=True, routing_file=strict_rules(tmp_path)
    )
    env = {**zendesk_env(zendesk_server.url), **LLM_ENV, "TRIAGE_LLM_BASE_URL": f"{chat.url}/v1"}
    application = create_app(settings, environ=env)
    yield application
    application.extensions["triage"].db.dispose()


def deliver(client, ticket_id: int, event: str, invocation: str):
    body = f'{{"event": "{event}", "ticket": {{"id": "{ticket_id}"}}}}'.encode()
    return client.post("/webhooks/zendesk", data=body, headers=zendesk_headers(body, invocation=invocation))


def test_an_update_while_the_ticket_is_being_decided_drops_the_old_decision_and_decides_the_new_text(
    client, runtime, zendesk_server, chat
):
    zendesk_server.add_ticket(701, "Card", "Where is my new card?")
    ticket_id = deliver(client, 701, "ticket.created", "inv-1").get_json()["ticket_id"]
    chat.delay_s = 1.5  # the worker waits on the LLM while the helpdesk sends an update
    worker = threading.Thread(target=lambda: _process(runtime, ticket_id))
    worker.start()
    assert chat.arrived.wait(10), "the escalation of revision 1 never reached the LLM"
    zendesk_server.tickets[701]["description"] = "Someone took money from my account: fraud!"
    assert deliver(client, 701, "ticket.updated", "inv-2").get_json()["outcome"] == "rerouted"
    worker.join(10)
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert (ticket.status, ticket.revision) == ("received", 2)  # revision 2 still waits for its decision
        old = [d.revision for d in ticket.decisions]
    if runtime.db.url.startswith("postgresql"):
        assert old == []  # the update committed during the LLM call: the worker's decision of revision 1 is dropped
    else:
        assert old in ([], [1])  # SQLite serialises the update after the worker's transaction
    chat.delay_s = 0
    assert len(_process(runtime, ticket_id)) == 1
    with runtime.db.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket.status == "decided" and [d.revision for d in ticket.decisions][-1] == 2
        assert "fraud" in ticket.body


def test_a_write_back_of_a_superseded_revision_is_never_sent(client, runtime, zendesk_server):
    zendesk_server.add_ticket(702, "Card", "Where is my new card?")
    ticket_id = deliver(client, 702, "ticket.created", "inv-3").get_json()["ticket_id"]
    [first] = _process(runtime, ticket_id)
    assert deliver(client, 702, "ticket.updated", "inv-4").get_json()["outcome"] == "rerouted"
    [second] = _process(runtime, ticket_id)
    with runtime.db.session() as session:
        assert deliver_writeback(runtime, session, first).outcome == "superseded"
        assert deliver_writeback(runtime, session, second).outcome == "done"
        old = session.get(WritebackRow, first)
        assert old.status == "superseded" and "revision 2" in old.last_error
    puts = [r for r in zendesk_server.requests if r.method == "PUT"]
    assert len(puts) == 1


def test_the_lease_is_renewed_while_the_llm_answers_so_no_other_worker_takes_the_batch(
    client, runtime, zendesk_server, chat
):
    runtime.settings = runtime.settings.replace(claim_lease_s=1)
    for n in (801, 802, 803):
        zendesk_server.add_ticket(n, "Card", f"Where is my card number {n}?")
    ids = [deliver(client, n, "ticket.created", f"inv-{n}").get_json()["ticket_id"] for n in (801, 802, 803)]
    with runtime.db.session() as session:  # fetch the texts first, so the batch below is only LLM calls
        for ticket in session.scalars(select(Ticket).where(Ticket.id.in_(ids))):
            ticket.needs_fetch, ticket.subject, ticket.body = False, "Card", f"Where is my card {ticket.id}?"
        session.commit()
    chat.delay_s = 0.8  # three calls: 2.4 s, more than twice the lease
    first = threading.Thread(target=lambda: _process(runtime, ids[0], batch_size=3))
    first.start()
    assert chat.arrived.wait(10), "the first worker's first LLM call never came"
    deadline = time.monotonic() + 2.2
    taken = []
    while time.monotonic() < deadline:  # a second worker keeps trying, as the sweep would after the lease
        taken += _process(runtime, ids[-1], batch_size=3)
        time.sleep(0.2)
    first.join(10)
    assert taken == []
    with runtime.db.session() as session:
        calls = session.scalars(select(LLMCall).where(LLMCall.ticket_id.in_(ids))).all()
        assert len(calls) == 3  # each ticket's LLM call paid once
        assert len(session.scalars(select(DecisionRow).where(DecisionRow.ticket_id.in_(ids))).all()) == 3


def _process(runtime, ticket_id: int, batch_size: int = 1) -> list[int]:
    with runtime.db.session() as session:
        return process_tickets(runtime, session, [ticket_id], batch_size=batch_size)
