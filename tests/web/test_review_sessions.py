"""Sessions live on the server: signing out, a new password or deactivation end them everywhere; idle and absolute
limits; the admins' sessions page; sign-in limits per address and per username with an audit line per refusal."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from service import create_app
from service.core.clock import now_utc
from service.core.settings import Secret
from service.infra.models import User, UserSession
from service.review import users as review_users
from tests.support.review import PASSWORD, SECRET_KEY, csrf_token, sign_in
from tests.support.settings import make_settings


def copy_cookie(source, target) -> None:
    """What a thief does with a stolen cookie: send it from another client."""
    cookie = source.get_cookie("triage_session")
    assert cookie is not None
    target.set_cookie("triage_session", cookie.value)


def test_a_copied_session_cookie_stops_working_when_its_user_signs_out(review_app, agent):
    thief = review_app.test_client()
    copy_cookie(agent, thief)
    assert thief.get("/review").status_code == 200
    agent.post("/logout", data={"csrf_token": csrf_token(agent, "/review")})
    assert thief.get("/review").status_code == 302


def test_signing_out_ends_every_session_of_the_user(review_app, agent):
    laptop = review_app.test_client()
    sign_in(laptop, "ann")
    agent.post("/logout", data={"csrf_token": csrf_token(agent, "/review")})
    assert laptop.get("/review").status_code == 302


def test_a_new_password_ends_every_session_and_the_old_password_stops_working(review_app, agent):
    laptop = review_app.test_client()
    sign_in(laptop, "ann")
    token = csrf_token(agent, "/account/password")
    wrong = agent.post(
        "/account/password", data={"current": "nope", "new": "a brand new passphrase", "csrf_token": token}
    )
    assert wrong.status_code == 403 and "current password is wrong" in wrong.get_data(as_text=True)
    response = agent.post(
        "/account/password", data={"current": PASSWORD, "new": "a brand new passphrase", "csrf_token": token}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert agent.get("/review").status_code == 302 and laptop.get("/review").status_code == 302
    fresh = review_app.test_client()
    old = fresh.post("/login", data={"username": "ann", "password": PASSWORD, "csrf_token": csrf_token(fresh)})
    assert old.status_code == 401
    sign_in(fresh, "ann", "a brand new passphrase")


def test_an_admin_reset_ends_the_users_sessions(review_app, rt, agent):
    with rt.db.session() as session:
        ann = session.scalars(select(User).where(User.username == "ann")).one()
        review_users.reset_password(session, user_id=ann.id, password="reset by the admin ok")
    assert agent.get("/review").status_code == 302


def age(rt, **changes) -> None:
    with rt.db.session() as session:
        for row in session.scalars(select(UserSession)):
            for name, value in changes.items():
                setattr(row, name, value)
        session.commit()


def test_a_session_ends_after_its_idle_time(rt, agent):
    age(rt, last_seen_at=now_utc() - timedelta(seconds=rt.settings.session_lifetime_s + 1))
    assert agent.get("/review").status_code == 302
    with rt.db.session() as session:
        assert {s.end_reason for s in session.scalars(select(UserSession))} == {"idle"}


def test_a_busy_session_still_ends_at_its_absolute_time(rt, agent):
    assert agent.get("/review").status_code == 200
    age(rt, expires_at=now_utc() - timedelta(seconds=1), last_seen_at=now_utc())
    assert agent.get("/review").status_code == 302
    with rt.db.session() as session:
        assert {s.end_reason for s in session.scalars(select(UserSession))} == {"expired"}


def test_a_new_session_ends_at_the_absolute_lifetime_from_sign_in(rt, agent):
    with rt.db.session() as session:
        row = session.scalars(select(UserSession)).one()
        lifetime = (row.expires_at - row.created_at).total_seconds()
    assert lifetime == rt.settings.session_absolute_s
    # The table keeps a digest of the cookie's token, never the token.
    assert agent.get_cookie("triage_session").value not in row.token_sha256


def test_admins_see_active_sessions_and_end_them(review_app, rt, admin, agent):
    page = admin.get("/review/admin/sessions").get_data(as_text=True)
    assert 'id="sessions"' in page and "ann" in page and "root" in page
    with rt.db.session() as session:
        ann_id = session.scalars(select(User.id).where(User.username == "ann")).one()
    response = admin.post(
        f"/review/admin/sessions/{ann_id}/end", data={"csrf_token": csrf_token(admin, "/review/admin/sessions")}
    )
    assert response.status_code == 303
    assert agent.get("/review").status_code == 302
    assert admin.get("/review").status_code == 200
    assert ">ann <" not in admin.get("/review/admin/sessions").get_data(as_text=True)


def test_agents_cannot_see_or_end_sessions(agent):
    assert agent.get("/review/admin/sessions").status_code == 403
    token = csrf_token(agent, "/review")
    assert agent.post("/review/admin/sessions/1/end", data={"csrf_token": token}).status_code == 403


@pytest.fixture
def limited_app(sqlite_url, models_dir):
    app = create_app(
        make_settings(
            sqlite_url,
            models_dir,
            secret_key=Secret(SECRET_KEY),
            login_rate_limit="4/minute",
            login_user_rate_limit="3/minute",
        ),
        environ={},
    )
    with app.extensions["triage"].db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    yield app
    app.extensions["triage"].db.dispose()


def attempt(client, username, address, password="wrong password"):
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_sign_in_attempts_are_limited_per_username_from_any_address(limited_app):
    client = limited_app.test_client()
    statuses = [attempt(client, "ann", f"10.9.0.{i}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = attempt(client, "ann", "10.9.0.99", PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "Too many sign-in attempts" in refused.get_data(as_text=True)
    assert attempt(client, "bob", "10.9.0.98").status_code == 401  # another username has its own budget


def test_sign_in_attempts_are_limited_per_address_across_usernames(limited_app):
    client = limited_app.test_client()
    statuses = [attempt(client, f"user{i}", "10.8.0.1").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    assert attempt(client, "user9", "10.8.0.2").status_code == 401


def test_each_refused_sign_in_writes_one_audit_line_without_the_password_or_the_typed_name(limited_app, caplog):
    caplog.set_level(logging.INFO, logger="service")
    client = limited_app.test_client()
    attempt(client, "ann", "10.7.0.1", "hunter2 is my password")
    attempt(client, "hunter3-typed-as-a-name", "10.7.0.1", "x")
    lines = [r for r in caplog.records if getattr(r, "event", None) == "sign_in_failed"]
    assert [(r.outcome, r.remote_addr) for r in lines] == [("wrong_password", "10.7.0.1"), ("unknown_user", "10.7.0.1")]
    assert lines[0].user_id is not None and lines[1].user_id is None
    assert "hunter2" not in caplog.text and "hunter3" not in caplog.text


@pytest.mark.services
def test_sign_in_limits_are_shared_by_every_web_process_through_redis(sqlite_url, models_dir, redis_url):
    import uuid

    settings = make_settings(
        sqlite_url, models_dir, broker_url=redis_url, secret_key=Secret(SECRET_KEY), login_user_rate_limit="2/minute"
    )
    apps = [create_app(settings, environ={}) for _ in range(2)]
    name = f"u{uuid.uuid4().hex[:8]}"  # Redis keeps counts between tests: a username of our own
    first, second = (app.test_client() for app in apps)
    assert attempt(first, name, "10.6.0.1").status_code == 401
    assert attempt(second, name, "10.6.0.2").status_code == 401
    assert attempt(first, name, "10.6.0.3").status_code == 429
    for app in apps:
        app.extensions["triage"].db.dispose()
