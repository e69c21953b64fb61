"""Without TRIAGE_HELPDESK, generic and API tickets are decided and visibly not written back; the fake helpdesk
is refused outside the demo and the tests."""

import pytest

from service import create_app
from service.core.settings import ConfigError, Settings
from service.runtime import NOT_WRITTEN_BACK
from tests.support.flows import deliver, process, receive
from tests.support.review import PASSWORD, SECRET_KEY, sign_in
from tests.support.settings import make_settings


def test_no_helpdesk_is_the_default():
    assert Settings.from_env({}).helpdesk == ""


@pytest.fixture
def no_helpdesk_app(sqlite_url, models_dir):
    from service.core.settings import Secret
    from service.review import users as review_users

    app = create_app(make_settings(sqlite_url, models_dir, helpdesk="", secret_key=Secret(SECRET_KEY)), environ={})
    with app.extensions["triage"].db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    yield app
    app.extensions["triage"].db.dispose()


def test_a_generic_ticket_is_decided_and_marked_not_written_back_where_agents_and_metrics_see_it(no_helpdesk_app):
    from service.infra.models import WritebackRow

    rt = no_helpdesk_app.extensions["triage"]
    client = no_helpdesk_app.test_client()
    ticket_id = receive(client, "NO-HD-1")
    (writeback_id,) = [process(rt, ticket_id)]
    assert writeback_id is not None
    assert deliver(rt, writeback_id).outcome == "not_sent"
    with rt.db.session() as session:
        wb = session.get(WritebackRow, writeback_id)
        assert (wb.status, wb.target, wb.last_error) == ("not_sent", "none", NOT_WRITTEN_BACK)
        assert wb.decision.ticket.status == "decided"
    assert deliver(rt, writeback_id).outcome == "not_due"  # never picked up again
    sign_in(client, "ann")
    page = client.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert "Not written back: no helpdesk configured" in page and "not_sent" in page
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "triage_helpdesk_configured 0.0" in metrics
    assert 'triage_writebacks{status="not_sent"} 1.0' in metrics


def test_with_a_helpdesk_the_metrics_say_it_is_configured(client):
    assert "triage_helpdesk_configured 1.0" in client.get("/metrics").get_data(as_text=True)


@pytest.mark.parametrize("setting", [{"helpdesk": "fake"}, {"helpdesk": "", "integrations": "fake"}])
def test_the_fake_helpdesk_is_refused_unless_the_demo_or_the_tests_allow_it(sqlite_url, models_dir, setting):
    settings = make_settings(sqlite_url, models_dir, allow_fake_helpdesk=False, **setting)
    with pytest.raises(ConfigError, match="fake helpdesk, which is for the demo and the tests only"):
        create_app(settings, environ={})
    allowed = create_app(settings.replace(allow_fake_helpdesk=True), environ={})
    allowed.extensions["triage"].db.dispose()


def test_the_demo_allows_the_fake_helpdesk_only_when_no_helpdesk_is_named():
    source = (__import__("pathlib").Path(__file__).resolve().parents[2] / "training" / "demo.py").read_text()
    assert 'if "TRIAGE_HELPDESK" not in os.environ:' in source
    assert 'settings.replace(helpdesk="fake", allow_fake_helpdesk=True)' in source
