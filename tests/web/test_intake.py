import json
import time

import pytest
from sqlalchemy import func, select

from integrations.fake.webhook import signed_delivery
from service.core.signing import sign
from service.infra.models import Ticket, WebhookEvent
from tests.support.settings import SECRET, TOKEN

TICKET = {
    "id": "ZD-1",
    "subject": "Card missing",
    "body": "My new card has not arrived yet.",
    "requester": {"email": "ann@example.com", "name": "Ann"},
    "tags": ["web"],
    "metadata": {"tier": "vip"},
    "created_at": "2026-11-30T10:00:00Z",
}


def post_signed(client, ticket=TICKET, delivery_id="d-1", **kw):
    body, headers = signed_delivery(SECRET, ticket, delivery_id=delivery_id)
    return client.post("/webhooks/generic", data=body, headers=headers, **kw)


def count(runtime, model):
    with runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_signed_ticket_is_stored_and_acknowledged_with_a_status_url(client, runtime):
    response = post_signed(client)
    assert response.status_code == 202
    body = response.get_json()
    assert body["duplicate"] is False and body["status"] == "received"
    assert body["status_url"] == f"/api/v1/tickets/{body['ticket_id']}"
    assert response.headers["Location"] == body["status_url"]
    with runtime.db.session() as session:
        ticket = session.get(Ticket, body["ticket_id"])
        assert (ticket.external_id, ticket.requester, ticket.tags, ticket.meta) == (
            "ZD-1",
            "ann@example.com",
            ["web"],
            {"tier": "vip"},
        )


def test_the_same_delivery_again_returns_200_with_the_same_ticket(client, runtime):
    first = post_signed(client).get_json()
    again = post_signed(client)
    assert again.status_code == 200
    assert again.get_json()["ticket_id"] == first["ticket_id"] and again.get_json()["duplicate"] is True
    assert count(runtime, Ticket) == 1 and count(runtime, WebhookEvent) == 1


def test_a_new_delivery_of_a_known_ticket_is_recorded_but_not_processed_again(client, runtime):
    first = post_signed(client, delivery_id="d-1").get_json()
    # Signed anew, a second later (the same signed request under another id would be a replay).
    body, headers = signed_delivery(SECRET, TICKET, delivery_id="d-2", timestamp=int(time.time()) + 1)
    second = client.post("/webhooks/generic", data=body, headers=headers)
    assert second.status_code == 200 and second.get_json()["outcome"] == "known_ticket"
    assert second.get_json()["ticket_id"] == first["ticket_id"]
    assert count(runtime, Ticket) == 1 and count(runtime, WebhookEvent) == 2


def test_without_a_delivery_id_the_body_hash_deduplicates(client):
    body, headers = signed_delivery(SECRET, TICKET)
    del headers["X-Triage-Delivery"]
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 202
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda h, b: (h | {"X-Triage-Signature": "sha256=" + "0" * 64}, b), "does not match"),
        (lambda h, b: (h, b.replace(b"Card", b"Cash")), "does not match"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "X-Triage-Signature"}, b), "missing"),
        (
            lambda h, b: (
                h
                | {
                    "X-Triage-Timestamp": str(int(time.time()) - 3600),
                    "X-Triage-Signature": sign(SECRET, str(int(time.time()) - 3600), b),
                },
                b,
            ),
            "window",
        ),
    ],
)
def test_forged_unsigned_or_stale_webhooks_get_401_and_store_nothing(client, runtime, mutate, words):
    body, headers = signed_delivery(SECRET, TICKET)
    headers, body = mutate(headers, body)
    response = client.post("/webhooks/generic", data=body, headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert words in response.get_json()["detail"]
    assert count(runtime, Ticket) == 0


def signed_raw(client, body: bytes, content_type="application/json"):
    ts = str(int(time.time()))
    return client.post(
        "/webhooks/generic",
        data=body,
        headers={"Content-Type": content_type, "X-Triage-Timestamp": ts, "X-Triage-Signature": sign(SECRET, ts, body)},
    )


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b'{"id": "1", "body": "x"', 400, "malformed JSON"),
        (b"", 400, "empty"),
        (b'{"id": "1", "body": "\xff\xfe"}', 400, "UTF-8"),
        (b"[" * 100 + b"]" * 100, 400, "nested deeper"),
        (b'["not", "an", "object"]', 400, "is not of type 'object'"),
        (b'{"subject": "no id"}', 400, "'id' is required"),
        (b'{"id": "1"}', 400, "needs a non-empty subject or body"),
        (b'{"id": "1", "subject": "", "body": ""}', 400, "needs a non-empty subject or body"),
        (b'{"id": " ", "body": "x"}', 400, "id: must be a non-empty string"),
        (b'{"id": "1", "body": "x", "subjet": "typo"}', 400, "'subjet' is not a field of a ticket"),
        (b'{"id": "1", "body": "x", "tags": "urgent"}', 400, "tags: 'urgent' is not of type 'array'"),
        (b'{"id": "1", "body": "x", "created_at": "last tuesday"}', 400, "created_at"),
        (b'{"id": "1", "body": "x", "metadata": {"a": {"b": 1}}}', 400, "metadata/a"),
    ],
)
def test_bad_bodies_get_a_400_that_says_what_is_wrong(client, runtime, body, status, words):
    response = signed_raw(client, body)
    assert response.status_code == status, response.get_json()
    assert words in response.get_json()["detail"]
    assert count(runtime, Ticket) == 0


def test_a_wrong_content_type_gets_415(client):
    response = signed_raw(client, b'{"id": "1", "body": "x"}', content_type="text/plain")
    assert response.status_code == 415 and "application/json" in response.get_json()["detail"]


def test_an_oversize_body_gets_413_naming_the_limit(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = signed_raw(client, json.dumps({"id": "1", "body": "x" * limit}).encode())
    assert response.status_code == 413 and str(limit) in response.get_json()["detail"]


def test_unconfigured_webhook_secret_answers_503_saying_which_variable(client, runtime):
    from service.core.settings import Secret

    runtime.settings = runtime.settings.replace(webhook_secret=Secret(""))
    response = post_signed(client)
    assert response.status_code == 503 and "TRIAGE_WEBHOOK_SECRET" in response.get_json()["detail"]


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_the_api_takes_a_ticket_with_a_token_and_deduplicates_by_idempotency_key(client):
    headers = auth() | {"Idempotency-Key": "k-1"}
    first = client.post("/api/v1/tickets", json=TICKET, headers=headers)
    assert first.status_code == 202
    again = client.post("/api/v1/tickets", json=TICKET, headers=headers)
    assert again.status_code == 200 and again.get_json()["ticket_id"] == first.get_json()["ticket_id"]


@pytest.mark.parametrize(
    "headers, words",
    [
        ({}, "Bearer"),
        ({"Authorization": "Basic abc"}, "Bearer"),
        (auth("wrong"), "not valid"),
    ],
)
def test_the_api_refuses_requests_without_a_valid_token(client, headers, words):
    for response in (
        client.post("/api/v1/tickets", json=TICKET, headers=headers),
        client.get("/api/v1/tickets/1", headers=headers),
    ):
        assert response.status_code == 401 and words in response.get_json()["detail"]


def test_reading_an_unknown_ticket_is_404(client):
    response = client.get("/api/v1/tickets/999", headers=auth())
    assert response.status_code == 404 and "999" in response.get_json()["detail"]


def test_a_received_ticket_reads_back_without_a_decision_yet(client):
    ticket_id = post_signed(client).get_json()["ticket_id"]
    body = client.get(f"/api/v1/tickets/{ticket_id}", headers=auth()).get_json()
    assert body["status"] == "received" and body["decision"] is None


def test_unknown_routes_and_methods_answer_in_problem_json(client):
    assert client.get("/nope").status_code == 404
    response = client.get("/webhooks/generic")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert response.mimetype == "application/problem+json"


def test_health_readiness_metrics_and_openapi(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["checks"] == {"database": "ok", "broker": "ok"}
    post_signed(client)
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'triage_tickets{status="received"} 1.0' in metrics
    assert 'triage_intake_total{outcome="created",source="generic",status="202"} 1.0' in metrics
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert {"/webhooks/generic", "/api/v1/tickets", "/api/v1/tickets/{ticket_id}"} <= set(doc["paths"])
    assert doc["components"]["schemas"]["Ticket"]["required"] == ["id"]


def test_readiness_fails_naming_the_database_and_broker_when_they_are_gone(models_dir):
    from service import create_app
    from service.core.settings import Secret
    from tests.support.settings import METRICS_TOKEN, OPS_AUTH, make_settings

    # Port 1 on loopback: nothing listens there, so both connections are refused at once.
    settings = make_settings(
        "postgresql+psycopg://postgres@127.0.0.1:1/none",
        models_dir,
        broker_url="redis://127.0.0.1:1/0",
        metrics_token=Secret(METRICS_TOKEN),
    )
    ready = create_app(settings, environ={}).test_client().get("/readyz", headers=OPS_AUTH)
    assert ready.status_code == 503
    checks = ready.get_json()["checks"]
    assert checks["database"].startswith("unavailable") and checks["broker"].startswith("unavailable")
