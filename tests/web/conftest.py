"""Review-page fixtures: an app with sign-in, users, and tickets with decisions made to order."""

from __future__ import annotations

import pytest

from service import create_app
from service.core.settings import Secret
from service.review import users as review_users
from tests.support.review import PASSWORD, SECRET_KEY, sign_in
from tests.support.settings import make_settings


@pytest.fixture
def review_app(sqlite_url, models_dir, fake_helpdesk):
    """The app on SQLite, write-backs going to the fake helpdesk over HTTP, with an agent and an admin."""
    application = create_app(
        make_settings(sqlite_url, models_dir, secret_key=Secret(SECRET_KEY)),
        environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url},
    )
    with application.extensions["triage"].db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
        review_users.create_user(session, username="root", password=PASSWORD, role="admin")
    yield application
    application.extensions["triage"].db.dispose()


@pytest.fixture
def rt(review_app):
    return review_app.extensions["triage"]


@pytest.fixture
def agent(review_app):
    """A test client signed in as the agent ann."""
    client = review_app.test_client()
    sign_in(client, "ann")
    return client


@pytest.fixture
def admin(review_app):
    client = review_app.test_client()
    sign_in(client, "root")
    return client
