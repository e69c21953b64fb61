"""Every review route, driven with Hypothesis-generated query strings, path parts and form fields in the real app
on Postgres: never a 5xx, and a bad value of a known parameter is ignored and named on the page."""

from __future__ import annotations

import html
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import create_app
from service.core.settings import Secret
from service.review import users as review_users
from tests.support.fuzzing import BUDGET, TALLY, fuzz_settings
from tests.support.review import PASSWORD, SECRET_KEY, csrf_token, decided_ticket, decision_id, sign_in
from tests.support.settings import make_settings

pytestmark = [pytest.mark.fuzz, pytest.mark.services]

# Values each parameter must refuse, with the page saying so: str.isdigit() is true for "²", float() reads "inf"
# and "nan", a 20-digit page overflows the database's integers, and year 9999 has no next day.
BAD = {
    "conf_min": ["inf", "-inf", "nan", "NaN", "1e400", "²", "-1", "101", "abc", "5\x00"],
    "conf_max": ["Infinity", "nan", "1e999", "½", "100.5", "-0.5", "x"],
    "page": ["²", "0", "-1", "99999999999999999999", "1e3", "1.5", "abc", "١٢", "1\x00"],
    "since": ["²", "yesterday", "0001-01-01", "2026-13-01", "9999-12-31", "2026-02-30"],
    "until": ["9999-12-31", "0001-01-01", "tomorrow", "²"],
    "tab": ["²", "nope", "ALL", "needs_review\x00"],
    "sort": ["random", "²", "-newest"],
    "per_page": ["10", "²", "1000", "25.0"],
}
DASHBOARD_BAD = ["²", "0", "8", "-7", "99999999999999999999", "30.0", "x\x00", "inf"]
GOOD = {
    "conf_min": ["0", "10", "55.5"],
    "conf_max": ["100", "90"],
    "page": ["1", "2"],
    "since": ["2026-01-01"],
    "until": ["2026-12-31"],
    "tab": ["all", "reviewed", "escalated"],
    "sort": ["oldest", "confidence"],
    "per_page": ["50"],
    "queue": ["cards", "", "x" * 300, "\x00", "café"],
    "label": ["card_arrival", "<script>alert(1)</script>"],
    "model": ["v1"],
}
FREE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@pytest.fixture(scope="module")
def fuzz_app(postgres_url, models_dir):
    app = create_app(
        make_settings(
            postgres_url,
            models_dir,
            secret_key=Secret(SECRET_KEY),
            login_rate_limit="100000/minute",
            login_user_rate_limit="100000/minute",
        ),
        environ={},
    )
    rt = app.extensions["triage"]
    suffix = __import__("uuid").uuid4().hex[:6]
    with rt.db.session() as session:
        review_users.create_user(session, username=f"fuzz-admin-{suffix}", password=PASSWORD, role="admin")
        agent = review_users.create_user(session, username=f"fuzz-agent-{suffix}", password=PASSWORD, role="agent")
    tickets = [decided_ticket(rt, confidence=c, external_id=f"fuzz-{suffix}-{c}") for c in (0.3, 0.6, 0.95)]
    client = app.test_client()
    sign_in(client, f"fuzz-admin-{suffix}")
    state = {
        "app": app,
        "client": client,
        "admin": f"fuzz-admin-{suffix}",
        "agent_id": agent.id,
        "tickets": tickets,
        "decisions": [decision_id(rt, t) for t in tickets],
        "token": csrf_token(client, "/review"),
    }
    yield state
    rt.db.dispose()


def signed_in(state) -> None:
    """Sign in again if an action (ending sessions, say) signed the admin out."""
    client = state["client"]
    if client.get("/review/admin/users").status_code != 200:
        sign_in(client, state["admin"])
        state["token"] = csrf_token(client, "/review")


@st.composite
def query(draw, bad: dict[str, list[str]], good: dict[str, list[str]]) -> tuple[list[tuple[str, str]], set[str]]:
    """A query string's pairs and the known parameters given a value they must refuse."""
    pairs, refused = [], set()
    for name in sorted(set(bad) | set(good)):
        kind = draw(st.sampled_from(["absent", "absent", "bad", "good", "free"]))
        if kind == "bad" and bad.get(name):
            pairs.append((name, draw(st.sampled_from(bad[name]))))
            refused.add(name)
        elif kind == "good" and good.get(name):
            pairs.append((name, draw(st.sampled_from(good[name]))))
        elif kind == "free":
            pairs.append((name, draw(FREE_TEXT)))
    for _ in range(draw(st.integers(0, 2))):  # parameters no route knows
        pairs.append((draw(FREE_TEXT), draw(FREE_TEXT)))
    return draw(st.permutations(pairs)), refused


def named(page: str, name: str) -> bool:
    return f"{name} &#39;" in page or f"{name} {html.escape(repr(''))}" in page


@fuzz_settings(BUDGET["review_get"])
@given(
    route=st.sampled_from(["queue", "ticket", "ticket", "dashboard", "users", "sessions", "login", "password", "root"]),
    ticket=st.one_of(st.integers(0, 2**70), st.sampled_from(["²", "１２", "-1", "0x10", "1e3"])),
    known=st.integers(0, 2),
    args=query(BAD, GOOD),
    days=st.one_of(st.none(), st.sampled_from(DASHBOARD_BAD), st.sampled_from(["7", "30", "90"]), FREE_TEXT),
)
def test_every_review_page_answers_any_query_string_without_an_error(fuzz_app, route, ticket, known, args, days):
    TALLY["review_get"] += 1
    signed_in(fuzz_app)
    client = fuzz_app["client"]
    pairs, refused = args
    if route == "dashboard":
        pairs = [("days", days)] if days is not None else []
    qs = urlencode(pairs)
    ticket_part = str(fuzz_app["tickets"][known]) if isinstance(ticket, int) and ticket % 3 == 0 else str(ticket)
    path = {
        "queue": "/review",
        "ticket": f"/review/tickets/{quote(ticket_part)}",
        "dashboard": "/review/dashboard",
        "users": "/review/admin/users",
        "sessions": "/review/admin/sessions",
        "login": "/login",
        "password": "/account/password",
        "root": "/",
    }[route]
    response = client.get(f"{path}?{qs}" if qs else path)
    assert response.status_code < 500, (path, qs, response.get_data(as_text=True)[-600:])
    page = response.get_data(as_text=True)
    if route == "queue":
        assert response.status_code == 200
        for name in refused:
            assert named(page, name), (name, qs)
    elif route == "dashboard":
        assert response.status_code == 200
        if days in DASHBOARD_BAD:
            assert named(page, "days"), days
    elif route == "ticket" and response.status_code == 200:
        for name in refused:
            assert named(page, name), (name, qs)


FORM_VALUES = st.one_of(
    FREE_TEXT,
    st.sampled_from(["", "²", "-1", "0", "99999999999999999999", "1e3", "inf", "nan", "١", "1\x00", "accept"]),
    st.integers(-(2**70), 2**70).map(str),
)


@fuzz_settings(BUDGET["review_post"])
@given(
    route=st.sampled_from(["review", "draft", "create_user", "set_active", "end_sessions", "password"]),
    target=st.one_of(st.integers(0, 2**70), st.sampled_from(["²", "-1"])),
    known=st.integers(0, 2),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "decision_id",
                "version",
                "action",
                "label",
                "queue",
                "priority",
                "text",
                "ctx",
                "next_id",
                "stay",
                "active",
                "username",
                "role",
                "session_id",
                "current",
                "new",
            ]
        ),
        FORM_VALUES,
        max_size=8,
    ),
    use_known_decision=st.booleans(),
    ctx=query(BAD, GOOD),
)
def test_every_review_action_answers_any_form_without_an_error(
    fuzz_app, route, target, known, fields, use_known_decision, ctx
):
    TALLY["review_post"] += 1
    signed_in(fuzz_app)
    client = fuzz_app["client"]
    ticket = fuzz_app["tickets"][known]
    form = {**fields, "csrf_token": fuzz_app["token"], "ctx": urlencode(ctx[0])}
    if use_known_decision:
        form["decision_id"] = str(fuzz_app["decisions"][known])
    if route == "set_active" and form.get("active") == "false":
        form["active"] = "true"  # deactivating the users the test signs in with would end the run's coverage
    path = {
        "review": f"/review/tickets/{ticket}/review",
        "draft": f"/review/tickets/{ticket}/draft",
        "create_user": "/review/admin/users",
        "set_active": f"/review/admin/users/{quote(str(target))}/active",
        "end_sessions": f"/review/admin/sessions/{quote(str(fuzz_app['agent_id'] if known else target))}/end",
        "password": "/account/password",
    }[route]
    response = client.post(path, data=form)
    assert response.status_code < 500, (path, form, response.get_data(as_text=True)[-600:])


def test_the_bad_values_of_the_issue_are_named_on_the_page_and_never_a_500(fuzz_app):
    signed_in(fuzz_app)
    client = fuzz_app["client"]
    ticket = fuzz_app["tickets"][0]
    for qs, name in (
        ("conf_min=inf", "conf_min"),
        ("conf_min=nan", "conf_min"),
        ("page=%C2%B2", "page"),
        ("page=99999999999999999999", "page"),
        ("page=100001", "page"),
    ):
        for path in ("/review", f"/review/tickets/{ticket}"):
            response = client.get(f"{path}?{qs}")
            assert response.status_code == 200 and named(response.get_data(as_text=True), name), (path, qs)
    dashboard = client.get("/review/dashboard?days=%C2%B2")
    assert dashboard.status_code == 200 and named(dashboard.get_data(as_text=True), "days")
    for decision in ("²", "99999999999999999999"):
        response = client.post(
            f"/review/tickets/{ticket}/review",
            data={"decision_id": decision, "action": "accept", "csrf_token": fuzz_app["token"]},
        )
        assert response.status_code == 400 and "decision_id" in response.get_data(as_text=True)
    assert client.get("/review/tickets/99999999999999999999").status_code == 404
    assert client.get("/review/tickets/%C2%B2").status_code == 404
