"""Per-sender intake rate limits, against the real Redis the web processes share (and without it)."""

import time
import uuid

import pytest

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import ConfigError, Secret, Settings
from service.ops.intake_stats import LINGER_S
from service.web.throttle import INTAKE_SHARE_S
from tests.support.settings import METRICS_TOKEN, OPS_AUTH, SECRET, TOKEN, make_settings

SHARED_WITHIN_S = 3 * INTAKE_SHARE_S  # a report, plus the other process's next read, plus slack


def post_generic(client, address: str):
    body, headers = signed_delivery(SECRET, {"id": uuid.uuid4().hex, "body": "my card has not arrived"})
    return client.post("/webhooks/generic", data=body, headers=headers, environ_base={"REMOTE_ADDR": address})


def post_api(client, address: str):
    return client.post(
        "/api/v1/tickets",
        json={"id": uuid.uuid4().hex, "body": "where is my card?"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        environ_base={"REMOTE_ADDR": address},
    )


@pytest.fixture
def limited_apps(sqlite_url, models_dir, redis_url):
    """Two apps sharing one Redis, as two gunicorn workers would, allowing 3 intake requests a minute."""
    settings = make_settings(
        sqlite_url, models_dir, broker_url=redis_url, intake_rate_limit="3/minute", metrics_token=Secret(METRICS_TOKEN)
    )
    apps = [create_app(settings, environ={}) for _ in range(2)]
    yield apps
    for app in apps:
        app.extensions["triage"].db.dispose()


@pytest.mark.services
def test_a_sender_over_its_limit_gets_429_problem_json_with_retry_after_in_every_web_process(limited_apps):
    first, second = (app.test_client() for app in limited_apps)
    address = f"10.1.{uuid.uuid4().int % 250}.1"  # Redis keeps counts between tests: a sender of our own
    assert [post_generic(first, address).status_code for _ in range(2)] == [202, 202]
    time.sleep(SHARED_WITHIN_S)  # each process adds its counts to the shared ones every INTAKE_SHARE_S
    assert post_generic(second, address).status_code == 202  # the other process counts against the same budget

    refused = post_generic(second, address)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["status"] == 429 and "3 per 1 minute" in problem["detail"] and "'generic'" in problem["detail"]
    # At most the window, plus one for rounding up to whole seconds.
    assert 1 <= int(refused.headers["Retry-After"]) <= 61 and problem["retry_after_s"] == int(
        refused.headers["Retry-After"]
    )
    time.sleep(SHARED_WITHIN_S)
    assert post_generic(first, address).status_code == 429


@pytest.mark.services
def test_one_noisy_sender_does_not_use_up_another_source_or_another_senders_budget(limited_apps):
    client = limited_apps[0].test_client()
    noisy, quiet = f"10.2.{uuid.uuid4().int % 250}.1", f"10.3.{uuid.uuid4().int % 250}.1"
    statuses = [post_generic(client, noisy).status_code for _ in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    assert post_api(client, noisy).status_code == 202  # same address, other source: its own budget
    assert post_generic(client, quiet).status_code == 202  # same source, other sender
    ticket_id = post_api(client, quiet).get_json()["ticket_id"]
    for _ in range(5):  # only intake is limited: reads and probes from the noisy sender still answer
        assert (
            client.get(
                f"/api/v1/tickets/{ticket_id}",
                headers={"Authorization": f"Bearer {TOKEN}"},
                environ_base={"REMOTE_ADDR": noisy},
            ).status_code
            == 200
        )
        assert client.get("/healthz", environ_base={"REMOTE_ADDR": noisy}).status_code == 200


@pytest.mark.services
def test_refusals_are_counted_in_metrics_shared_by_every_web_process(limited_apps):
    first, second = (app.test_client() for app in limited_apps)

    def refused() -> float:
        text = first.get("/metrics", headers=OPS_AUTH).get_data(as_text=True)
        line = 'triage_intake_total{outcome="rate_limited",source="generic",status="429"} '
        return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)), 0.0)

    # Earlier tests' web processes share this count, and each may still hold half a second of refusals it has
    # not sent: wait until the shared count stands still, so that only this test's refusals move it.
    before, deadline = refused(), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(LINGER_S + 0.1)
        now = refused()
        if now == before:
            break
        before = now
    address = f"10.4.{uuid.uuid4().int % 250}.1"
    statuses = [post_generic(second, address).status_code for _ in range(5)]
    assert statuses.count(429) == 2
    # Counted by the second app, read through the first: each process sends its counts within half a second.
    deadline = time.monotonic() + 5
    while refused() < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert refused() == before + 2


def test_the_limit_falls_back_to_memory_when_redis_is_down_and_intake_goes_on(sqlite_url, models_dir):
    settings = make_settings(sqlite_url, models_dir, broker_url="redis://127.0.0.1:1/0", intake_rate_limit="2/minute")
    app = create_app(settings, environ={})
    client = app.test_client()
    # Stored and acknowledged although neither the broker nor the limiter's Redis answers; the sweep enqueues later.
    assert [post_generic(client, "10.5.0.1").status_code for _ in range(3)] == [202, 202, 429]
    app.extensions["triage"].db.dispose()


def test_off_means_no_limit(sqlite_url, models_dir):
    app = create_app(make_settings(sqlite_url, models_dir, intake_rate_limit="off"), environ={})
    client = app.test_client()
    assert {post_generic(client, "10.6.0.1").status_code for _ in range(30)} == {202}
    app.extensions["triage"].db.dispose()


def test_a_limit_that_is_not_a_rate_is_refused_at_start():
    with pytest.raises(ConfigError, match="TRIAGE_INTAKE_RATE_LIMIT"):
        Settings.from_env({"TRIAGE_INTAKE_RATE_LIMIT": "lots"})
    assert Settings.from_env({"TRIAGE_INTAKE_RATE_LIMIT": "100/second;3000/minute"}).intake_rate_limit_enabled
