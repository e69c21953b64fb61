"""The intake's fast path for the common ticket shape never accepts what the full JSON Schema refuses."""

from hypothesis import given, settings
from hypothesis import strategies as st

from service.web.intake import _VALIDATOR, plainly_valid

NASTY = st.text(alphabet=st.sampled_from(["a", " ", "\n", "\x00", "\u2028", "\ufeff", "é", "\x1f", "\t"]), max_size=6)
TEXT = st.one_of(NASTY, st.text(max_size=12), st.just(""), st.just("x" * 129), st.integers(), st.none())
IDS = st.one_of(
    TEXT, st.integers(min_value=-5, max_value=2**64), st.booleans(), st.floats(allow_nan=False), st.just("x" * 128)
)
FIELDS = {
    "id": IDS,
    "subject": TEXT,
    "body": st.one_of(TEXT, st.just("b" * 100_001)),
    "requester": st.one_of(TEXT, st.fixed_dictionaries({"email": TEXT})),
    "tags": st.one_of(st.lists(TEXT, max_size=3), st.lists(st.just("t"), min_size=51, max_size=51), TEXT),
    "created_at": st.just("2026-11-30T10:00:00Z"),
    "extra": st.just(1),
}
PAYLOADS = st.one_of(
    st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), max_size=7).flatmap(
        lambda keys: st.fixed_dictionaries({k: FIELDS[k] for k in keys})
    ),
    TEXT,
    st.lists(TEXT, max_size=2),
)


@settings(max_examples=1500, deadline=None)
@given(PAYLOADS)
def test_what_the_fast_path_accepts_the_schema_accepts(payload):
    if plainly_valid(payload):
        assert list(_VALIDATOR.iter_errors(payload)) == [], payload


def test_the_common_shapes_take_the_fast_path():
    assert plainly_valid({"id": "ZD-1", "body": "my card has not arrived"})
    assert plainly_valid({"id": 42, "subject": "card", "requester": "ann@example.com", "tags": ["vip"]})
    assert not plainly_valid({"id": "ZD-1", "subject": "", "body": ""})  # refused by the schema, with its message
    assert not plainly_valid({"id": "x\n", "body": "b"})
