"""Hostile 256 KiB texts and every text function of the service they are run through (tests and bench).

A body may be 256 KiB (TRIAGE_MAX_BODY_BYTES). Each text is what a regular expression with nested or adjacent
unbounded repetition turns into seconds of CPU: repeated separators, unclosed tags, long whitespace runs,
long words, cues repeated without their continuation.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

SIZE = 256 * 1024


def catalogue(size: int = SIZE) -> dict[str, str]:
    """Name -> text of about `size` characters."""

    def fill(unit: str, head: str = "", tail: str = "") -> str:
        return head + unit * ((size - len(head) - len(tail)) // len(unit)) + tail

    return {
        "dots": fill("a."),
        "newlines": fill("\n"),
        "newlines_between_words": fill("\n", "x", "x"),
        "unclosed_tags": fill("<a"),
        "open_close": fill("<>"),
        "spaces": fill(" "),
        "thanks_then_spaces": fill(" ", "Thanks"),
        "one_long_word": fill("a"),
        "digits_and_spaces": fill("1 "),
        "at_signs": fill("@"),
        "address_like": fill("a@b."),
        "url_like": fill("a", "http://"),
        "greetings": fill("Dear "),
        "self_introductions": fill("my name is "),
        "signatures": fill("-- \nJohn\n"),
        "quoted_lines": fill("> "),
        "tabs_and_newlines": fill("\t\n"),
        "capitalised_words": fill("Ab "),
        "hyphenated_names": fill("Anna-"),
        "references": fill("order #"),
        "iban_like": fill("DE89 "),
        "phone_like": fill("+44 "),
        "passwords": fill("my password is "),
        "punctuation": fill("!?"),
    }


def text_functions() -> dict[str, Callable[[str], object]]:
    """Every function of the service that reads ticket or generated text, bound to realistic other arguments."""
    from service.core.domain import Prediction
    from service.decide.language import detect_language
    from service.decide.normalize import normalize, ticket_text
    from service.decide.route import load_rules
    from service.drafts import guards
    from service.drafts.context import context_for
    from service.drafts.drafter import clean
    from service.escalate.redact import redact
    from service.web.review.sanitize import render_body

    root = Path(__file__).resolve().parents[2]
    rules = load_rules(root / "data" / "routing" / "banking77.yaml")
    unsure = Prediction(
        label="card_arrival", confidence=0.4, top_k=(("card_arrival", 0.4),), model_name="baseline", model_version="v"
    )
    return {
        "ticket_text": lambda s: ticket_text(s, s),
        "normalize": normalize,
        "route": lambda s: rules.route(unsure, text=s, metadata={}, tags=[]),
        "redact": redact,
        "draft_slots": lambda s: context_for(ticket_id="1", requester=s, subject=s, body=s, queue="cards", label="x"),
        "draft_clean_up": clean,
        "guards": lambda s: guards.check(s, ticket_text=s, template_text="We will look into it."),
        "language": detect_language,
        "review_page_body": render_body,
    }
