"""Write-back delivery on SQLite, with the fake helpdesk behind a real loopback HTTP server."""

import pytest

from service.infra.models import WritebackRow
from service.writeback import flow as writeback_flow
from tests.support.flows import deliver, make_due, process, receive


@pytest.fixture
def app(helpdesk_app):
    """The app of these tests delivers write-backs to the fake helpdesk over HTTP."""
    return helpdesk_app


def test_a_delivered_writeback_reaches_the_helpdesk_with_an_idempotency_key(client, runtime, fake_helpdesk):
    writeback_id = process(runtime, receive(client, ticket_id="ZD 42/x"))
    assert deliver(runtime, writeback_id).outcome == "done"
    assert deliver(runtime, writeback_id).outcome == "not_due"  # a redelivered task sends nothing
    [request] = fake_helpdesk.requests
    assert request.path == "/api/tickets/ZD%2042%2Fx/triage"
    assert request.headers["Idempotency-Key"] == f"triage-writeback-{writeback_id}"
    assert request.body["group"] == "fraud_security" and request.body["label"] == "lost_or_stolen_card"
    assert "Why: confidence" in request.body["internal_note"]


def test_a_5xx_is_retried_with_backoff_and_then_succeeds(client, runtime, fake_helpdesk):
    writeback_id = process(runtime, receive(client))
    fake_helpdesk.fail(503)
    first = deliver(runtime, writeback_id)
    assert first.outcome == "retrying" and first.retry_in == runtime.settings.writeback_backoff_s
    assert deliver(runtime, writeback_id).outcome == "not_due"  # not before next_attempt_at
    make_due(runtime, writeback_id)
    assert deliver(runtime, writeback_id).outcome == "done"
    assert [r.status for r in fake_helpdesk.requests] == [503, 200]
    with runtime.db.session() as session:
        wb = session.get(WritebackRow, writeback_id)
        assert (wb.status, wb.attempts, wb.last_error) == ("done", 2, None)


def test_429_honours_retry_after(client, runtime, fake_helpdesk):
    writeback_id = process(runtime, receive(client))
    fake_helpdesk.fail(429, headers={"Retry-After": "17"})
    assert deliver(runtime, writeback_id).retry_in == 17


def test_a_rate_limit_storm_neither_uses_up_the_attempts_nor_lengthens_the_backoff(client, runtime, fake_helpdesk):
    # Found by bench/faults.py helpdesk_storm: each 429 counted as a failed attempt, so a storm longer than
    # TRIAGE_WRITEBACK_MAX_ATTEMPTS answers failed write-backs for good, and a 500 after it waited 2**n longer.
    writeback_id = process(runtime, receive(client))
    fake_helpdesk.fail(429, times=runtime.settings.writeback_max_attempts + 2, headers={"Retry-After": "1"})
    for _ in range(runtime.settings.writeback_max_attempts + 2):
        delivery = deliver(runtime, writeback_id)
        assert (delivery.outcome, delivery.retry_in) == ("throttled", 1)
        make_due(runtime, writeback_id)
    fake_helpdesk.fail(500)
    assert deliver(runtime, writeback_id).retry_in == runtime.settings.writeback_backoff_s  # the first failure
    make_due(runtime, writeback_id)
    assert deliver(runtime, writeback_id).outcome == "done"
    with runtime.db.session() as session:
        wb = session.get(WritebackRow, writeback_id)
        assert (wb.status, wb.attempts) == ("done", 2)


def test_a_429_saying_retry_at_once_still_waits_a_second(client, runtime, fake_helpdesk):
    writeback_id = process(runtime, receive(client))
    fake_helpdesk.fail(429, headers={"Retry-After": "0"})
    assert deliver(runtime, writeback_id).retry_in == 1


def test_a_4xx_is_permanent_and_stays_visible_with_the_helpdesk_error(client, runtime, fake_helpdesk):
    writeback_id = process(runtime, receive(client))
    fake_helpdesk.fail(404)
    assert deliver(runtime, writeback_id).outcome == "failed"
    with runtime.db.session() as session:
        wb = session.get(WritebackRow, writeback_id)
        assert wb.status == "failed" and "HTTP 404" in wb.last_error and "scripted failure" in wb.last_error


def test_transient_failures_stop_after_the_attempt_bound_and_can_be_retried(client, runtime, fake_helpdesk):
    writeback_id = process(runtime, receive(client))
    fake_helpdesk.fail(500, times=3)
    outcomes = []
    for _ in range(3):
        outcomes.append(deliver(runtime, writeback_id).outcome)
        make_due(runtime, writeback_id)
    assert outcomes == ["retrying", "retrying", "failed"]
    with runtime.db.session() as session:
        assert writeback_flow.retry_failed_writebacks(session) == [writeback_id]
    assert deliver(runtime, writeback_id).outcome == "done"
