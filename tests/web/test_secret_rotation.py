"""Each webhook source and the API accept several secrets at once (old and new), so a key can be rotated without
a single 401 to senders that do not retry."""

import pytest

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import Secret, Settings
from tests.support.settings import make_settings
from tests.support.vendors import jira_env, jira_fixture, jira_headers, zendesk_env, zendesk_headers

OLD, NEW, UNKNOWN = "old-signing-key-1", "new-signing-key-2", "never-configured-3"


@pytest.fixture
def rotating(sqlite_url, models_dir, zendesk_server, jira_server):
    env = {
        **zendesk_env(zendesk_server.url),
        **jira_env(jira_server.url),
        "TRIAGE_ZENDESK_WEBHOOK_SECRET": f"{OLD},{NEW}",
        "TRIAGE_JIRA_WEBHOOK_SECRET": f"{OLD}, {NEW}",
    }
    settings = make_settings(
        sqlite_url,
        models_dir,
        integrations="zendesk,jira",
        webhook_secret=Secret(f"{OLD}\n{NEW}\n"),
        api_tokens=Secret(f"{OLD}\n{NEW}"),
    )
    app = create_app(settings, environ=env)
    yield app.test_client()
    app.extensions["triage"].db.dispose()


@pytest.mark.parametrize("key, accepted", [(OLD, True), (NEW, True), (UNKNOWN, False)])
def test_the_generic_webhook_accepts_the_old_and_the_new_key(rotating, key, accepted):
    body, headers = signed_delivery(key, {"id": f"ROT-{key}", "body": "My card has not arrived"})
    assert rotating.post("/webhooks/generic", data=body, headers=headers).status_code == (202 if accepted else 401)


@pytest.mark.parametrize("key, accepted", [(OLD, True), (NEW, True), (UNKNOWN, False)])
def test_zendesk_accepts_the_old_and_the_new_secret(rotating, key, accepted):
    body = f'{{"event": "ticket.created", "ticket": {{"id": "{len(key)}{ord(key[0])}", "subject": "Card",'
    body += ' "description": "My card has not arrived"}}'
    data = body.encode()
    response = rotating.post("/webhooks/zendesk", data=data, headers=zendesk_headers(data, secret=key))
    assert response.status_code == (202 if accepted else 401)


@pytest.mark.parametrize("key, accepted", [(OLD, True), (NEW, True), (UNKNOWN, False)])
def test_jira_accepts_the_old_and_the_new_secret(rotating, key, accepted):
    body = jira_fixture("jira-to-matrix__issue_created")
    response = rotating.post("/webhooks/jira", data=body, headers=jira_headers(body, secret=key, identifier=key))
    assert response.status_code in ((200, 202) if accepted else (401,))


@pytest.mark.parametrize("token, accepted", [(OLD, True), (NEW, True), (UNKNOWN, False)])
def test_the_api_accepts_the_old_and_the_new_token(rotating, token, accepted):
    response = rotating.post(
        "/api/v1/tickets",
        json={"id": f"A-{token}", "body": "Exchange rate?"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == (202 if accepted else 401)


def test_a_secret_file_holds_one_value_per_line(tmp_path):
    path = tmp_path / "webhook_secret"
    path.write_text(f"{OLD}\n{NEW}\n")
    settings = Settings.from_env({"TRIAGE_WEBHOOK_SECRET_FILE": str(path), "TRIAGE_API_TOKENS": f"{OLD},{NEW}"})
    assert settings.webhook_secrets == [OLD, NEW] and settings.api_token_list == [OLD, NEW]
