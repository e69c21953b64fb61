"""While the database is unreachable, intake refuses with 503 + Retry-After (senders retry) and /readyz fails."""

import socket

import pytest

from integrations.fake.webhook import signed_delivery
from service import create_app
from tests.support.settings import SECRET, make_settings


@pytest.fixture
def unreachable_client(models_dir):
    """An app whose Postgres is down: a real connection to a port where nothing listens, refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(make_settings(f"postgresql+psycopg://postgres@127.0.0.1:{port}/triage", models_dir), environ={})
    yield app.test_client()
    app.extensions["triage"].db.dispose()


def test_a_webhook_while_the_database_is_down_gets_503_with_retry_after_not_500(unreachable_client):
    body, headers = signed_delivery(SECRET, {"id": "DOWN-1", "body": "my card has not arrived"})
    response = unreachable_client.post("/webhooks/generic", data=body, headers=headers)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    assert "database is unavailable" in response.get_json()["detail"]


def test_readiness_fails_while_the_database_is_down(unreachable_client):
    response = unreachable_client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unavailable: OperationalError"


def test_other_database_errors_are_still_500(client, runtime):
    # A bug (here: a table that is not there) must not pass for an outage that a retry would cure.
    with runtime.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE webhook_events")
    body, headers = signed_delivery(SECRET, {"id": "BUG-1", "body": "my card has not arrived"})
    response = client.post("/webhooks/generic", data=body, headers=headers)
    assert response.status_code == 500
