"""The ticket's language on the review page, in a real headless Chromium, for a ticket the worker decided."""

from __future__ import annotations

import pytest
import requests

from integrations.fake.webhook import signed_delivery
from service.infra.models import Ticket
from tests.support.processes import wait_until
from tests.support.settings import SECRET
from tests.web.test_review_browser import PHONE, browser, live, overflowing, page_for, shot  # noqa: F401

pytestmark = pytest.mark.e2e


def test_a_german_ticket_shows_its_language_and_why_it_waits_for_a_person(browser, live):  # noqa: F811
    body, headers = signed_delivery(
        SECRET,
        {"id": "DE-1", "subject": "Karte verloren", "body": "Ich habe meine Karte verloren und brauche eine neue."},
    )
    answer = requests.post(f"{live.url}/webhooks/generic", data=body, headers=headers, timeout=10)
    ticket_id = answer.json()["ticket_id"]

    def decided() -> bool:
        with live.rt.db.session() as session:
            return session.get(Ticket, ticket_id).status == "decided"

    wait_until(decided, timeout=30, message="the worker's decision")
    page = page_for(browser, live)
    badge = page.locator(f'tr:has(a[href*="/review/tickets/{ticket_id}"]) abbr.lang')
    assert badge.inner_text().strip().lower() == "de" and badge.is_visible()
    page.goto(f"/review/tickets/{ticket_id}")
    assert page.locator("#ticket-language").inner_text().strip().lower() == "de"
    assert (
        "language 'de' is not one the model was trained on (en): needs review"
        in page.locator("#decision-language").inner_text()
    )
    shot(page, "language-ticket.png")
    phone = page_for(browser, live, viewport=PHONE)
    phone.goto(f"/review/tickets/{ticket_id}")
    assert overflowing(phone) == []
