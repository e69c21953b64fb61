"""New intents on the real stack: webhooks, a `celery worker` on Postgres and Redis, and the review page in
Chromium, where an admin names a cluster and an agent confirms its label on a ticket."""

from __future__ import annotations

import html

import pytest
import requests
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service.core.settings import Secret
from service.infra.models import IntentCluster, Ticket
from service.review import feedback as review_feedback
from service.review import users as review_users
from service.worker.tasks import find_intents
from tests.support.flows import strict_rules
from tests.support.intents import planted
from tests.support.processes import app_with_worker, service_env, wait_until
from tests.support.review import SECRET_KEY
from tests.support.settings import SECRET, make_settings
from tests.web.test_review_browser import Live, browser, page_for, shot  # noqa: F401  (browser is a fixture)
from training.demo import Server

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture
def stack(own_postgres_url, redis_url, models_dir, fake_helpdesk, tmp_path):
    # Every ticket is unsure: the routing's threshold is one no tiny model reaches.
    settings = make_settings(
        own_postgres_url,
        models_dir,
        broker_url=redis_url,
        routing_file=strict_rules(tmp_path),
        secret_key=Secret(SECRET_KEY),
        intents_min_cluster_size=5,
        writeback_backoff_s=0.2,
    )
    env = service_env(settings, TRIAGE_FAKE_HELPDESK_URL=fake_helpdesk.url, TRIAGE_INTENTS_MIN_CLUSTER_SIZE="5")
    with app_with_worker(settings, env, tmp_path / "worker.log") as (app, worker):
        rt = app.extensions["triage"]
        with rt.db.session() as session:
            review_users.create_user(session, username="ann", password="correct horse battery staple", role="agent")
            review_users.create_user(session, username="root", password="correct horse battery staple", role="admin")
        server = Server(app, "127.0.0.1", 0).start()
        try:
            yield Live(server.url, rt, fake_helpdesk), worker
        finally:
            server.stop()


def test_unsure_tickets_from_webhooks_become_a_cluster_an_admin_names_and_an_agent_confirms(browser, stack):  # noqa: F811
    live, worker = stack
    texts, truth = planted(per_group=8, n_noise=12)
    groups = {}
    for i, (text, group) in enumerate(zip(texts, truth, strict=True)):
        body, headers = signed_delivery(SECRET, {"id": f"NI-{i}", "subject": "", "body": text})
        answer = requests.post(f"{live.url}/webhooks/generic", data=body, headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        groups[answer.json()["ticket_id"]] = group

    def all_decided() -> bool:
        with live.rt.db.session() as session:
            statuses = session.scalars(select(Ticket.status).where(Ticket.id.in_(groups))).all()
            return len(statuses) == len(groups) and set(statuses) == {"decided"}

    wait_until(all_decided, timeout=120, message=f"decisions; worker log:\n{worker.log()[-3000:]}")

    # What celery beat runs on its schedule, run now by the worker process.
    find_intents.apply_async()

    def clusters() -> list[IntentCluster]:
        with live.rt.db.session() as session:
            return list(session.scalars(select(IntentCluster)))

    found = wait_until(clusters, timeout=60, message=f"clusters; worker log:\n{worker.log()[-3000:]}")
    mortgage = max(found, key=lambda c: sum(groups[int(i)] == "mortgage" for i in c.ticket_ids))
    members = [groups[int(i)] for i in mortgage.ticket_ids]
    assert members.count("mortgage") >= 6 and members.count("mortgage") / len(members) >= 0.8, members
    assert "mortgage" in mortgage.terms[:3]

    admin = page_for(browser, live, "root")
    admin.goto("/review/dashboard")
    card = admin.locator(f"#intent-{mortgage.id}")
    assert f"{mortgage.size} tickets" in card.inner_text() and "mortgage" in card.locator(".terms").inner_text()
    assert card.locator(".examples a").count() == 3
    card.get_by_label("New label").fill("mortgage")
    card.get_by_role("button", name="Make it a label").click()
    assert "is now the label mortgage" in admin.get_by_role("status").first.inner_text()
    shot(admin, "dashboard-intents.png")

    agent = page_for(browser, live, "ann")
    agent.goto("/review/dashboard")
    assert agent.locator(f"#intent-{mortgage.id}").get_by_role("button").count() == 0  # agents cannot name
    agent.locator(f"#intent-{mortgage.id} .examples a").first.click()
    ticket_id = int(mortgage.ticket_ids[0])
    agent.wait_for_url(f"**/review/tickets/{ticket_id}")
    assert "Suggested new label mortgage" in agent.locator("#suggested-label").inner_text()
    agent.get_by_role("button", name="Confirm mortgage").click()
    assert "corrected" in agent.get_by_role("status").first.inner_text()

    with live.rt.db.session() as session:
        examples, _ = review_feedback.feedback_examples(session)
    assert [(e.ticket_id, e.label) for e in examples] == [(ticket_id, "mortgage")]

    def helpdesk_saw_the_label():
        return [r for r in live.helpdesk.successful() if "triage_reviewed" in r.body["tags"]]

    [review] = wait_until(helpdesk_saw_the_label, timeout=60, message="the review's write-back")
    assert review.body["label"] == "mortgage"
    admin.goto("/review/dashboard")
    assert "1 of" in html.unescape(admin.locator(f"#intent-{mortgage.id}").inner_text())
