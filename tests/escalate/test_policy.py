import pytest

from service.core.domain import LLMAnswer, Prediction
from service.escalate.policy import capped, settle, top_labels, visible

PREDICTION = Prediction(
    label="card_arrival",
    confidence=0.41,
    top_k=(("card_arrival", 0.41), ("card_delivery_estimate", 0.33), ("lost_or_stolen_card", 0.1)),
    model_name="encoder",
    model_version="1",
)


def answer(label, confidence=None, reason="valid label"):
    return LLMAnswer(label=label, confidence=confidence, reason=reason, model="gpt-test")


@pytest.mark.parametrize(
    "llm, label, branch",
    [
        (answer("card_arrival", 0.5), "card_arrival", "llm_agrees"),
        (answer("card_delivery_estimate", 0.4), "card_delivery_estimate", "llm_runner_up"),
        (answer("lost_or_stolen_card", 0.95), "lost_or_stolen_card", "llm_confident"),
        (answer("lost_or_stolen_card", 0.6), None, "llm_disagrees"),
        (answer("lost_or_stolen_card", None), None, "llm_disagrees"),
        (answer(None, None, "label 'vip' is not in the allowed set"), None, "llm_unsure"),
    ],
)
def test_the_agreement_rule(llm, label, branch):
    result = settle(PREDICTION, llm)
    assert (result.label, result.branch) == (label, branch)
    assert result.why


CONFIDENT = Prediction(
    label="card_arrival",
    confidence=0.62,
    top_k=(("card_arrival", 0.62), ("card_delivery_estimate", 0.2), ("lost_or_stolen_card", 0.1)),
    model_name="encoder",
    model_version="1",
)


@pytest.mark.parametrize(
    "llm, label, branch",
    [
        (answer("card_arrival", 0.1), "card_arrival", "llm_agrees"),
        (answer("card_delivery_estimate", 1.0), None, "llm_disagrees"),
        (answer("lost_or_stolen_card", 1.0), None, "llm_disagrees"),
    ],
)
def test_a_confident_classifier_is_never_overruled(llm, label, branch):
    result = settle(CONFIDENT, llm, classifier_confident=0.5)
    assert (result.label, result.branch) == (label, branch)


def test_a_label_the_llm_was_not_offered_never_counts_whatever_its_confidence():
    result = settle(PREDICTION, answer("lost_or_stolen_card", 1.0), allowed=["card_arrival", "card_delivery_estimate"])
    assert (result.label, result.branch) == (None, "llm_outside_top_k")


def test_the_llm_is_offered_the_classifiers_k_best_labels():
    assert top_labels(PREDICTION, 2) == ["card_arrival", "card_delivery_estimate"]
    assert top_labels(PREDICTION, 10) == ["card_arrival", "card_delivery_estimate", "lost_or_stolen_card"]


def test_the_text_for_the_llm_drops_invisible_characters_and_is_capped():
    assert visible("ig\u200bnore\u2060 ｒｕｌｅｓ\u202e") == "ignore rules"
    assert capped("x" * 10, 4) == "xxxx [...]" and capped("xyz", 4) == "xyz"
