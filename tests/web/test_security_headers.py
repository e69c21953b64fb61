"""Every response carries the security headers: webhooks, API, ops and the review pages alike."""

import pytest

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import Secret
from service.web.headers import API_CSP, PAGE_CSP
from tests.support.settings import SECRET, TOKEN, make_settings

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def assert_hardened(response, *, csp: str, cached: bool = False) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Content-Security-Policy"] == csp
    assert (headers.get("Cache-Control") == "no-store") is not cached
    assert "Strict-Transport-Security" not in headers  # plain HTTP unless the deployment says otherwise


def test_webhook_answers_accepted_or_refused_are_hardened(client):
    body, headers = signed_delivery(SECRET, {"id": "H-1", "body": "my card is lost"})
    assert_hardened(client.post("/webhooks/generic", data=body, headers=headers), csp=API_CSP)
    forged = client.post("/webhooks/generic", data=body, headers={**headers, "X-Triage-Signature": "sha256=00"})
    assert forged.status_code == 401
    assert_hardened(forged, csp=API_CSP)


def test_api_answers_are_hardened(client):
    assert_hardened(client.get("/api/v1/tickets/1", headers=BEARER), csp=API_CSP)  # 404 in problem+json
    assert_hardened(client.get("/api/v1/stats"), csp=API_CSP)  # 401
    assert_hardened(client.get("/api/v1/stats", headers=BEARER), csp=API_CSP)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/no-such-page"])
def test_ops_answers_are_hardened(client, path):
    assert_hardened(client.get(path), csp=API_CSP)


def test_review_pages_get_the_page_policy_and_static_files_may_be_cached(client):
    login = client.get("/login")
    assert login.status_code == 200 and login.mimetype == "text/html"
    assert_hardened(login, csp=PAGE_CSP)
    assert_hardened(client.get("/review"), csp=PAGE_CSP)  # redirect to sign-in
    static = client.get("/review/static/review.css")
    assert static.status_code == 200
    assert_hardened(static, csp=API_CSP, cached=True)
    static.close()


def test_signed_in_review_pages_are_hardened(agent, rt):
    from tests.support.review import decided_ticket

    ticket_id = decided_ticket(rt)
    for path in ("/review", f"/review/tickets/{ticket_id}", "/review/dashboard"):
        page = agent.get(path)
        assert page.status_code == 200, path
        assert_hardened(page, csp=PAGE_CSP)


def test_hsts_is_sent_when_the_deployment_is_served_over_https(sqlite_url, models_dir):
    settings = make_settings(sqlite_url, models_dir, session_cookie_secure=True, secret_key=Secret("k" * 32))
    app = create_app(settings, environ={})
    client = app.test_client()
    for response in (client.get("/healthz"), client.get("/login"), client.post("/webhooks/generic")):
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    app.extensions["triage"].db.dispose()
