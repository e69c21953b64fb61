"""Hypothesis against the token-protected API: odd tokens, keys, ids and bodies all get a precise answer."""

import itertools
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import (
    BUDGET,
    HOSTILE,
    app_fixtures,
    assert_budget_met,
    assert_precise_answer,
    encode,
    fuzz_settings,
    json_values,
    record,
    texts,
)
from tests.support.settings import TOKEN

pytestmark = pytest.mark.fuzz

KEYS = itertools.count()
# Latin-1 only: that is all an HTTP header can carry (werkzeug refuses the rest before sending).
header_chars = st.characters(max_codepoint=255, exclude_characters="\r\n\x00")
header_text = st.text(alphabet=header_chars, max_size=40)
long_keys = st.text(alphabet=header_chars, min_size=120, max_size=140)
authorizations = st.one_of(
    st.just(f"Bearer {TOKEN}"),
    st.just(f"bearer   {TOKEN}  "),
    st.just(f"Bearer {TOKEN}x"),
    st.just("Bearer "),
    st.just(f"Basic {TOKEN}"),
    st.just(TOKEN),
    header_text,
    header_text.map(lambda t: f"Bearer {t}"),
    st.none(),
)


app, client = app_fixtures("fuzz-api")


def token_is_valid(authorization):
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and token.strip() == TOKEN


def test_posting_tickets_to_the_api_gets_a_precise_answer(client):
    @fuzz_settings(BUDGET["api_post"])
    @given(
        authorization=authorizations,
        key=st.one_of(st.none(), header_text, long_keys),
        value=st.one_of(
            st.fixed_dictionaries(
                {"id": st.one_of(texts, st.integers())},
                optional={
                    "subject": st.one_of(texts, json_values),
                    "body": st.one_of(st.sampled_from(HOSTILE), json_values),
                },
            ),
            json_values,
        ),
        ascii_only=st.booleans(),
    )
    def run(authorization, key, value, ascii_only):
        record("api_post")
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        if key is not None:
            # Unique per case, so a valid ticket is stored rather than answered as a repeat.
            headers["Idempotency-Key"] = f"{next(KEYS)}-{key}"
        response = client.post("/api/v1/tickets", data=encode(value, ascii_only), headers=headers)
        assert_precise_answer(response)
        assert (response.status_code == 401) == (not token_is_valid(authorization)), response.get_json()
        if response.status_code != 401 and len(headers.get("Idempotency-Key", "").strip()) > 128:
            assert response.status_code == 400 and "Idempotency-Key" in response.get_json()["detail"]

    run()
    assert_budget_met("api_post")


ticket_ids = st.one_of(
    st.integers(min_value=-10, max_value=2**70).map(str),
    st.just("9" * 5000),
    st.text(max_size=20).map(lambda t: quote(t, safe="")),
    st.sampled_from(["1", "01", "+1", "1.0"]),
)


def test_reading_the_api_gets_a_precise_answer(client):
    @fuzz_settings(BUDGET["api_get"])
    @given(
        authorization=authorizations,
        path=st.one_of(
            ticket_ids.map(lambda i: f"/api/v1/tickets/{i}"),
            st.just("/api/v1/stats"),
            st.just("/api/v1/tickets"),
            st.text(max_size=20).map(lambda t: f"/api/v1/{quote(t, safe='')}"),
        ),
    )
    def run(authorization, path):
        record("api_get")
        headers = {} if authorization is None else {"Authorization": authorization}
        response = client.get(path, headers=headers)
        assert_precise_answer(response)

    run()
    assert_budget_met("api_get")
