"""/metrics and /readyz: a bearer token on the web app or an address of their own (the ops app), a per-address
throttle, and answers computed once per interval however many requests ask."""

import pytest

from service import create_app
from service.core.settings import Secret
from service.web.headers import API_CSP
from service.web.ops import GATE_EXTENSION, AddressWindows
from tests.support.flows import receive
from tests.support.settings import METRICS_TOKEN, OPS_AUTH, make_settings

# Not the in-memory broker, so the app is not embedded and gates its ops endpoints as in production;
# kombu's filesystem transport answers at once, without a server.
BROKER = "filesystem://"
GATED = ("/metrics", "/readyz")


@pytest.fixture
def build(sqlite_url, models_dir, tmp_path):
    apps = []

    def make(ops_only=False, **overrides):
        settings = make_settings(sqlite_url, models_dir, drafting_model="none", **{"broker_url": BROKER, **overrides})
        app = create_app(settings, environ={}, ops_only=ops_only)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["triage"].db.dispose()


@pytest.mark.parametrize("path", GATED)
def test_without_a_token_the_web_app_does_not_serve_them_and_says_how_to(build, path):
    client = build().test_client()
    response = client.get(path)
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert "TRIAGE_METRICS_TOKEN" in response.get_json()["detail"]
    assert response.headers["Content-Security-Policy"] == API_CSP and response.headers["Cache-Control"] == "no-store"
    assert client.get("/healthz").status_code == 200  # liveness says nothing and costs nothing


@pytest.mark.parametrize("path", GATED)
def test_with_a_token_only_a_bearer_of_it_is_answered(build, path):
    client = build(metrics_token=Secret(f"old-token\n{METRICS_TOKEN}")).test_client()
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer not-it"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Basic {METRICS_TOKEN}"}).status_code == 401
    refused = client.get(path)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get(path, headers=OPS_AUTH).status_code in (200, 503)
    # While the token is rotated, the old one is accepted too.
    assert client.get(path, headers={"Authorization": "Bearer old-token"}).status_code in (200, 503)


@pytest.mark.parametrize("path", GATED)
@pytest.mark.parametrize("token", [{}, {"metrics_token": Secret(METRICS_TOKEN)}])
def test_the_ops_app_serves_them_without_a_token_and_serves_nothing_else(build, path, token):
    # With the web app's token in its environment too (compose and k8s share one), as its address guards it.
    client = build(ops_only=True, **token).test_client()
    assert client.get(path).status_code in (200, 503)
    assert client.get("/healthz").status_code == 200
    assert client.post("/webhooks/generic", data=b"{}").status_code == 404
    assert client.get("/login").status_code == 404


def test_each_address_is_throttled_with_retry_after(build):
    client = build(ops_rate_limit="3/minute", metrics_token=Secret(METRICS_TOKEN)).test_client()
    one = {"REMOTE_ADDR": "10.5.0.1"}
    statuses = [client.get(p, headers=OPS_AUTH, environ_base=one).status_code for p in ("/metrics", "/readyz") * 2]
    assert 429 not in statuses[:3] and statuses[3] == 429
    refused = client.get("/metrics", environ_base=one)  # refused before the token is even looked at
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert client.get("/metrics", headers=OPS_AUTH, environ_base={"REMOTE_ADDR": "10.5.0.2"}).status_code == 200


def test_metrics_are_computed_once_per_interval_however_many_scrapes(build):
    app = build(metrics_cache_s=60.0, metrics_token=Secret(METRICS_TOKEN))
    client = app.test_client()
    gate = app.extensions[GATE_EXTENSION]
    first = client.get("/metrics", headers=OPS_AUTH).get_data(as_text=True)
    receive(client, "CACHED-1")
    for _ in range(5):
        assert client.get("/metrics", headers=OPS_AUTH).get_data(as_text=True) == first
    assert gate.answers["/metrics"].computed == 1
    assert 'triage_tickets{status="received"} 1.0' not in first


def test_readiness_is_checked_at_most_once_a_second(build):
    app = build(metrics_cache_s=60.0, metrics_token=Secret(METRICS_TOKEN))
    client = app.test_client()
    for _ in range(5):
        client.get("/readyz", headers=OPS_AUTH)
    gate = app.extensions[GATE_EXTENSION]
    assert gate.answers["/readyz"].computed == 1 and gate.answers["/readyz"].ttl_s == 1.0


def test_embedded_mode_serves_them_on_its_one_process_without_a_token(client):
    assert client.get("/metrics").status_code == 200 and client.get("/readyz").status_code == 200


def test_the_throttle_counts_each_window_and_says_when_it_frees_up():
    windows = AddressWindows("2/second;3/minute")
    assert [windows.hit("a", now=t) for t in (0.0, 0.1)] == [0.0, 0.0]
    assert windows.hit("a", now=0.2) == pytest.approx(0.8)  # the second's window ends at 1.0
    assert windows.hit("b", now=0.2) == 0.0  # another address has its own
    assert windows.hit("a", now=1.5) == pytest.approx(58.5)  # a new second, but the minute's 3 are used
