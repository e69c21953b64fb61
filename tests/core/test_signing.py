import time

import pytest

from service.core.signing import SignatureError, sign, verify

BODY = b'{"id":"1","body":"hello"}'


def test_a_fresh_signature_over_the_exact_body_verifies():
    ts = str(int(time.time()))
    verify("s3cret", timestamp=ts, signature=sign("s3cret", ts, BODY), body=BODY, tolerance_s=300)


@pytest.mark.parametrize(
    "case, kwargs, words",
    [
        ("tampered body", {"body": BODY + b" "}, "does not match"),
        ("wrong secret", {"signature": sign("other", "1000", BODY)}, "does not match"),
        ("no signature", {"signature": None}, "missing X-Triage-Signature"),
        ("no timestamp", {"timestamp": None}, "missing X-Triage-Timestamp"),
        ("timestamp not a number", {"timestamp": "yesterday"}, "Unix seconds"),
        ("too old (replay)", {"now": 1000 + 301}, "window"),
        ("too far in the future", {"now": 1000 - 301}, "window"),
    ],
)
def test_a_request_is_refused_when(case, kwargs, words):
    args = {
        "timestamp": "1000",
        "signature": sign("s3cret", "1000", BODY),
        "body": BODY,
        "tolerance_s": 300,
        "now": 1000.0,
    }
    args.update(kwargs)
    with pytest.raises(SignatureError, match=words):
        verify("s3cret", **args)


def test_signature_header_is_hex_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"42." + BODY, hashlib.sha256).hexdigest()
    assert sign("k", "42", BODY) == f"sha256={expected}"
