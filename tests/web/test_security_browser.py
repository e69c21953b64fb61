"""The review page's defences in a real headless Chromium: the CSP stops an injected inline script, the session
cookie is out of scripts' reach and same-site, a form without its CSRF token is refused, and a session ended on the
server is refused even with its cookie."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service import create_app
from service.core.settings import Secret
from service.review import users as review_users
from tests.support.browser import chromium
from tests.support.review import PASSWORD, SECRET_KEY, decided_ticket, decision_id
from tests.support.settings import make_settings
from training.demo import Server

pytestmark = pytest.mark.e2e

# What a sanitizer bypass would leave in the page: an inline script and an inline handler inside the ticket body.
INJECTED = "<script>window.__pwned = 'inline script'</script><img src=x onerror=\"window.__pwned = 'inline handler'\">"
MARKER = 'class="ticket-body'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def live(sqlite_url, models_dir) -> Iterator[tuple[str, Any]]:
    app = create_app(make_settings(sqlite_url, models_dir, secret_key=Secret(SECRET_KEY)), environ={})
    rt = app.extensions["triage"]
    with rt.db.session() as session:
        review_users.create_user(session, username="ann", password=PASSWORD, role="agent")
        review_users.create_user(session, username="root", password=PASSWORD, role="admin")
    server = Server(app, "127.0.0.1", 0).start()
    yield server.url, rt
    server.stop()
    rt.db.dispose()


def signed_in(browser: Any, url: str, username: str = "ann") -> Any:
    context = browser.new_context(base_url=url)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/review")
    return page


def with_injected_script(page: Any, *, keep_csp: bool) -> None:
    """Serve ticket pages with a script spliced into the body, as if the sanitizer had let it through."""

    def splice(route: Any) -> None:
        if route.request.resource_type != "document":
            route.continue_()  # the injected <img src=x> itself, say
            return
        response = route.fetch()
        body = response.text()
        assert MARKER in body, "the ticket page's body element moved: update MARKER"
        at = body.index(">", body.index(MARKER)) + 1
        headers = dict(response.headers)
        if not keep_csp:
            headers.pop("content-security-policy", None)
        route.fulfill(response=response, body=body[:at] + INJECTED + body[at:], headers=headers)

    page.route("**/review/tickets/*", splice)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => (window.__violations = window.__violations || []).push(e.violatedDirective));"
    )


def test_the_content_security_policy_blocks_a_script_injected_into_a_ticket_body(browser, live):
    url, rt = live
    ticket_id = decided_ticket(rt, subject="Refund", body="Please refund my card payment.")
    page = signed_in(browser, url)
    with_injected_script(page, keep_csp=True)
    page.goto(f"/review/tickets/{ticket_id}")
    page.wait_for_load_state("load")
    assert page.evaluate("window.__pwned") is None
    violations = page.evaluate("window.__violations || []")
    assert any(v.startswith("script-src") for v in violations), violations
    # The same page without the policy runs the script: the policy, not luck, stopped it above.
    control = signed_in(browser, url)
    with_injected_script(control, keep_csp=False)
    control.goto(f"/review/tickets/{ticket_id}")
    control.wait_for_function("window.__pwned !== undefined")
    assert control.evaluate("window.__pwned") in ("inline script", "inline handler")


def test_the_session_cookie_is_http_only_and_same_site_and_scripts_cannot_read_it(browser, live):
    url, _ = live
    page = signed_in(browser, url)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "triage_session"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert "triage_session" not in page.evaluate("document.cookie")


def test_a_form_posted_without_its_csrf_token_is_refused(browser, live):
    url, rt = live
    ticket_id = decided_ticket(rt)
    page = signed_in(browser, url)
    page.goto(f"/review/tickets/{ticket_id}")
    status = page.evaluate(
        """async ([path, decision]) => {
            const body = new URLSearchParams({action: 'accept', decision_id: decision});
            const response = await fetch(path, {method: 'POST', body, credentials: 'same-origin'});
            return response.status;
        }""",
        [f"/review/tickets/{ticket_id}/review", str(decision_id(rt, ticket_id))],
    )
    assert status == 400
    # The same request with the page's own token goes through (a redirect back to the ticket).
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    status = page.evaluate(
        """async ([path, decision, token]) => {
            const body = new URLSearchParams({action: 'accept', decision_id: decision, csrf_token: token});
            const response = await fetch(path, {method: 'POST', body, credentials: 'same-origin', redirect: 'manual'});
            return response.type === 'opaqueredirect' ? 303 : response.status;
        }""",
        [f"/review/tickets/{ticket_id}/review", str(decision_id(rt, ticket_id)), token],
    )
    assert status == 303


def test_a_session_ended_on_the_server_is_refused_with_its_cookie(browser, live):
    url, _ = live
    page = signed_in(browser, url)
    thief = browser.new_context(base_url=url)
    thief.add_cookies(page.context.cookies())
    stolen = thief.new_page()
    stolen.goto("/review")
    assert stolen.url.endswith("/review")  # the copy works while the session is open
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    stolen.goto("/review")
    assert "/login" in stolen.url
    # An admin ending a session works the same way.
    again = signed_in(browser, url)
    admin = signed_in(browser, url, "root")
    admin.goto("/review/admin/sessions")
    admin.get_by_role("button", name="End every session of ann").first.click()
    admin.wait_for_url("**/review/admin/sessions")
    again.goto("/review")
    assert "/login" in again.url
