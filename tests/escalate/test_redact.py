"""PII redaction on realistic tickets: what leaves the building must carry no personal data."""

import pytest

from service.escalate.redact import iban_ok, luhn_ok, redact


@pytest.mark.parametrize(
    "text, secret, placeholder",
    [
        ("Please write to jane.doe+bank@example.co.uk about it", "jane.doe+bank@example.co.uk", "[EMAIL_1]"),
        ("My card 4111 1111 1111 1111 was charged twice", "4111 1111 1111 1111", "[CARD_1]"),
        ("card number 4111-1111-1111-1111 please block", "4111-1111-1111-1111", "[CARD_1]"),
        ("Number is 5555555555554444 thanks", "5555555555554444", "[CARD_1]"),
        ("Send it to DE89 3704 0044 0532 0130 00 today", "DE89 3704 0044 0532 0130 00", "[IBAN_1]"),
        ("IBAN GB82WEST12345698765432 is mine", "GB82WEST12345698765432", "[IBAN_1]"),
        ("Call me on +44 20 7946 0958 after 5", "+44 20 7946 0958", "[PHONE_1]"),
        ("my mobile is 07700 900123", "07700 900123", "[PHONE_1]"),
        ("US number (415) 555-2671 works", "(415) 555-2671", "[PHONE_1]"),
        ("phone: 415.555.2671", "415.555.2671", "[PHONE_1]"),
        ("+49 30 901820 is the office", "+49 30 901820", "[PHONE_1]"),
        ("Login failed from 192.168.10.24 twice", "192.168.10.24", "[IP_1]"),
        ("It came from 81.2.69.160.", "81.2.69.160", "[IP_1]"),
        ("and from 2001:db8:85a3::8a2e:370:7334 too", "2001:db8:85a3::8a2e:370:7334", "[IP_1]"),
        ("Hi, my name is Olga Petrova and my card is lost", "Olga Petrova", "[NAME_1]"),
        ("Hello Marcus,\nthe app crashes", "Marcus", "[NAME_1]"),
        ("The card never came.\n\nKind regards,\nAnna-Lena Schmidt", "Anna-Lena Schmidt", "[NAME_1]"),
        ("Thanks\nTomasz", "Tomasz", "[NAME_1]"),
    ],
)
def test_personal_data_is_replaced_by_a_typed_placeholder(text, secret, placeholder):
    result = redact(text)
    assert secret not in result.text and placeholder in result.text
    assert result.mapping[placeholder] == secret


@pytest.mark.parametrize(
    "text",
    [
        "I was charged 1250.00 on 12/03/2024 for order 123456",  # amounts, dates, short ids
        "My card 4111 1111 1111 1112 is not a valid number",  # fails Luhn
        "Reference DE00 1234 5678 9012 3456 78",  # fails mod-97
        "version 1.2.3.4567 of the app",  # not an IP
        "Hi team, my top up failed",  # greeting without a name
        "I am unable to log in",  # 'I am' + not a name
        "Why was my transfer declined?",
    ],
)
def test_ordinary_ticket_text_is_left_alone(text):
    assert redact(text).text == text


def test_the_same_value_gets_the_same_placeholder_and_counts_are_typed():
    result = redact("mail a@b.io or a@b.io, else c@d.io; card 4111111111111111")
    assert result.text.count("[EMAIL_1]") == 2 and "[EMAIL_2]" in result.text
    assert result.counts == {"EMAIL": 2, "CARD": 1}


def test_a_realistic_ticket_is_fully_redacted():
    ticket = (
        "Hello,\nmy name is Priya Natarajan. Someone used my card 4000 0566 5566 5556 from 81.2.69.160 "
        "and sent money to GB33BUKB20201555555555. Call +1 (555) 010-9999 or priya.n@mail.example.\n"
        "Best regards,\nPriya Natarajan"
    )
    result = redact(ticket)
    for secret in (
        "Priya",
        "Natarajan",
        "4000 0566 5566 5556",
        "81.2.69.160",
        "GB33BUKB20201555555555",
        "010-9999",
        "priya.n@mail.example",
    ):
        assert secret not in result.text, secret
    assert "Someone used my card [CARD_1]" in result.text


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE89 3704 0044 0532 0130 01")
