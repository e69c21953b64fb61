"""The decision policy after classification: auto-route, ask the LLM, or leave it to a person; and why."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from service.core.domain import LLMAnswer, Prediction

LLM_CONFIDENT = 0.8
CLASSIFIER_CONFIDENT = 0.5
TOP_K = 3
MAX_CHARS = 8000


@dataclass(frozen=True)
class Settlement:
    """What the LLM's answer decides: the label to route by (None: a person decides) and the reason."""

    label: str | None
    branch: str
    why: str


def top_labels(prediction: Prediction, k: int = TOP_K) -> list[str]:
    """The labels the LLM may choose from: the classifier's k best, best first."""
    return [label for label, _ in prediction.top_k[: max(1, k)]]


def visible(text: str) -> str:
    """The ticket with compatibility forms folded and invisible format characters dropped."""
    # NFKC folds full-width and other look-alike forms; format characters (zero-width spaces and joiners,
    # bidi overrides, soft hyphens) show nothing to an agent but can split words the redactor looks for.
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")


def capped(text: str, max_chars: int = MAX_CHARS) -> str:
    """At most max_chars characters of the (already redacted) ticket, marked where it was cut."""
    return text if len(text) <= max_chars else text[:max_chars] + " [...]"


def settle(
    prediction: Prediction,
    answer: LLMAnswer,
    *,
    allowed: Sequence[str] | None = None,
    confident: float = LLM_CONFIDENT,
    classifier_confident: float = CLASSIFIER_CONFIDENT,
) -> Settlement:
    """Take a valid LLM label only from the labels it was offered (the classifier's top-k), and only if the
    classifier agrees, or is itself unsure and the label is its runner-up or the LLM is confident;
    otherwise a person reviews (both answers are kept either way)."""
    offered = list(allowed) if allowed is not None else top_labels(prediction, len(prediction.top_k))
    if answer.label is None:
        return Settlement(None, "llm_unsure", f"LLM chose none of the offered labels ({answer.reason})")
    if answer.label not in offered:
        # The adapter already refuses such answers; this holds for any LLM port.
        return Settlement(
            None, "llm_outside_top_k", f"LLM answered {answer.label[:60]!r}, not one of the classifier's top labels"
        )
    if answer.label == prediction.label:
        return Settlement(answer.label, "llm_agrees", f"LLM agrees with the classifier: {answer.label!r}")
    if prediction.confidence >= classifier_confident:
        return Settlement(
            None,
            "llm_disagrees",
            f"LLM chose {answer.label!r} but the classifier is confident in {prediction.label!r} "
            f"({prediction.confidence:.2f} >= {classifier_confident:.2f}): a person decides",
        )
    runners_up = [label for label, _ in prediction.top_k[1:]]
    if runners_up and answer.label == runners_up[0]:
        return Settlement(answer.label, "llm_runner_up", f"LLM chose {answer.label!r}, the classifier's second choice")
    if answer.confidence is not None and answer.confidence >= confident:
        return Settlement(
            answer.label,
            "llm_confident",
            f"LLM chose {answer.label!r}, one of the classifier's top labels, with confidence "
            f"{answer.confidence:.2f} >= {confident:.2f}",
        )
    return Settlement(
        None,
        "llm_disagrees",
        f"LLM chose {answer.label!r} but the classifier said {prediction.label!r}: a person decides",
    )
