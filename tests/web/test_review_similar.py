"""Similar earlier tickets on the ticket page, in a real headless Chromium, after a real webhook-to-worker run.

Tickets come in through signed webhooks to the app on a loopback port; its embedded worker decides them with a
tiny frozen-embedding model and writes back to the fake helpdesk's HTTP server. An agent corrects one earlier
ticket on the review page; a later paraphrase's page then lists it first, says it was corrected and flags the
near-duplicate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import Secret
from service.infra.models import Ticket
from service.review import users as review_users
from service.worker.embedded import EmbeddedWorker
from tests.support.browser import chromium
from tests.support.processes import wait_until
from tests.support.review import PASSWORD, SECRET_KEY
from tests.support.settings import ROOT, SECRET, make_settings
from training.demo import Server

pytestmark = pytest.mark.e2e

TICKETS = [
    ("ZD-1", "ann@example.com", "I ordered a new card two weeks ago and it still has not arrived in the post"),
    ("ZD-2", "carl@example.com", "The cash machine kept my card and did not give me any money"),
    ("ZD-3", "dora@example.com", "What exchange rate do you use when I pay in dollars?"),
    ("ZD-4", "ann@example.com", "My new card that I ordered two weeks ago has still not arrived by post"),
]


@pytest.fixture
def live(tmp_path, sqlite_url, frozen_models_dir, fake_helpdesk) -> Iterator[dict[str, Any]]:
    settings = make_settings(
        sqlite_url,
        frozen_models_dir,
        model_name="frozen",
        secret_key=Secret(SECRET_KEY),
        sweep_interval_s=3600,
        similar_dir=tmp_path / "similar",
        drafting_model="none",
    )
    app = create_app(settings, environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url})
    rt = app.extensions["triage"]
    with rt.db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
    worker = EmbeddedWorker(app.extensions["celery"], concurrency=1, sweep_interval_s=3600)
    worker.start()
    server = Server(app, "127.0.0.1", 0).start()
    yield {"url": server.url, "rt": rt, "helpdesk": fake_helpdesk}
    server.stop()
    worker.stop()
    rt.db.dispose()


def send(live: dict[str, Any], external_id: str, requester: str, body: str) -> int:
    payload, headers = signed_delivery(SECRET, {"id": external_id, "body": body, "requester": requester})
    response = requests.post(f"{live['url']}/webhooks/generic", data=payload, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    ticket_id = response.json()["ticket_id"]

    def decided() -> bool:
        with live["rt"].db.session() as session:
            return session.scalar(select(Ticket.status).where(Ticket.id == ticket_id)) == "decided"

    wait_until(decided, timeout=60, message=f"ticket {external_id} decided")
    return ticket_id


def test_the_ticket_page_lists_similar_earlier_tickets_with_their_routing_and_corrections(live):
    ids = {}
    for external_id, requester, body in TICKETS[:3]:
        ids[external_id] = send(live, external_id, requester, body)

    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live["url"])
        page = context.new_page()
        page.goto("/review")
        page.get_by_label("Username").fill("ann")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/review")

        # The first ticket had nothing before it.
        page.goto(f"/review/tickets/{ids['ZD-1']}")
        assert "No earlier ticket" in page.locator("#similar").inner_text()

        # An agent corrects it on the review page.
        page.get_by_label("Correct label").fill("lost_or_stolen_card")
        page.get_by_label("Correct label").dispatch_event("change")
        page.get_by_role("button", name="Save correction").click()
        assert "corrected" in page.get_by_role("status").first.inner_text()

        ids["ZD-4"] = send(live, *TICKETS[3])
        page.goto(f"/review/tickets/{ids['ZD-4']}")
        rows = page.locator("#similar tr[data-similar]")
        assert rows.count() == 3
        first = rows.first
        assert first.get_attribute("data-similar") == str(ids["ZD-1"])
        text = first.inner_text()
        assert "lost_or_stolen_card" in text and "corrected" in text and "by ann" in text
        percents = [int(r.locator("td.num").inner_text().rstrip(" %")) for r in rows.all()]
        assert percents == sorted(percents, reverse=True) and percents[0] >= 90
        # The same requester wrote a paraphrase: a near-duplicate, flagged in the header and the list.
        assert page.locator("#duplicate-badge").inner_text() == f"possible duplicate of #{ids['ZD-1']}"
        assert "same requester" in page.locator("#duplicate").inner_text()
        assert "near-duplicate" in page.locator(".facts").first.inner_text()
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        page.locator("#similar").screenshot(path=str(ROOT / "test-artifacts" / "similar.png"))
        # On a phone the list stays inside the screen.
        page.set_viewport_size({"width": 390, "height": 844})
        assert (
            page.evaluate("""() => [...document.querySelectorAll('#similar *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).length""")
            == 0
        )
        page.set_viewport_size({"width": 1280, "height": 900})
        # A link to the earlier ticket opens it.
        first.get_by_role("link").click()
        page.wait_for_url(f"**/review/tickets/{ids['ZD-1']}")

    def linked() -> list[Any]:
        return [r for r in live["helpdesk"].successful() if r.path == "/api/tickets/ZD-4/triage"]

    [sent] = wait_until(linked, timeout=30, message="the duplicate's write-back")
    assert sent.body["duplicate_of"] == "ZD-1" and "triage_duplicate" in sent.body["tags"]
