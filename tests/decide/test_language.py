"""The language detector on a corpus written for it: configured languages named, the rest named or unknown."""

import json
import os
import signal
import time

import pytest

from service.decide.language import (
    DEFAULT_LANGUAGES,
    LanguageError,
    detector,
    explained,
    parse_languages,
    training_languages,
    untrained_language,
)
from tests.support.settings import ROOT

CORPUS = [json.loads(line) for line in (ROOT / "tests" / "data" / "language_corpus.jsonl").read_text().splitlines()]
CONFIGURED = [row for row in CORPUS if row["language"] is None or row["language"] in DEFAULT_LANGUAGES]
OTHERS = [row for row in CORPUS if row["language"] is not None and row["language"] not in DEFAULT_LANGUAGES]


def test_the_corpus_covers_at_least_six_configured_languages_and_some_others():
    assert len({row["language"] for row in CONFIGURED} - {None}) >= 6
    assert {row["language"] for row in OTHERS} >= {"sv", "fi", "cs"}


@pytest.mark.parametrize("row", CONFIGURED, ids=lambda row: f"{row['language']}:{row['text'][:24]}")
def test_a_ticket_in_a_configured_language_is_named_and_one_too_short_to_tell_is_unknown(row):
    assert detector().detect(row["text"]) == row["language"]


@pytest.mark.parametrize("row", OTHERS, ids=lambda row: f"{row['language']}:{row['text'][:24]}")
def test_a_ticket_in_another_language_is_named_or_unknown_never_taken_for_a_configured_one(row):
    assert detector().detect(row["text"]) in (row["language"], None)


def test_a_long_ticket_in_another_language_is_named():
    named = [row for row in OTHERS if len(row["text"]) >= 120]
    assert named and all(detector().detect(row["text"]) == row["language"] for row in named)


def test_a_mixed_ticket_reads_as_the_language_it_is_written_in_not_the_quoted_error():
    mixed = [row for row in CORPUS if row.get("mixed")]
    assert len(mixed) >= 3
    assert [detector().detect(row["text"]) for row in mixed] == [row["language"] for row in mixed]


def test_links_ids_and_amounts_are_not_language():
    assert detector().detect("https://example.com/a/b 4711 EUR-120 ann@example.com") is None


def test_a_256_kib_ticket_costs_no_more_than_its_head():
    found = detector()
    text = "Ich habe meine Karte verloren und brauche bitte eine neue. " * 4500
    assert len(text.encode()) > 256 * 1024
    found.detect(text)  # models loaded
    started = time.perf_counter()
    assert found.detect(text) == "de"
    assert time.perf_counter() - started < 0.5


def test_a_single_configured_language_still_tells_it_from_others():
    english_only = detector(("en",))
    assert english_only.detect("Please cancel my subscription, I no longer need it.") == "en"
    assert english_only.detect("Por favor, cancelen mi suscripción, ya no la necesito. " * 3) == "es"


@pytest.mark.parametrize(
    "value, codes",
    [("en,de, FR", ("en", "de", "fr")), ("none", ()), ("", ()), ("en,en", ("en",))],
)
def test_the_setting_names_iso_codes_or_turns_detection_off(value, codes):
    assert parse_languages(value) == codes


def test_an_unknown_code_in_the_setting_is_refused_with_its_name():
    with pytest.raises(LanguageError, match="xx"):
        parse_languages("en,xx")


def test_a_models_languages_are_those_of_more_than_a_small_share_of_its_training_texts():
    english = [row["text"] for row in CORPUS if row["language"] == "en"] * 10
    assert training_languages(english) == ["en"]
    # One German ticket among 100 English ones is noise, not a language the model can route.
    assert training_languages([*english, "Ich habe meine Karte verloren und brauche bitte eine neue."]) == ["en"]
    german = [row["text"] for row in CORPUS if row["language"] == "de"] * 3
    assert training_languages(english + german) == ["de", "en"]


@pytest.mark.parametrize(
    "language, trained, held_back",
    [
        ("de", {"en"}, True),
        ("en", {"en"}, False),
        (None, {"en"}, False),  # unknown: too short to tell, so the model's confidence decides
        ("de", None, False),  # a card older than the field: no language is held back
    ],
)
def test_only_a_known_language_the_model_was_not_trained_on_is_held_back(language, trained, held_back):
    why = untrained_language(language, trained)
    assert (why is not None) == held_back
    assert explained(language, trained)["language"] == language
    if held_back:
        assert why == "language 'de' is not one the model was trained on (en): needs review"
        assert explained(language, trained)["language_gate"] == why


def test_a_process_forked_after_the_models_loaded_detects_and_loads_more_without_hanging():
    # The worker loads the models before its pool forks; lingua's preloading would load on a thread pool that a
    # forked process lacks, and a new detector built there would wait for it forever.
    found = detector()
    found.warm()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        code = 1
        try:
            signal.alarm(30)
            other = detector(("en", "sv", "da"))
            ok = found.detect("Ich habe meine Karte verloren und brauche bitte eine neue.") == "de"
            code = 0 if ok and other.detect("Varför avvisades min överföring?") == "sv" else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
