import json
from dataclasses import replace
from pathlib import Path

import pytest

from service.core.domain import DecisionStatus, Prediction
from service.decide.route import RoutingError, load_rules, parse_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules(ROOT / "data" / "routing" / "banking77.yaml")


def prediction(label: str, confidence: float) -> Prediction:
    return Prediction(
        label=label, confidence=confidence, top_k=((label, confidence),), model_name="m", model_version="1"
    )


@pytest.mark.parametrize(
    "label, confidence, text, metadata, queue, priority, status",
    [
        ("card_arrival", 0.9, "where is my card", {}, "cards", "normal", DecisionStatus.AUTO_ROUTED),
        ("card_arrival", 0.2, "where is my card", {}, "cards", "normal", DecisionStatus.NEEDS_REVIEW),
        ("exchange_rate", 0.9, "what rate do you use", {}, "fx_fees", "low", DecisionStatus.AUTO_ROUTED),
        (
            "compromised_card",
            0.55,
            "someone used my card",
            {},
            "fraud_security",
            "urgent",
            DecisionStatus.NEEDS_REVIEW,
        ),  # fraud asks for 0.60
        (
            "exchange_rate",
            0.9,
            "this is FRAUD, the rate is a scam",
            {},
            "fx_fees",
            "urgent",
            DecisionStatus.AUTO_ROUTED,
        ),
        ("exchange_rate", 0.9, "what rate do you use", {"tier": "vip"}, "fx_fees", "high", DecisionStatus.AUTO_ROUTED),
        (
            "lost_or_stolen_card",
            0.9,
            "stolen card",
            {"tier": "vip"},
            "fraud_security",
            "urgent",
            DecisionStatus.AUTO_ROUTED,
        ),  # overrides never lower priority
        (
            "exchange_rate",
            0.9,
            "I will take this to the ombudsman",
            {},
            "complaints",
            "high",
            DecisionStatus.AUTO_ROUTED,
        ),
        ("never_seen_label", 0.9, "hello", {}, "general", "normal", DecisionStatus.AUTO_ROUTED),
    ],
)
def test_banking77_routing(label, confidence, text, metadata, queue, priority, status):
    got_status, route, why = RULES.route(prediction(label, confidence), text=text, metadata=metadata)
    assert (route.queue, route.priority, got_status) == (queue, priority, status)
    assert str(round(route.threshold, 2)) in why


def test_keywords_match_whole_words_only():
    _, route, _ = RULES.route(prediction("exchange_rate", 0.9), text="the scampi was great")
    assert route.priority == "low"


def test_the_rule_that_fired_is_recorded():
    _, route, _ = RULES.route(prediction("exchange_rate", 0.9), text="scam", metadata={"tier": "vip"})
    assert "label 'exchange_rate' -> queue 'fx_fees'" in route.rule
    assert "override 'fraud-keywords' -> priority 'urgent'" in route.rule


def test_the_demo_routing_maps_every_banking77_intent_to_one_of_six_to_ten_queues():
    labels = json.loads((ROOT / "data" / "banking77" / "categories.json").read_text())
    assert RULES.unmapped(labels) == []
    used = {RULES.label_queue[label] for label in labels}
    assert 6 <= len(used) <= 10


BASE = {"version": 1, "default": {"queue": "general", "priority": "normal", "threshold": 0.5}}


@pytest.mark.parametrize(
    "change, words",
    [
        ({"version": 2}, "version: 1"),
        ({"queues": {"a": {"labels": ["x"]}, "b": {"labels": ["x"]}}}, "already routed"),
        ({"queues": {"a": {"priority": "asap", "labels": []}}}, "priority 'asap'"),
        ({"queues": {"a": {"threshold": 1.5, "labels": []}}}, "between 0 and 1"),
        ({"overrides": [{"name": "o", "when": {"any_keywords": ["x"]}, "set": {"queue": "nowhere"}}]}, "not declared"),
        ({"overrides": [{"name": "o", "when": {"weather": "rain"}, "set": {"priority": "high"}}]}, "'when' needs"),
        ({"overrides": [{"name": "o", "when": {"tags": ["x"]}, "set": {"colour": "red"}}]}, "'set' takes"),
    ],
)
def test_invalid_rules_are_refused_naming_the_entry(change, words):
    with pytest.raises(RoutingError, match=words):
        parse_rules({**BASE, **change}, source="rules.yaml")


def test_missing_routing_file_says_which_setting_to_fix(tmp_path):
    with pytest.raises(RoutingError, match="TRIAGE_ROUTING_FILE"):
        load_rules(tmp_path / "nope.yaml")


def test_a_queue_that_never_auto_routes_sends_even_confident_tickets_to_review():
    rules = parse_rules({**BASE, "queues": {"fraud": {"labels": ["stolen"], "auto_route": False}}})
    status, route, why = rules.route(prediction("stolen", 0.99), text="x")
    assert status == DecisionStatus.NEEDS_REVIEW and route.queue == "fraud" and "never auto-routed" in why
    assert rules.queues["fraud"].escalate is True


def test_a_model_threshold_stricter_than_the_queue_wins():
    from service.core.domain import Prediction

    p = Prediction(
        label="card_arrival",
        confidence=0.7,
        top_k=(("card_arrival", 0.7),),
        model_name="m",
        model_version="1",
        threshold=0.8,
    )
    status, route, why = RULES.route(p, text="where is my card")
    assert status == DecisionStatus.NEEDS_REVIEW and route.threshold == 0.8 and "class threshold" in route.rule


def test_a_queue_can_close_itself_to_the_llms_word_and_the_flag_is_checked():
    rules = parse_rules({**BASE, "queues": {"fraud": {"labels": ["stolen"], "llm_may_route": False}}})
    assert rules.queues["fraud"].llm_may_route is False and rules.default.llm_may_route is True
    with pytest.raises(RoutingError, match="queues.fraud: llm_may_route must be true or false"):
        parse_rules({**BASE, "queues": {"fraud": {"labels": ["stolen"], "llm_may_route": "no"}}}, source="r.yaml")


def test_the_demo_routing_keeps_the_llm_out_of_fraud_and_security():
    demo = load_rules(ROOT / "data" / "routing" / "banking77.yaml")
    assert [name for name, rule in demo.queues.items() if not rule.llm_may_route] == ["fraud_security"]


def test_a_confident_ticket_unlike_every_training_ticket_waits_for_review_with_the_reason():
    from dataclasses import replace

    near = replace(prediction("card_arrival", 0.99), scope_distance=0.20, scope_limit=0.29)
    far = replace(near, scope_distance=0.41)
    assert RULES.route(near, text="where is my card")[0] == DecisionStatus.AUTO_ROUTED
    status, route, why = RULES.route(far, text="what is the weather in Lisbon")
    assert status == DecisionStatus.NEEDS_REVIEW and route.queue == "cards"
    assert why.startswith("out of scope: distance 0.41 from the nearest training tickets > limit 0.29")


def test_a_label_that_never_reaches_the_promise_is_never_auto_routed_even_at_full_confidence():
    from dataclasses import replace

    never = replace(prediction("card_arrival", 1.0), threshold=1.0)
    status, _, why = RULES.route(never, text="where is my card")
    assert status == DecisionStatus.NEEDS_REVIEW and "never reaches the promised precision" in why


@pytest.mark.parametrize("target", [0.3, 1.0, "high"])
def test_a_promise_outside_half_to_one_is_refused(target):
    with pytest.raises(RoutingError, match="target_precision"):
        parse_rules({**BASE, "target_precision": target}, source="rules.yaml")


def test_the_promise_defaults_to_98_percent_and_can_be_set():
    assert RULES.target_precision == 0.98
    assert parse_rules({**BASE, "target_precision": 0.995}).target_precision == 0.995


def test_the_scope_quantile_is_the_models_own_unless_the_routing_file_sets_it():
    assert RULES.scope_quantile is None
    assert parse_rules({**BASE, "scope_quantile": 0.9}).scope_quantile == 0.9


@pytest.mark.parametrize("quantile", [0.2, 1.0, "strict"])
def test_a_scope_quantile_outside_half_to_one_is_refused(quantile):
    with pytest.raises(RoutingError, match=r"rules.yaml.*scope_quantile .* from 0.5 up to"):
        parse_rules({**BASE, "scope_quantile": quantile}, source="rules.yaml")


def test_each_label_is_held_to_its_promised_threshold_or_its_queues_whichever_is_stricter():
    fraud = RULES.label_queue["compromised_card"]
    queue_threshold = RULES.queues[fraud].threshold
    held = RULES.thresholds(
        ["compromised_card", "card_arrival", "a_label_nobody_routes", "exchange_rate"],
        {"compromised_card": queue_threshold - 0.1, "card_arrival": 0.97, "a_label_nobody_routes": 0.2},
    )
    assert held["compromised_card"] == queue_threshold  # the queue asks more than the promise
    assert held["card_arrival"] == 0.97  # the promise asks more than the queue
    assert held["a_label_nobody_routes"] == max(0.2, RULES.default.threshold)  # the default queue's
    assert held["exchange_rate"] == 1.0  # no promised threshold: never auto-routed
    # Routing a prediction held to these thresholds decides as the route's own comparison does.
    status, route, _ = RULES.route(
        replace(prediction("compromised_card", queue_threshold - 0.05), threshold=held["compromised_card"]),
        text="someone used my card",
    )
    assert status is DecisionStatus.NEEDS_REVIEW and route.threshold == queue_threshold
