import pytest

from service.decide.normalize import normalize, ticket_text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("My Card   has NOT arrived", "my card has not arrived"),
        ("<p>Hello&nbsp;<b>there</b></p>", "hello there"),
        ("Paid 125.50 on 12/03", "paid 000.00 on 00/00"),
        ("write to me at jane.doe+x@example.com please", "write to me at email please"),
        ("see https://bank.example/help?id=3 now", "see url now"),
        ("thanks\n> old quoted reply\nbye", "thanks bye"),
        ("ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ("", ""),
    ],
)
def test_normalize_folds_text_to_what_the_model_sees(raw, expected):
    assert normalize(raw) == expected


def test_normalize_caps_very_long_text():
    assert len(normalize("word " * 10_000)) == 4000


@pytest.mark.parametrize(
    "subject, body, expected",
    [
        ("Card missing", "It never came", "Card missing. It never came"),
        ("", "It never came", "It never came"),
        ("Only subject", "", "Only subject"),
        ("Same", "Same and more", "Same and more"),
    ],
)
def test_ticket_text_joins_subject_and_body(subject, body, expected):
    assert ticket_text(subject, body) == expected
