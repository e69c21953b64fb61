"""Sign-in, roles, CSRF, cookies and security headers of the review page."""

import logging

import pytest
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.infra.models import User
from service.review import users as review_users
from tests.support.review import PASSWORD, csrf_token, decided_ticket, decision_id, sign_in
from tests.support.settings import SECRET, TOKEN, make_settings


@pytest.mark.parametrize("path", ["/review", "/review/tickets/1", "/review/dashboard", "/review/admin/users"])
def test_review_pages_send_a_signed_out_visitor_to_sign_in(review_app, path):
    response = review_app.test_client().get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_the_root_leads_to_the_queue(agent):
    assert agent.get("/").headers["Location"] == "/review"


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(review_app, caplog):
    client = review_app.test_client()
    caplog.set_level(logging.INFO, logger="service")
    for username in ("ann", "nobody"):
        response = client.post(
            "/login", data={"username": username, "password": "not the password", "csrf_token": csrf_token(client)}
        )
        assert response.status_code == 401
        assert "Wrong username or password" in response.get_data(as_text=True)
    assert client.get("/review").status_code == 302
    # Neither the password nor what was typed as a username reaches the log.
    assert "not the password" not in caplog.text and "nobody" not in caplog.text


def test_signing_in_sets_a_session_cookie_that_scripts_cannot_read(review_app):
    client = review_app.test_client()
    response = sign_in(client, "ann")
    assert response.headers["Location"] == "/review"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("triage_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # TRIAGE_SESSION_COOKIE_SECURE defaults to false for http://127.0.0.1
    assert client.get("/review").status_code == 200


def test_the_secure_cookie_flag_follows_the_setting(sqlite_url, models_dir):
    app = create_app(make_settings(sqlite_url, models_dir, session_cookie_secure=True), environ={})
    with app.extensions["triage"].db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    client = app.test_client()
    response = client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert "Secure" in response.headers["Set-Cookie"]
    app.extensions["triage"].db.dispose()


def test_without_a_secret_key_the_app_starts_with_a_random_one_and_says_so(sqlite_url, models_dir, caplog):
    caplog.set_level(logging.WARNING, logger="service")
    app = create_app(make_settings(sqlite_url, models_dir), environ={})
    assert len(app.config["SECRET_KEY"]) == 64
    assert "TRIAGE_SECRET_KEY is unset" in caplog.text
    app.extensions["triage"].db.dispose()


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/review/dashboard", "/review/dashboard"),
        ("https://evil.example/", "/review"),
        ("//evil.example/", "/review"),
        ("/\\evil.example", "/review"),
    ],
)
def test_after_sign_in_only_local_next_pages_are_followed(review_app, target, expected):
    client = review_app.test_client()
    response = client.post(
        "/login?next=" + target, data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert response.headers["Location"] == expected


def test_an_account_locks_after_ten_failed_sign_ins(review_app, rt):
    client = review_app.test_client()
    token = csrf_token(client)
    for _ in range(review_users.MAX_FAILED_LOGINS):
        client.post("/login", data={"username": "ann", "password": "wrong", "csrf_token": token})
    # Even the right password is refused while the lock lasts.
    response = client.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 401
    with rt.db.session() as session:
        user = session.scalars(select(User).where(User.username == "ann")).one()
        assert user.locked_until is not None
        user.locked_until = None
        session.commit()
    sign_in(client, "ann")


def test_signing_out_ends_the_session_and_needs_a_post(agent):
    assert agent.get("/logout").status_code == 405
    response = agent.post("/logout", data={"csrf_token": csrf_token(agent, "/review")})
    assert response.headers["Location"] == "/login"
    assert agent.get("/review").status_code == 302


def test_a_deactivated_user_is_signed_out_everywhere(review_app, rt, admin):
    ann = review_app.test_client()
    sign_in(ann, "ann")
    with rt.db.session() as session:
        ann_id = session.scalars(select(User.id).where(User.username == "ann")).one()
    response = admin.post(
        f"/review/admin/users/{ann_id}/active",
        data={"active": "false", "csrf_token": csrf_token(admin, "/review/admin/users")},
    )
    assert response.status_code == 303
    assert ann.get("/review").status_code == 302
    response = ann.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_token(ann)})
    assert response.status_code == 401


def test_an_admin_cannot_deactivate_themselves(rt, admin):
    with rt.db.session() as session:
        root_id = session.scalars(select(User.id).where(User.username == "root")).one()
    admin.post(
        f"/review/admin/users/{root_id}/active",
        data={"active": "false", "csrf_token": csrf_token(admin, "/review/admin/users")},
    )
    assert "you cannot deactivate yourself" in admin.get("/review/admin/users").get_data(as_text=True)


def test_an_agent_gets_403_on_admin_pages(agent):
    assert agent.get("/review/admin/users").status_code == 403
    token = csrf_token(agent, "/review")
    response = agent.post(
        "/review/admin/users", data={"username": "eve", "password": PASSWORD, "role": "admin", "csrf_token": token}
    )
    assert response.status_code == 403
    assert "This page is for admins" in response.get_data(as_text=True)
    assert agent.post("/review/admin/users/1/active", data={"active": "false", "csrf_token": token}).status_code == 403


def test_an_admin_adds_a_user_who_can_then_sign_in(review_app, admin):
    token = csrf_token(admin, "/review/admin/users")
    response = admin.post(
        "/review/admin/users", data={"username": "Bob", "password": "short", "role": "agent", "csrf_token": token}
    )
    assert response.status_code == 400 and "at least 12 characters" in response.get_data(as_text=True)
    response = admin.post(
        "/review/admin/users", data={"username": "Bob", "password": PASSWORD, "role": "agent", "csrf_token": token}
    )
    assert response.status_code == 303
    assert "bob" in admin.get("/review/admin/users").get_data(as_text=True)
    sign_in(review_app.test_client(), "bob")


@pytest.mark.parametrize(
    "path, data",
    [
        ("/login", {"username": "ann", "password": PASSWORD}),
        ("/logout", {}),
        ("/review/tickets/{id}/review", {"action": "accept"}),
        ("/review/tickets/{id}/draft", {"action": "save", "text": "hi", "version": "0"}),
        ("/review/admin/users", {"username": "eve", "password": PASSWORD, "role": "admin"}),
    ],
)
def test_a_post_without_the_csrf_token_is_refused(rt, admin, path, data):
    ticket_id = decided_ticket(rt)
    data = {**data, "decision_id": str(decision_id(rt, ticket_id))}
    response = admin.post(path.format(id=ticket_id), data=data)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    wrong = admin.post(path.format(id=ticket_id), data={**data, "csrf_token": "forged"})
    assert wrong.status_code == 400


def test_the_api_and_webhooks_still_work_without_csrf_tokens(review_app):
    client = review_app.test_client()
    body, headers = signed_delivery(SECRET, {"id": "W-1", "body": "My card has not arrived"})
    assert client.post("/webhooks/generic", data=body, headers=headers).status_code == 202
    response = client.post(
        "/api/v1/tickets", json={"id": "A-1", "body": "Exchange rate?"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers


def test_review_pages_carry_security_headers(agent, rt):
    for path in ("/review", f"/review/tickets/{decided_ticket(rt)}", "/review/dashboard", "/login"):
        headers = agent.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"


def test_static_files_are_served_and_cacheable(agent):
    response = agent.get("/review/static/review.js")
    assert response.status_code == 200 and "keydown" in response.get_data(as_text=True)
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
