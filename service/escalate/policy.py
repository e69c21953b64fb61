"""The decision policy after classification: auto-route, ask the LLM, or leave it to a person; and why."""

from __future__ import annotations

from dataclasses import dataclass

from service.core.domain import LLMAnswer, Prediction

LLM_CONFIDENT = 0.8


@dataclass(frozen=True)
class Settlement:
    """What the LLM's answer decides: the label to route by (None: a person decides) and the reason."""

    label: str | None
    branch: str
    why: str


def settle(prediction: Prediction, answer: LLMAnswer, *, confident: float = LLM_CONFIDENT) -> Settlement:
    """Default agreement rule: take a valid LLM label if the classifier agrees, or its runner-up is that
    label, or the LLM is confident; otherwise a person reviews (both answers are kept either way)."""
    if answer.label is None:
        return Settlement(None, "llm_unsure", f"LLM gave no usable label ({answer.reason})")
    runners_up = [label for label, _ in prediction.top_k[1:]]
    if answer.label == prediction.label:
        return Settlement(answer.label, "llm_agrees", f"LLM agrees with the classifier: {answer.label!r}")
    if runners_up and answer.label == runners_up[0]:
        return Settlement(answer.label, "llm_runner_up", f"LLM chose {answer.label!r}, the classifier's second choice")
    if answer.confidence is not None and answer.confidence >= confident:
        return Settlement(
            answer.label,
            "llm_confident",
            f"LLM chose {answer.label!r} with confidence {answer.confidence:.2f} >= {confident:.2f}",
        )
    return Settlement(
        None,
        "llm_disagrees",
        f"LLM chose {answer.label!r} but the classifier said {prediction.label!r}: a person decides",
    )
