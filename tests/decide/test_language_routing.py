"""Routing by language: rules match on the detected language, and a language the model never read is held back."""

from pathlib import Path

import pytest
import yaml

from service.core.domain import DecisionStatus, Prediction
from service.decide.route import RoutingError, parse_rules

ROOT = Path(__file__).resolve().parents[2]
RAW = yaml.safe_load((ROOT / "data" / "routing" / "banking77.yaml").read_text())


def rules_with(*overrides):
    return parse_rules({**RAW, "overrides": [*RAW["overrides"], *overrides]})


def sure(label="exchange_rate"):
    return Prediction(label=label, confidence=0.99, top_k=((label, 0.99),), model_name="m", model_version="1")


GERMAN_DESK = {"name": "german-desk", "when": {"language": "de"}, "set": {"queue": "complaints", "priority": "high"}}


def test_a_rule_on_language_fires_for_that_language_only():
    rules = rules_with(GERMAN_DESK)
    _, german, _ = rules.route(sure(), text="wechselkurs", language="de")
    _, english, _ = rules.route(sure(), text="exchange rate", language="en")
    _, unknown, _ = rules.route(sure(), text="fx", language=None)
    assert (german.queue, german.priority) == ("complaints", "high")
    assert "override 'german-desk'" in german.rule
    assert (english.queue, english.priority) == (unknown.queue, unknown.priority) == ("fx_fees", "low")


def test_a_rule_may_name_several_languages_and_combine_them_with_keywords():
    rules = rules_with(
        {
            "name": "romance-refunds",
            "when": {"language": ["fr", "es"], "any_keywords": ["remboursement", "reembolso"]},
            "set": {"priority": "urgent"},
        }
    )
    assert rules.route(sure(), text="remboursement svp", language="fr")[1].priority == "urgent"
    assert rules.route(sure(), text="reembolso por favor", language="es")[1].priority == "urgent"
    assert rules.route(sure(), text="remboursement svp", language="de")[1].priority == "low"
    assert rules.route(sure(), text="bonjour", language="fr")[1].priority == "low"


@pytest.mark.parametrize("language", ["german", "DE", 7, ["de", "english"], {"de": 1}])
def test_a_language_rule_takes_iso_codes_only(language):
    with pytest.raises(RoutingError, match="ISO 639-1"):
        rules_with({"name": "bad", "when": {"language": language}, "set": {"priority": "high"}})


def test_a_confident_ticket_in_a_language_the_model_was_not_trained_on_goes_to_review_with_the_reason():
    rules = rules_with()
    status, route, why = rules.route(sure(), text="wechselkurs", language="de", trained_languages={"en"})
    assert status == DecisionStatus.NEEDS_REVIEW
    assert why == "language 'de' is not one the model was trained on (en): needs review"
    assert route.queue == "fx_fees"  # where the model would have sent it: a suggestion for the person


@pytest.mark.parametrize(
    "language, trained",
    [("en", {"en"}), ("de", {"de", "en"}), (None, {"en"}), ("de", None)],
    ids=["trained", "trained-too", "unknown-language", "card-without-languages"],
)
def test_a_confident_ticket_is_auto_routed_when_its_language_is_trained_unknown_or_the_card_says_nothing(
    language, trained
):
    status, _, why = rules_with().route(sure(), text="exchange rate", language=language, trained_languages=trained)
    assert status == DecisionStatus.AUTO_ROUTED, why


def test_a_language_rule_still_raises_priority_for_a_ticket_held_back_by_its_language():
    rules = rules_with(GERMAN_DESK)
    status, route, _ = rules.route(sure(), text="wechselkurs", language="de", trained_languages={"en"})
    # A held-back ticket's queue is only a suggestion, but its own evidence may raise the priority written back.
    assert status == DecisionStatus.NEEDS_REVIEW
    assert (route.queue, route.evidence_priority) == ("complaints", "high")


def test_a_queue_never_auto_routed_says_so_before_the_language():
    never = parse_rules(
        {**RAW, "queues": {**RAW["queues"], "fx_fees": {**RAW["queues"]["fx_fees"], "auto_route": False}}}
    )
    _, _, why = never.route(sure(), text="x", language="de", trained_languages={"en"})
    assert why == "queue 'fx_fees' is never auto-routed"
