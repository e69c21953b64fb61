"""Hand-picked bad input for every intake endpoint: each gets a precise 4xx, or a 2xx that stores it inert."""

import itertools
import json
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator

from service import create_app
from service.infra.models import Ticket
from service.web.openapi import document
from tests.support.fuzzing import BUDGET, NOWHERE, app_fixtures, assert_precise_answer, generic_headers
from tests.support.review import decided_ticket
from tests.support.settings import TOKEN, make_settings
from tests.support.vendors import jira_env, jira_headers, zendesk_env, zendesk_headers

pytestmark = pytest.mark.fuzz

LIMIT = 256 * 1024
IDS = itertools.count()


app, client = app_fixtures("targeted")


def send(client, endpoint, body, content_type="application/json", **headers):
    """POST a body to one intake endpoint the way its real sender would, signature and all."""
    unique = str(next(IDS))
    if endpoint == "generic":
        sent = generic_headers(body, content_type) | {"X-Triage-Delivery": f"t-{unique}"}
    elif endpoint == "api":
        sent = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": f"t-{unique}"}
        sent |= {"Content-Type": content_type} if content_type else {}
    elif endpoint == "zendesk":
        sent = zendesk_headers(body, invocation=f"t-{unique}")
    else:
        sent = jira_headers(body, identifier=f"t-{unique}")
    if endpoint in ("zendesk", "jira"):
        sent.pop("Content-Type")
        sent |= {"Content-Type": content_type} if content_type else {}
    path = "/api/v1/tickets" if endpoint == "api" else f"/webhooks/{endpoint}"
    return client.post(path, data=body, headers=sent | headers)


def expect(response, status, words):
    assert_precise_answer(response)
    problem = response.get_json()
    assert response.status_code == status, problem
    assert words in problem["detail"], problem["detail"]


def stored(app, response):
    with app.extensions["triage"].db.session() as session:
        return session.get(Ticket, response.get_json()["ticket_id"])


ENDPOINTS = ["generic", "api", "zendesk", "jira"]
BODIES = [
    ("over the size limit", b'{"id": "1", "body": "' + b"x" * LIMIT + b'"}', 413, f"larger than {LIMIT} bytes"),
    ("nested 33 deep", b'{"a":' * 33 + b"1" + b"}" * 33, 400, "nested deeper than 32 levels"),
    ("a nesting bomb", b"[" * 100_000 + b"]" * 100_000, 400, "nested deeper than 32 levels"),
    ("invalid UTF-8", b'{"id": "\xff"}', 400, "not valid UTF-8 (byte 8)"),
    ("UTF-16", '{"id": "1"}'.encode("utf-16"), 400, "not valid UTF-8"),
    ("a UTF-8 BOM", b'\xef\xbb\xbf{"id": "1"}', 400, "BOM"),
    ("truncated JSON", b'{"id": "1", "body": "card', 400, "malformed JSON: Unterminated string"),
    ("trailing garbage", b'{"id": "1"} {', 400, "malformed JSON: Extra data"),
    ("an empty body", b"", 400, "request body is empty"),
    ("a JSON array", b'["id", 1]', 400, "object"),
    ("a JSON string", b'"hello"', 400, "object"),
    ("a JSON number", b"42", 400, "object"),
    ("JSON null", b"null", 400, "object"),
    ("JSON true", b"true", 400, "object"),
    ("NaN", b'{"id": NaN}', 400, "NaN is not a JSON number"),
    ("Infinity", b'{"id": -Infinity}', 400, "-Infinity is not a JSON number"),
    ("a float beyond 64 bits", b'{"id": 1e400}', 400, "1e400 is out of range"),
    ("an integer of 5000 digits", b'{"id": ' + b"7" * 5000 + b"}", 400, "has 5000 digits"),
    ("a duplicate key", b'{"id": "1", "id": "2"}', 400, "duplicate key 'id'"),
    ("a lone high surrogate", b'{"id": "a\\ud800"}', 400, "'id': unpaired surrogate \\ud800"),
    ("a lone low surrogate in a key", b'{"\\udc00": 1}', 400, "the key '\ufffd': unpaired surrogate \\udc00"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case, body, status, words", BODIES, ids=[b[0] for b in BODIES])
def test_a_broken_body_gets_a_4xx_that_says_what_is_wrong(client, endpoint, case, body, status, words):
    expect(send(client, endpoint, body), status, words)


CONTENT_TYPES = [
    ("text/plain", "Content-Type must be application/json, got 'text/plain'"),
    (None, "Content-Type must be application/json, got 'none'"),
    ("application/x-www-form-urlencoded", "got 'application/x-www-form-urlencoded'"),
    ("multipart/form-data; boundary=x", "got 'multipart/form-data'"),
    ("application/json; charset=latin-1", "JSON must be UTF-8 (RFC 8259); charset='latin-1' is not accepted"),
    ("application/json; charset=utf-16", "charset='utf-16'"),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("content_type, words", CONTENT_TYPES)
def test_a_wrong_or_missing_content_type_gets_415(client, endpoint, content_type, words):
    expect(send(client, endpoint, b'{"id": "1", "body": "x"}', content_type), 415, words)


FIELDS = [
    ({"id": "1", "subject": 1}, "subject: 1 is not of type 'string'"),
    ({"id": "1", "body": True}, "body: True is not of type 'string'"),
    ({"id": "1", "body": None}, "body: None is not of type 'string'"),
    ({"id": "1", "body": ["card"]}, "body: ['card'] is not of type 'string'"),
    ({"id": "1", "body": {"text": "card"}}, "body: {'text': 'card'} is not of type 'string'"),
    ({"id": "1", "body": "x", "requester": 5}, "requester: 5 is not valid"),
    ({"id": "1", "body": "x", "requester": {"email": False}}, "requester: {'email': False} is not valid"),
    ({"id": "1", "body": "x", "tags": "urgent"}, "tags: 'urgent' is not of type 'array'"),
    ({"id": "1", "body": "x", "tags": [1]}, "tags/0: 1 is not of type 'string'"),
    ({"id": "1", "body": "x", "metadata": []}, "metadata: [] is not of type 'object'"),
    ({"id": "1", "body": "x", "metadata": {"a": [1]}}, "metadata/a: [1] is not of type"),
    ({"id": True, "body": "x"}, "id: must be a non-empty string"),
    ({"id": None, "body": "x"}, "id: must be a non-empty string"),
    ({"id": 1.5, "body": "x"}, "id: must be a non-empty string"),
    ({"id": -1, "body": "x"}, "or an integer from 0 to 2^63-1"),
    ({"id": 2**63, "body": "x"}, "or an integer from 0 to 2^63-1"),
    ({"id": "x\n", "body": "x"}, "id: must be a non-empty string (no surrounding spaces"),
    ({"id": "\u00a0x", "body": "x"}, "id: must be a non-empty string (no surrounding spaces"),
    ({"id": "x" * 129, "body": "x"}, "≤128 chars"),
    ({"id": "1", "subject": "x" * 1001}, "subject: 'xxxx"),
    ({"id": "1", "body": "x", "created_at": "2026-11-30"}, "created_at: '2026-11-30' is not an RFC 3339 date-time"),
    ({"id": "1", "body": "x", "created_at": "2026-11-30T10:00:00"}, "with an offset, like 2026-11-30T10:00:00Z"),
    ({"id": "1", "body": "x", "created_at": "2026-11-30T25:00:00Z"}, "created_at: '2026-11-30T25:00:00Z' is not"),
    ({"id": "1", "body": "x", "created_at": "2026-02-30T10:00:00Z"}, "created_at: '2026-02-30T10:00:00Z' is not"),
    ({"id": "1", "body": "x", "created_at": "2026-11-30T10:00:00+24:00"}, "is not an RFC 3339 date-time"),
    ({"id": "1", "body": "x", "created_at": "20261130T100000Z"}, "is not an RFC 3339 date-time"),
    ({"id": "1", "body": "x", "created_at": 1764496800}, "created_at: 1764496800 is not of type 'string'"),
    ({"id": "1", "body": "a\x00b"}, "'body': NUL (\\u0000) is not allowed in text"),
    ({"id": "1", "body": "x", "metadata": {"a\x00": "b"}}, "the key 'metadata/a\ufffd': NUL"),
    ({"id": "1", "body": "x", "tags": ["ok", "\x00"]}, "'tags/1': NUL"),
    ({"id": "1", "body": "x", "subjet": "typo"}, "'subjet' is not a field of a ticket"),
    ({"id": "1"}, "needs a non-empty subject or body"),
]


@pytest.mark.parametrize("endpoint", ["generic", "api"])
@pytest.mark.parametrize("ticket, words", FIELDS, ids=[w[:40] for _, w in FIELDS])
def test_a_wrong_type_or_value_in_a_field_gets_a_400_naming_the_field(client, endpoint, ticket, words):
    expect(send(client, endpoint, json.dumps(ticket).encode()), 400, words)


HTML = {
    "id": "<b>html-1</b>",
    "subject": "<script>alert('s')</script>",
    "body": "<img src=x onerror=alert(1)>",
    "requester": {"email": '"><svg/onload=alert(1)>@example.com'},
    "tags": ["<i>t</i>", "{{7*7}}"],
    "metadata": {"<k onclick=x>": "</textarea><script>alert(1)</script>"},
}
UNICODE = {
    "id": "\u202euni-1",
    "subject": "\u202eevil.exe\u202c \u200f\u2066x\u2069",
    "body": "\U0001f469\u200d\U0001f4bb \U0001f1fa\U0001f1f8 e\u0301 \ufdfa \u2028 \u0085 \ufeff \U0001242b",
    "tags": ["\U0001f600"],
    "metadata": {"\u05e9\u05dc\u05d5\u05dd": "\u0645\u0631\u062d\u0628\u0627"},
}


@pytest.mark.parametrize("endpoint", ["generic", "api"])
@pytest.mark.parametrize("ticket", [HTML, UNICODE], ids=["html in every field", "rtl, emoji and combining marks"])
@pytest.mark.parametrize("ascii_only", [True, False], ids=["escaped", "raw utf-8"])
def test_hostile_but_valid_text_is_accepted_and_stored_and_served_as_sent(client, app, endpoint, ticket, ascii_only):
    ticket = ticket | {"id": f"{ticket['id']}-{endpoint}-{ascii_only}"}
    response = send(client, endpoint, json.dumps(ticket, ensure_ascii=ascii_only).encode())
    assert response.status_code == 202, response.get_json()
    row = stored(app, response)
    assert (row.external_id, row.subject, row.body, row.tags, row.meta) == (
        ticket["id"],
        ticket["subject"],
        ticket["body"],
        ticket["tags"],
        ticket["metadata"],
    )
    # Served back as JSON data, never as markup.
    view = client.get(response.get_json()["status_url"], headers={"Authorization": f"Bearer {TOKEN}"})
    assert view.mimetype == "application/json" and view.get_json()["subject"] == ticket["subject"]


@pytest.mark.parametrize(
    "ticket, check",
    [
        ({"id": 1e3, "body": "x"}, lambda row: row.external_id == "1000"),
        ({"id": "pair-1", "body": "\ud83d\ude00"}, lambda row: row.body == "\U0001f600"),
        (
            {"id": "leap-1", "body": "x", "created_at": "2016-12-31T23:59:60Z"},
            lambda row: row.created_at.replace(tzinfo=UTC) == datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC),
        ),
        (
            {"id": "lower-1", "body": "x", "created_at": "2026-11-30t10:00:00.123456789z"},
            lambda row: row.created_at.replace(tzinfo=UTC) == datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC),
        ),
    ],
    ids=["id 1e3 is the integer 1000", "an escaped surrogate pair", "a leap second", "lower-case t and z"],
)
def test_edge_values_the_format_allows_are_read_as_meant(client, app, ticket, check):
    body = json.dumps(ticket).encode()
    response = send(client, "generic", body)
    assert response.status_code == 202, response.get_json()
    assert check(stored(app, response))


@pytest.mark.parametrize("endpoint, header", [("generic", "X-Triage-Delivery"), ("api", "Idempotency-Key")])
def test_a_dedupe_key_too_long_to_store_is_refused_rather_than_cut(client, endpoint, header):
    body = json.dumps({"id": f"key-{endpoint}", "body": "x"}).encode()
    expect(send(client, endpoint, body, **{header: "k" * 129}), 400, f"{header} is 129 characters long; at most 128")
    assert send(client, endpoint, body, **{header: "k" * 128}).status_code == 202


# Arabic-Indic digits arrive as their UTF-8 bytes read as Latin-1, as a WSGI server hands them over.
@pytest.mark.parametrize(
    "timestamp",
    ["\u0661\u0667\u0660\u0660".encode().decode("latin-1"), "1_700_000_000", "+1700000000", "9" * 40, "-5", "1e9"],
)
def test_a_timestamp_that_is_not_plain_unix_seconds_gets_401(client, timestamp):
    body = b'{"id": "ts", "body": "x"}'
    headers = generic_headers(body) | {"X-Triage-Timestamp": timestamp}
    expect(client.post("/webhooks/generic", data=body, headers=headers), 401, "X-Triage-Timestamp must be Unix seconds")


@pytest.mark.parametrize("ticket_id", [str(2**63), "9" * 5000, "-1", "abc", "1.0", "%00"])
def test_reading_a_ticket_that_cannot_exist_is_a_404(client, ticket_id):
    response = client.get(f"/api/v1/tickets/{ticket_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert_precise_answer(response)
    assert response.status_code == 404


ZENDESK = {"event": "ticket.created", "ticket": {"id": "4711", "subject": "Card", "description": "It is lost."}}


@pytest.mark.parametrize(
    "change, words",
    [
        ({"id": "\u00b2"}, "ticket.id must be a Zendesk ticket number, got '\u00b2'"),
        ({"id": "\u0661\u0662"}, "ticket.id must be a Zendesk ticket number"),
        ({"id": "1" * 20}, "ticket.id must be a Zendesk ticket number"),
        ({"id": True}, "ticket.id must be a Zendesk ticket number, got True"),
        ({"id": [4711]}, "ticket.id must be a Zendesk ticket number, got [4711]"),
        ({"tags": 5}, "ticket.tags must be a list or a space-separated string, got 5"),
        ({"custom_fields": {"id": 1}}, "ticket.custom_fields must be a list, got {'id': 1}"),
    ],
)
def test_a_zendesk_ticket_with_a_field_of_the_wrong_kind_gets_a_400(client, change, words):
    body = json.dumps({**ZENDESK, "ticket": ZENDESK["ticket"] | change}).encode()
    expect(send(client, "zendesk", body), 400, f"not a zendesk ticket payload: {words}")


JIRA = {
    "webhookEvent": "jira:issue_created",
    "issue": {
        "id": "1",
        "key": "CARD-1",
        "fields": {"summary": "Card lost", "description": "Please block it", "labels": ["web"]},
    },
}


@pytest.mark.parametrize(
    "change, words",
    [
        ({"key": "CARD-" + "1" * 130}, "issue.key must be a Jira issue key like ABC-123"),
        ({"key": " CARD-1"}, "issue.key must be a Jira issue key like ABC-123, got ' CARD-1'"),
        ({"key": 5}, "issue.key must be a Jira issue key like ABC-123, got 5"),
        ({"fields": "summary"}, "jira:issue_created: 'issue' with 'fields' is missing"),
    ],
)
def test_a_jira_issue_with_a_field_of_the_wrong_kind_gets_a_400(client, change, words):
    body = json.dumps({**JIRA, "issue": JIRA["issue"] | change}).encode()
    expect(send(client, "jira", body), 400, f"not a jira ticket payload: {words}")


@pytest.mark.parametrize(
    "fields",
    [
        {"labels": 5, "components": {"id": 1}},
        {"description": {"type": "doc", "content": 5}},
        {"description": {"type": "doc", "content": [{"type": "text", "text": "<script>x</script>", "content": "y"}]}},
    ],
    ids=["labels and components not lists", "document content not a list", "document content a string"],
)
def test_optional_jira_fields_of_the_wrong_kind_read_as_empty(client, app, fields):
    issue = JIRA["issue"] | {"key": f"OPT-{next(IDS)}", "fields": JIRA["issue"]["fields"] | fields}
    response = send(client, "jira", json.dumps({**JIRA, "issue": issue}).encode())
    assert response.status_code == 202, response.get_json()
    assert stored(app, response).subject == "Card lost"


@pytest.mark.parametrize(
    "endpoint, payload, read",
    [
        (
            "zendesk",
            {**ZENDESK, "ticket": ZENDESK["ticket"] | {"id": "4712", "description": "a\x00b"}},
            lambda row: row.body,
        ),
        (
            "jira",
            {**JIRA, "issue": JIRA["issue"] | {"key": "NUL-1", "fields": {"summary": "<b>a\x00b</b>"}}},
            lambda row: row.subject,
        ),
    ],
)
def test_nul_in_a_vendor_payload_is_stored_as_a_replacement_character(client, app, endpoint, payload, read):
    response = send(client, endpoint, json.dumps(payload).encode())
    assert response.status_code == 202, response.get_json()
    assert "\ufffd" in read(stored(app, response)) and "\x00" not in read(stored(app, response))


def test_the_documented_ticket_view_matches_a_decided_ticket(client, app):
    ticket_id = decided_ticket(app.extensions["triage"], subject="<i>Card</i>", external_id="view-1")
    view = client.get(f"/api/v1/tickets/{ticket_id}", headers={"Authorization": f"Bearer {TOKEN}"}).get_json()
    assert view["decision"] is not None
    errors = Draft202012Validator(document()["components"]["schemas"]["TicketView"]).iter_errors(view)
    assert not [error.message for error in errors]


def test_the_fuzz_budget_adds_up_to_ten_thousand_cases():
    # Each fuzz test asserts that it ran its share, so this total is a count of cases run, not a hope.
    assert sum(BUDGET.values()) >= 10_000


@pytest.mark.services
def test_hostile_valid_text_and_vendor_nul_are_stored_on_postgres(postgres_url, models_dir):
    # SQLite stores what Postgres refuses (NUL, surrogates), so the inert-storage promise is checked there too.
    application = create_app(
        make_settings(postgres_url, models_dir, integrations="zendesk,jira"),
        environ={**zendesk_env(NOWHERE), **jira_env(NOWHERE)},
    )
    try:
        client = application.test_client()
        for ticket in (HTML, UNICODE):
            ticket = ticket | {"id": f"pg-{ticket['id']}"}
            response = send(client, "generic", json.dumps(ticket, ensure_ascii=False).encode())
            assert response.status_code == 202, response.get_json()
            row = stored(application, response)
            assert (row.subject, row.body, row.meta) == (ticket["subject"], ticket["body"], ticket["metadata"])
        expect(send(client, "generic", b'{"id": "pg-nul", "body": "a\\u0000b"}'), 400, "NUL")
        payload = {**ZENDESK, "ticket": ZENDESK["ticket"] | {"id": "94711", "description": "a\x00b"}}
        response = send(client, "zendesk", json.dumps(payload).encode())
        assert response.status_code == 202 and stored(application, response).body == "a\ufffdb"
    finally:
        application.extensions["triage"].db.dispose()
