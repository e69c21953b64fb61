"""Planted groups of tickets about things Banking77 has no intent for, to check that clustering finds them."""

from __future__ import annotations

import csv
import random

from tests.support.settings import BANKING77

PLANTED = {
    "crypto": [
        "Can I buy bitcoin with the money in my account?",
        "How do I sell my bitcoin and get euros back?",
        "Is it possible to trade bitcoin in the app?",
        "I want to buy some crypto, which crypto coins do you support?",
        "Why can't I find bitcoin trading in my app?",
        "Do you charge a fee to buy crypto like bitcoin?",
        "How long does it take to sell my crypto?",
        "Can I send bitcoin to an external crypto wallet?",
        "Where is my crypto wallet address?",
        "I bought bitcoin yesterday but it is not in my crypto balance",
    ],
    "mortgage": [
        "Can I apply for a mortgage to buy a house?",
        "What mortgage rates do you offer for a first home?",
        "I need a mortgage, how much can I borrow?",
        "How long does a mortgage application take to be approved?",
        "Do you offer a fixed rate mortgage?",
        "Can I move my mortgage from another bank to you?",
        "What documents do I need for the mortgage application?",
        "Is there a fee to repay my mortgage early?",
        "My mortgage payment did not go out this month",
        "Can I get a mortgage if I am self employed?",
    ],
    "pet_insurance": [
        "Do you sell pet insurance for my dog?",
        "Does your pet insurance cover vet bills for cats?",
        "How much is pet insurance for a puppy?",
        "My dog got sick, can I claim on the pet insurance?",
        "Can I add my cat to my pet insurance policy?",
        "Is there pet insurance for older dogs?",
        "How do I cancel my pet insurance?",
        "The vet sent me a bill, does my pet insurance pay it?",
        "I want to buy pet insurance for my two cats",
        "What does the pet insurance not cover for dogs?",
    ],
}
# The word each group's key terms must show.
TOPIC_WORDS = {"crypto": {"bitcoin", "crypto"}, "mortgage": {"mortgage"}, "pet_insurance": {"pet", "insurance"}}


def noise(n: int, seed: int = 0) -> list[str]:
    """One real Banking77 question from each of `n` different intents: unsure tickets that share no new topic."""
    with (BANKING77 / "test.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(seed).shuffle(rows)
    seen: set[str] = set()
    out = []
    for row in rows:
        if row["category"] not in seen:
            seen.add(row["category"])
            out.append(row["text"])
        if len(out) == n:
            break
    return out


def planted(per_group: int = 10, n_noise: int = 30) -> tuple[list[str], list[str | None]]:
    """Texts of the planted groups (per_group each) and noise, shuffled, with each text's group (None: noise)."""
    items: list[tuple[str, str | None]] = [(t, g) for g, texts in PLANTED.items() for t in texts[:per_group]]
    items += [(t, None) for t in noise(n_noise)]
    random.Random(1).shuffle(items)
    return [t for t, _ in items], [g for _, g in items]
