"""The generic webhook's fast path answers exactly as the Flask view does, and hands it everything else."""

import time
import uuid

import pytest

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import Secret
from service.web.fast_intake import GenericIntakeFastPath
from tests.support.settings import METRICS_TOKEN, OPS_AUTH, SECRET, make_settings

PLAIN = {"id": "F-1", "subject": "Card", "body": "My new card has not arrived yet.", "requester": "ann@example.com"}


@pytest.fixture
def apps(tmp_path, models_dir, redis_url):
    """The same service twice, with and without the fast path, each on its own database."""
    made = []
    for name, fast in (("fast", True), ("view", False)):
        url = f"sqlite:///{tmp_path / name}.db"
        from service.infra.migrate import upgrade

        upgrade(url)
        settings = make_settings(
            url,
            models_dir,
            broker_url=redis_url,
            intake_fast_path=fast,
            intake_rate_limit="4/minute",
            metrics_token=Secret(METRICS_TOKEN),
            metrics_cache_s=0.0,
        )
        made.append(create_app(settings, environ={}))
    yield made
    for app in made:
        app.extensions["triage"].db.dispose()


def post(app, ticket, *, delivery_id=None, address=None, **kw):
    body, headers = signed_delivery(SECRET, ticket, delivery_id=delivery_id or uuid.uuid4().hex)
    headers.update(kw.pop("headers", {}))
    address = address or f"10.9.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    return app.test_client().post(
        "/webhooks/generic", data=kw.pop("data", body), headers=headers, environ_base={"REMOTE_ADDR": address}
    )


def test_the_fast_path_is_in_front_and_takes_a_plain_new_ticket(apps):
    fast, view = apps
    assert isinstance(fast.wsgi_app, GenericIntakeFastPath)
    assert not isinstance(view.wsgi_app, GenericIntakeFastPath)


@pytest.mark.parametrize(
    "ticket",
    [
        PLAIN,
        {"id": 42, "body": "where is my card"},
        {"id": "F-2", "subject": "Card", "body": "x", "tags": ["web", "vip"]},
        # Not plainly valid: these the fast path hands to the view.
        {"id": "F-3", "body": "card", "metadata": {"tier": "vip"}},
        {"id": "F-4", "body": "card", "requester": {"email": "ann@example.com"}},
        {"id": "F-5", "subject": "", "body": ""},
        {"id": " F-6", "body": "card"},
        {"body": "no id"},
    ],
)
def test_answers_match_the_view_status_body_and_headers(apps, ticket):
    fast, view = (post(app, ticket, delivery_id="same-key") for app in apps)
    assert fast.status_code == view.status_code, (fast.get_json(), view.get_json())
    assert fast.mimetype == view.mimetype
    assert fast.get_json() == view.get_json()  # the same ticket id: each app's database starts empty
    names = {"Location", "Content-Security-Policy", "Cache-Control", "X-Content-Type-Options", "X-Frame-Options"}
    assert {h: fast.headers.get(h) for h in names} == {h: view.headers.get(h) for h in names}


def test_repeats_conflicts_and_forgeries_answer_as_the_view_does(apps):
    for app in apps:
        first = post(app, PLAIN, delivery_id="k-1")
        again = post(app, PLAIN, delivery_id="k-1")
        conflict = post(app, {**PLAIN, "body": "another body"}, delivery_id="k-1")
        forged = post(app, PLAIN, headers={"X-Triage-Signature": "sha256=" + "0" * 64})
        assert (first.status_code, again.status_code, conflict.status_code, forged.status_code) == (202, 200, 422, 401)
        assert again.get_json()["duplicate"] is True and again.get_json()["ticket_id"] == first.get_json()["ticket_id"]
        assert conflict.mimetype == forged.mimetype == "application/problem+json"
        assert "Location" not in again.headers


def test_a_request_the_view_answers_after_all_is_counted_against_the_limit_once(apps):
    fast, _ = apps
    address = "10.8.0.1"
    statuses = [
        post(fast, PLAIN | {"id": "L-1"}, address=address).status_code,
        # Counted by the fast path, then handed to the view (metadata): the view must not count it again.
        post(fast, {"id": "L-2", "body": "x", "metadata": {"tier": "vip"}}, address=address).status_code,
        post(fast, PLAIN | {"id": "L-3"}, address=address).status_code,
        post(fast, PLAIN | {"id": "L-4"}, address=address).status_code,
        post(fast, PLAIN | {"id": "L-5"}, address=address).status_code,
    ]
    assert statuses == [202, 202, 202, 202, 429]


def test_fast_path_deliveries_are_counted_in_the_intake_metrics(apps):
    fast, _ = apps
    line = 'triage_intake_total{outcome="created",source="generic",status="202"} '

    def created() -> float:
        text = fast.test_client().get("/metrics", headers=OPS_AUTH).get_data(as_text=True)
        return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)), 0.0)

    time.sleep(1.0)  # earlier tests' counts reach the shared hash first
    before = created()
    for i in range(3):
        assert post(fast, PLAIN | {"id": f"M-{i}"}).status_code == 202
    deadline = time.monotonic() + 5  # each process adds its counts to the shared ones every half second
    while created() < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert created() == before + 3


def test_a_body_shorter_than_its_content_length_goes_to_the_view(apps):
    fast, _ = apps
    body, headers = signed_delivery(SECRET, PLAIN)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/webhooks/generic",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body) + 10),
    }
    import io

    environ["wsgi.input"] = io.BytesIO(body)
    assert fast.wsgi_app._body(environ) is None and environ["wsgi.input"].read() == body
