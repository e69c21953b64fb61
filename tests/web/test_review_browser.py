"""The review page in a real headless Chromium: Debian's /usr/bin/chromium driven by Playwright.

The app is served on a loopback port with an embedded worker; write-backs go to the fake helpdesk's HTTP
server, so a test sees exactly what the helpdesk received. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from integrations.fake.webhook import signed_delivery
from service import create_app
from service.core.settings import Secret
from service.drafts import flow as drafts_flow
from service.infra.models import Feedback, Ticket
from service.review import users as review_users
from service.review import verdicts as review_verdicts
from service.worker.embedded import EmbeddedWorker
from tests.support.processes import wait_until
from tests.support.review import PASSWORD, SECRET_KEY, days_ago, decided_ticket, decision_id
from tests.support.settings import BANKING77, ROOT, SECRET, make_settings
from training.demo import Server

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts"
# Playwright's own browser downloads are impossible here; these flags keep Debian's chromium offline and quiet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
HOSTILE_SUBJECT = "<img src=x onerror=\"window.__pwned='subject'\">Refund please"
HOSTILE_BODY = (
    "<p>Hello,</p><script>window.__pwned='script'; alert('script')</script>"
    "<img src=x onerror=\"window.__pwned='img'; alert('img')\">"
    "<svg onload=\"window.__pwned='svg'\"><circle r=4></circle></svg>"
    "<p onmouseover=\"window.__pwned='hover'\">Please refund my card payment.</p>"
    "<a id=bad href=\"javascript:window.__pwned='link'\">click here</a>"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium before the tests")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) for browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Live:
    url: str
    rt: Any
    helpdesk: Any


@pytest.fixture
def live(sqlite_url, models_dir, fake_helpdesk) -> Iterator[Live]:
    """The app on a loopback port, a worker delivering write-backs, an agent (ann) and an admin (root)."""
    app = create_app(
        make_settings(sqlite_url, models_dir, secret_key=Secret(SECRET_KEY), sweep_interval_s=3600),
        environ={"TRIAGE_FAKE_HELPDESK_URL": fake_helpdesk.url},
    )
    rt = app.extensions["triage"]
    with rt.db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
        review_users.create_user(session, username="root", password=PASSWORD, role="admin")
    worker = EmbeddedWorker(app.extensions["celery"], concurrency=2, sweep_interval_s=3600)
    worker.start()
    server = Server(app, "127.0.0.1", 0).start()
    yield Live(server.url, rt, fake_helpdesk)
    server.stop()
    worker.stop()
    rt.db.dispose()


def page_for(browser: Any, live: Live, username: str = "ann", viewport: dict[str, int] = DESKTOP) -> Any:
    """A fresh browser context, signed in through the login form; dialogs are recorded, never shown."""
    context = browser.new_context(viewport=viewport, base_url=live.url)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("/review")
    assert "/login" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/review")
    return page


def overflowing(page: Any) -> list[str]:
    """Elements that stick out to the right of the viewport (a phone layout must have none)."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))""")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def seed(live: Live, n: int = 48) -> list[int]:
    """Real Banking77 questions as decided tickets over two weeks; returns the ids that need review."""
    rules, rng = live.rt.rules, random.Random(7)
    with (BANKING77 / "test.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh)][::61][:n]
    review = []
    for i, row in enumerate(rows):
        label = row["category"]
        queue = rules.label_queue.get(label, rules.default.name)
        threshold = rules.queues[queue].threshold
        confidence = round(rng.uniform(0.2, 0.99), 3)
        status = "auto_routed" if confidence >= threshold else "needs_review"
        if i % 17 == 5:
            status, confidence = "escalated", round(rng.uniform(0.1, 0.3), 3)
        ticket_id = decided_ticket(
            live.rt,
            status=status,
            label=label,
            confidence=confidence,
            queue=queue,
            priority=rules.queues[queue].priority,
            subject="",
            body=row["text"],
            decided_at=days_ago(rng.uniform(0, 13)),
            model_version="20261130T034252-b06e26ac",
        )
        if status == "needs_review":
            review.append(ticket_id)
        elif i % 3 == 0:
            with live.rt.db.session() as session:
                review_verdicts.review_ticket(
                    live.rt,
                    session,
                    ticket_id=ticket_id,
                    decision_id=decision_id(live.rt, ticket_id),
                    user_id=2,
                    label=None if i % 12 else "card_arrival",
                )
    return review


def test_an_agent_signs_in_corrects_a_label_and_approves_an_edited_draft(browser, live):
    review_ids = seed(live)
    target = decided_ticket(
        live.rt,
        label="card_arrival",
        confidence=0.41,
        queue="cards",
        subject="Card gone",
        body="My card was in my wallet and the wallet is gone. Can you block it and send a new one?",
        external_id="ZD-4711",
    )
    with live.rt.db.session() as session:
        drafts_flow.propose_draft(
            session,
            decision_id=decision_id(live.rt, target),
            source="template",
            text="Hello,\n\nThanks for getting in touch. Your card arrives within 5 working days.",
        )
    page = page_for(browser, live)
    assert page.get_by_role("heading", name="Review queue").is_visible()
    rows = page.locator("tr[data-row]")
    assert rows.count() == min(25, len(review_ids) + 1) and f"#{target}" in rows.first.inner_text()
    assert "Needs review" in page.get_by_role("navigation", name="Ticket lists").inner_text()
    shot(page, "queue.png")

    # j focuses the first ticket, Enter opens it.
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.classList.contains('ticket-link')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/review/tickets/{target}")
    assert page.get_by_role("heading", name="Card gone").is_visible()
    next_href = page.locator('a[rel="next"]').get_attribute("href")
    assert int(next_href.rsplit("/", 1)[1]) in review_ids
    page.keyboard.press("?")
    assert page.locator("dialog#shortcuts").is_visible()
    page.keyboard.press("Escape")
    shot(page, "ticket.png")

    # Correct the label: picking it from the searchable list moves the queue along.
    page.get_by_label("Correct label").fill("lost_or_stolen_card")
    page.get_by_label("Correct label").dispatch_event("change")
    assert page.get_by_label("Queue").input_value() == "fraud_security"
    page.get_by_label("Priority").select_option("urgent")
    page.get_by_role("button", name="Save correction").click()
    assert "corrected" in page.get_by_role("status").first.inner_text()
    with live.rt.db.session() as session:
        [fb] = session.scalars(select(Feedback).where(Feedback.ticket_id == target)).all()
        assert (fb.from_label, fb.to_label, fb.to_queue, fb.to_priority, fb.user.username) == (
            "card_arrival",
            "lost_or_stolen_card",
            "fraud_security",
            "urgent",
            "ann",
        )

    # e jumps into the draft; the agent rewrites it and approves.
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.id") == "draft-text"
    reply = "Hello,\n\nWe have blocked your card and a new one is on its way; it arrives within 5 working days."
    page.get_by_label("Reply to the requester").fill(reply)
    page.get_by_role("button", name="Approve and send").click()
    assert "Reply approved" in page.get_by_role("status").first.inner_text()

    def helpdesk_saw(tag: str) -> Any:
        """What the helpdesk received for this ticket with `tag` (seeded reviews may be swept out too)."""
        return [
            r for r in live.helpdesk.successful() if r.path == "/api/tickets/ZD-4711/triage" and tag in r.body["tags"]
        ]

    [sent] = wait_until(
        lambda: helpdesk_saw("triage_reply_approved"), timeout=30, message="the approved reply at the fake helpdesk"
    )
    assert sent.path == "/api/tickets/ZD-4711/triage"
    assert sent.headers["Idempotency-Key"].startswith("triage-writeback-")
    assert sent.body["internal_note"].endswith(reply) and "approved by ann" in sent.body["internal_note"]
    assert sent.body["public_reply"] == reply
    assert (sent.body["label"], sent.body["group"], sent.body["priority"]) == (
        "lost_or_stolen_card",
        "fraud_security",
        "urgent",
    )
    [correction] = wait_until(
        lambda: helpdesk_saw("triage_reviewed"), timeout=30, message="the correction at the fake helpdesk"
    )
    assert "label card_arrival -> lost_or_stolen_card" in correction.body["internal_note"]
    page.reload()
    assert page.locator("#writebacks .badge-wb-done").count() == 2
    assert "Approved by ann" in page.locator("#reply").inner_text()

    page.goto("/review/dashboard")
    assert page.get_by_text("accuracy on reviewed tickets").is_visible()
    assert page.get_by_text("—, no LLM configured").is_visible()
    assert page.locator("svg.chart").count() == 2
    shot(page, "dashboard.png")

    phone = page_for(browser, live, viewport=PHONE)
    shot(phone, "queue-phone.png")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], overflowing(phone)
    phone.goto(f"/review/tickets/{target}")
    shot(phone, "ticket-phone.png")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], overflowing(phone)
    assert page.dialogs == [] and phone.dialogs == []


def test_a_ticket_through_the_webhook_is_decided_and_shown(browser, live):
    body, headers = signed_delivery(
        SECRET, {"id": "W-7", "subject": "Card not here", "body": "My new card still has not arrived"}
    )
    answer = requests.post(f"{live.url}/webhooks/generic", data=body, headers=headers, timeout=10)
    ticket_id = answer.json()["ticket_id"]

    def decided() -> bool:
        with live.rt.db.session() as session:
            return session.get(Ticket, ticket_id).status == "decided"

    wait_until(decided, timeout=30, message="the worker's decision")
    page = page_for(browser, live)
    page.goto(f"/review/tickets/{ticket_id}?tab=all")
    assert page.get_by_role("heading", name="Card not here").is_visible()
    assert "baseline@" in page.locator(".facts").inner_text()


def test_a_hostile_ticket_renders_inert(browser, live):
    ticket_id = decided_ticket(live.rt, subject=HOSTILE_SUBJECT, body=HOSTILE_BODY)
    page = page_for(browser, live)
    page.goto(f"/review/tickets/{ticket_id}")
    page.get_by_text("Please refund my card payment.").hover()
    page.get_by_text("click here").click()
    page.wait_for_timeout(300)
    assert page.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".ticket-body script, .ticket-body img, .ticket-body svg").count() == 0
    assert page.locator("[onerror], [onload], [onmouseover]").count() == 0
    assert page.locator(".ticket-body a", has_text="click here").get_attribute("href") is None
    # The subject is shown as the text it is.
    assert HOSTILE_SUBJECT in page.locator("h1").inner_text()
    assert page.locator(".ticket-body").inner_text().startswith("Hello,")


def test_a_post_without_the_csrf_token_is_refused(browser, live):
    ticket_id = decided_ticket(live.rt)
    page = page_for(browser, live)
    page.goto(f"/review/tickets/{ticket_id}")
    status = page.evaluate(
        """async (decision) => (await fetch(location.pathname + '/review', {method: 'POST',
        body: new URLSearchParams({action: 'accept', decision_id: decision})})).status""",
        str(decision_id(live.rt, ticket_id)),
    )
    assert status == 400
    # The same through the page's own form with its token taken out.
    page.evaluate("document.querySelector('#accept-form input[name=csrf_token]').remove()")
    page.get_by_role("button", name="Accept").click()
    assert page.get_by_role("heading", name="400 · Bad Request").is_visible()
    assert "security token" in page.locator("main").inner_text()
    with live.rt.db.session() as session:
        assert session.scalars(select(Feedback)).all() == []


def test_an_agent_cannot_reach_admin_pages(browser, live):
    agent = page_for(browser, live)
    assert agent.get_by_role("link", name="Users").count() == 0
    response = agent.goto("/review/admin/users")
    assert response.status == 403
    assert "This page is for admins" in agent.locator("main").inner_text()
    admin = page_for(browser, live, username="root")
    admin.get_by_role("link", name="Users").click()
    assert admin.get_by_role("heading", name="Users").is_visible()
    admin.get_by_label("Username").fill("bea")
    admin.get_by_label("Password").fill(PASSWORD)
    admin.get_by_role("button", name="Add user").click()
    assert "User bea (agent) added" in admin.get_by_role("status").first.inner_text()
