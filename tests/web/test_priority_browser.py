"""The priority model's answer on the review page, in a real headless Chromium, for a ticket the worker decided;
the agent's priority correction becomes priority training data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import Secret
from service.infra.models import Feedback, Ticket
from service.review import feedback as review_feedback
from service.review import users as review_users
from service.worker.embedded import EmbeddedWorker
from tests.support.priority import train_priority, write_priority_csv
from tests.support.processes import wait_until
from tests.support.review import PASSWORD, SECRET_KEY
from tests.support.settings import SECRET, make_settings
from tests.web.test_review_browser import Live, browser, page_for, shot  # noqa: F401
from training.demo import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_with_priority(sqlite_url, models_dir, fake_helpdesk, tmp_path) -> Iterator[Live]:
    """The review app on a loopback port with an embedded worker, the label model and a priority model."""
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    train_priority(models, write_priority_csv(tmp_path / "priority.csv", per_label=40))
    app = create_app(
        make_settings(sqlite_url, models, secret_key=Secret(SECRET_KEY), sweep_interval_s=3600),
        environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url},
    )
    rt = app.extensions["triage"]
    with rt.db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    worker = EmbeddedWorker(app.extensions["celery"], concurrency=2, sweep_interval_s=3600)
    worker.start()
    server = Server(app, "127.0.0.1", 0).start()
    yield Live(server.url, rt, fake_helpdesk)
    server.stop()
    worker.stop()
    rt.db.dispose()


def test_the_page_shows_the_models_priority_and_an_agents_correction_is_priority_training_data(
    browser,  # noqa: F811
    live_with_priority,
):
    live = live_with_priority
    body, headers = signed_delivery(SECRET, {"id": "PB-1", "subject": "", "body": "What exchange rate do I get?"})
    ticket_id = requests.post(f"{live.url}/webhooks/generic", data=body, headers=headers, timeout=10).json()[
        "ticket_id"
    ]

    def decided() -> bool:
        with live.rt.db.session() as session:
            return session.get(Ticket, ticket_id).status == "decided"

    wait_until(decided, timeout=30, message="the worker's decision")
    page = page_for(browser, live)
    page.goto(f"/review/tickets/{ticket_id}")
    shown = page.locator("#priority-model")
    assert shown.is_visible()
    assert "model says high" in shown.inner_text() and "it set the priority" in shown.inner_text()
    assert page.locator(".ticket-head .prio").inner_text().strip() == "high"
    shot(page, "priority-ticket.png")

    page.select_option("#priority", "urgent")
    page.get_by_role("button", name="Save correction").click()
    page.wait_for_load_state()
    with live.rt.db.session() as session:
        [fb] = session.scalars(select(Feedback)).all()
        assert (fb.from_priority, fb.to_priority) == ("high", "urgent")
        [example], _ = review_feedback.feedback_examples(session)
    assert example.priority == "urgent"
