import pytest

from service.core.domain import LLMAnswer, Prediction
from service.escalate.policy import settle

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
