"""Hypothesis against the signed webhooks: every body is signed correctly, so the parser behind the check is hit."""

import copy
import itertools
import json
from datetime import UTC, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.infra.models import Ticket
from tests.support.fuzzing import (
    BUDGET,
    HOSTILE,
    app_fixtures,
    assert_budget_met,
    assert_precise_answer,
    encode,
    fuzz_settings,
    generic_headers,
    json_values,
    record,
    scalars,
    texts,
)
from tests.support.settings import FIXTURES
from tests.support.vendors import fresh_jira, jira_headers, zendesk_headers

pytestmark = pytest.mark.fuzz

DELIVERIES = itertools.count()
JSON_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "application/json;charset=UTF8",
]
OTHER_TYPES = [
    "application/json; charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/problem+json",
    "application/jsonx",
    "text/json",
    None,
]
CONTENT_TYPES = ["application/json"] * 8 + JSON_TYPES + OTHER_TYPES
RFC3339_TIMES = st.datetimes(
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))])
).map(lambda d: d.isoformat())
TIMES = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.from_regex(r"\A\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)?\Z"),
    texts,
)


app, client = app_fixtures("fuzz-webhooks")


def stored(app, ticket_id):
    with app.extensions["triage"].db.session() as session:
        return session.get(Ticket, ticket_id)


# Text that is valid but hostile: no NUL and no lone surrogates (those are refused), everything else allowed.
storable_chars = st.characters(codec="utf-8", exclude_characters="\x00")
hostile_text = st.one_of(
    st.text(alphabet=storable_chars, min_size=1, max_size=60),
    st.lists(
        st.sampled_from([h for h in HOSTILE if h not in ("\x00", "\ud800", "\udfff")]), min_size=1, max_size=5
    ).map("".join),
)


def field(right, wrong):
    """Mostly a right value, so one wrong field at a time is common and its own error message is what is tested."""
    return st.one_of(right, right, right, wrong)


# A ticket-shaped object whose fields may hold the wrong type, hostile text, or be missing.
ticket_like = st.fixed_dictionaries(
    {
        "id": field(st.uuids().map(str), st.one_of(st.integers(min_value=-5, max_value=2**64), texts, json_values)),
        "body": field(hostile_text, st.one_of(texts, json_values)),
    },
    optional={
        "subject": field(hostile_text, st.one_of(texts, json_values)),
        "requester": field(hostile_text, st.dictionaries(st.sampled_from(["email", "name", "x"]), scalars)),
        "created_at": field(RFC3339_TIMES, st.one_of(TIMES, json_values)),
        "tags": field(st.lists(hostile_text, max_size=3), st.one_of(st.lists(texts, max_size=60), scalars)),
        "metadata": field(
            st.dictionaries(hostile_text, st.one_of(hostile_text, st.integers()), max_size=3),
            st.one_of(st.dictionaries(texts, json_values, max_size=5), scalars),
        ),
    },
)


def post_generic(client, body, content_type="application/json"):
    headers = generic_headers(body, content_type) | {"X-Triage-Delivery": f"fuzz-{next(DELIVERIES)}"}
    response = client.post("/webhooks/generic", data=body, headers=headers)
    # Signed correctly, so every case gets past the signature to the parser (or to the size limit).
    assert response.status_code != 401, response.get_json()
    return response


def test_signed_generic_json_gets_a_precise_answer(client):
    @fuzz_settings(BUDGET["generic_json"])
    @given(
        value=st.one_of(ticket_like, json_values), ascii_only=st.booleans(), content_type=st.sampled_from(CONTENT_TYPES)
    )
    def run(value, ascii_only, content_type):
        response = post_generic(client, encode(value, ascii_only), content_type)
        record("generic_json", response)
        assert_precise_answer(response)
        # The signature is right, so the content type alone decides whether the body is read at all.
        assert (response.status_code == 415) == (content_type in OTHER_TYPES), (content_type, response.get_json())

    run()
    assert_budget_met("generic_json")


# Valid bodies broken at the byte level: cut short, spliced with random or invalid UTF-8 bytes, or buried.
VALID = json.dumps(
    {
        "id": "T-1",
        "subject": "Card missing",
        "body": "It has not arrived.",
        "tags": ["web"],
        "metadata": {"tier": "vip"},
        "created_at": "2026-11-30T10:00:00Z",
    }
).encode()
raw_bodies = st.one_of(
    st.integers(min_value=0, max_value=len(VALID) - 1).map(lambda n: VALID[:n]),
    st.tuples(st.integers(min_value=0, max_value=len(VALID)), st.binary(min_size=1, max_size=8)).map(
        lambda t: VALID[: t[0]] + t[1] + VALID[t[0] :]
    ),
    st.tuples(st.integers(min_value=0, max_value=len(VALID) - 1), st.integers(min_value=0, max_value=255)).map(
        lambda t: VALID[: t[0]] + bytes([t[1]]) + VALID[t[0] + 1 :]
    ),
    st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b" ", b"\x00"]).map(
        lambda prefix: prefix + VALID
    ),
    st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(min_value=1, max_value=2000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.binary(max_size=200),
)


def test_signed_generic_bytes_get_a_precise_answer(client):
    @fuzz_settings(BUDGET["generic_bytes"])
    @given(body=raw_bodies)
    def run(body):
        response = post_generic(client, body)
        record("generic_bytes", response)
        assert_precise_answer(response)

    run()
    assert_budget_met("generic_bytes")


def test_valid_tickets_with_hostile_text_are_accepted_and_stored_as_sent(client, app):
    @fuzz_settings(BUDGET["generic_valid"])
    @given(
        subject=hostile_text,
        body=hostile_text,
        tags=st.lists(hostile_text.map(lambda t: t[:100]), max_size=5),
        metadata=st.dictionaries(hostile_text, st.one_of(hostile_text, st.integers(), st.booleans()), max_size=3),
        requester=hostile_text.map(lambda t: t[:200]),
        ascii_only=st.booleans(),
    )
    def run(subject, body, tags, metadata, requester, ascii_only):
        record("generic_valid")
        ticket = {
            "id": f"valid-{next(DELIVERIES)}",
            "subject": subject[:1000],
            "body": body,
            "tags": tags,
            "metadata": metadata,
            "requester": {"name": requester},
        }
        response = post_generic(client, encode(ticket, ascii_only))
        assert response.status_code == 202, response.get_json()
        row = stored(app, response.get_json()["ticket_id"])
        # Stored byte for byte: markup stays inert text; nothing is stripped, decoded or rewritten.
        assert (row.subject, row.body, row.tags, row.meta, row.requester) == (
            ticket["subject"],
            body,
            tags,
            metadata,
            requester,
        )

    run()
    assert_budget_met("generic_valid")


def load(folder, name):
    payload = json.loads((FIXTURES / "webhooks" / folder / f"{name}.json").read_text())
    return fresh_jira(payload) if folder == "jira" else payload


def paths(value, prefix=()):
    """Every place in a JSON tree, so a mutation can land anywhere."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from paths(item, (*prefix, i))


def mutated(bases, fresh=()):
    """A real payload, with fresh ids, with up to four places replaced (wrong types, hostile text) or removed."""

    def apply(base, edits):
        doc = copy.deepcopy(base)
        # Fresh ids first, so an intact ticket is stored (202) rather than recognised as already known.
        for *steps, last in fresh:
            holder = doc
            for step in steps:
                holder = holder.get(step, {})
            if last in holder:
                holder[last] = f"{holder[last]}{next(DELIVERIES)}"
        for path, action, value in edits:
            if not path:
                doc = value if action == "replace" else doc
                continue
            parent = doc
            try:
                for step in path[:-1]:
                    parent = parent[step]
                if action == "delete" and isinstance(parent, dict):
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = value
            except (KeyError, IndexError, TypeError):
                pass  # an earlier edit removed or retyped this place
        return doc

    return st.one_of(
        [
            st.builds(
                apply,
                st.just(base),
                st.lists(
                    st.tuples(
                        st.sampled_from(list(paths(base))),
                        st.sampled_from(["replace", "replace", "delete"]),
                        st.one_of(json_values, st.sampled_from(HOSTILE)),
                    ),
                    max_size=4,
                ),
            )
            for base in bases
        ]
    )


ZENDESK_EVENT = {
    "type": "zen:event-type:ticket.created",
    "id": "2b24ef10",
    "detail": {
        "id": "35436",
        "subject": "Double charge",
        "description": "My card was charged twice",
        "requester_id": "2097",
        "priority": "NORMAL",
        "type": "QUESTION",
        "tags": ["billing"],
        "via": {"channel": "web_form"},
        "created_at": "2026-11-30T05:33:17Z",
        "group_id": "98738",
        "custom_fields": [{"id": 1, "value": "x"}],
    },
}
ZENDESK_BASES = [
    {"event": "ticket.created", "ticket": {"id": "4711", "updated_at": "2026-11-30T10:00:00Z"}},
    ZENDESK_EVENT,
    {**ZENDESK_EVENT, "type": "zen:event-type:ticket.comment_added"},
    load("zendesk", "zendesk_api_client_rb__ticket_show__GET_api_v2_tickets_1"),
    load("zendesk", "zendesk_api_client_rb__ticket_create_response__POST_api_v2_tickets"),
    load("zendesk", "zendesk_api_client_rb__tickets_list__GET_api_v2_tickets"),
]
JIRA_BASES = [
    load("jira", name)
    for name in (
        "jira-to-matrix__issue_created",
        "jenkins-jira-trigger__issue_created",
        "jira-to-matrix__issue_updated_commented",
        "jenkins-jira-trigger__issue_updated_fields_updated",
        "jira-to-matrix__comment_created",
    )
]


def assert_vendor_answer(response):
    assert_precise_answer(response)
    # Correctly signed, so never refused as unsigned; only a mutated event time may be refused as stale.
    assert response.status_code != 401 or "signed event time" in response.get_json()["detail"], response.get_json()
    if response.status_code < 300:
        body = response.get_json()
        assert body.get("ignored") is True or isinstance(body.get("ticket_id"), int), body


def test_signed_zendesk_payloads_get_a_precise_answer(client):
    @fuzz_settings(BUDGET["zendesk"])
    @given(
        payload=st.one_of(
            mutated([b for b in ZENDESK_BASES if "ticket" in b], [("ticket", "id")]),
            mutated([b for b in ZENDESK_BASES if "detail" in b], [("id",), ("detail", "id")]),
            mutated([b for b in ZENDESK_BASES if "tickets" in b]),
            json_values,
        ),
        ascii_only=st.booleans(),
    )
    def run(payload, ascii_only):
        body = encode(payload, ascii_only)
        headers = zendesk_headers(body, invocation=f"inv-{next(DELIVERIES)}")
        response = client.post("/webhooks/zendesk", data=body, headers=headers)
        record("zendesk", response)
        assert_vendor_answer(response)

    run()
    assert_budget_met("zendesk")


def test_signed_jira_payloads_get_a_precise_answer(client):
    @fuzz_settings(BUDGET["jira"])
    @given(payload=st.one_of(mutated(JIRA_BASES, [("issue", "key")]), json_values), ascii_only=st.booleans())
    def run(payload, ascii_only):
        body = encode(payload, ascii_only)
        headers = jira_headers(body, identifier=f"jira-{next(DELIVERIES)}")
        response = client.post("/webhooks/jira", data=body, headers=headers)
        record("jira", response)
        assert_vendor_answer(response)

    run()
    assert_budget_met("jira")


def test_webhooks_for_unknown_sources_get_a_404_naming_the_source(client):
    @fuzz_settings(BUDGET["unknown_source"])
    @given(
        source=st.text(min_size=1, max_size=30).filter(lambda s: s not in ("generic", "zendesk", "jira")),
        body=st.binary(max_size=64),
    )
    def run(source, body):
        record("unknown_source")
        response = client.post(
            f"/webhooks/{quote(source, safe='')}", data=body, headers={"Content-Type": "application/json"}
        )
        assert_precise_answer(response)
        assert response.status_code in (308, 404), response.get_json()
        if response.status_code == 404 and "/" not in source:
            assert "no integration" in response.get_json()["detail"]

    run()
    assert_budget_met("unknown_source")
