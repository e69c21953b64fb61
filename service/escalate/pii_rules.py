"""The shape of a redaction rule: a pattern for one placeholder type, and what checks or picks its value.

The rules themselves are data, in three tables: service/escalate/pii_identifiers.py (e-mail addresses, IBANs,
cards, IP addresses, account and ID numbers, postal addresses), service/escalate/pii_secrets.py (keys, tokens,
passwords and one-time codes) and service/escalate/pii_name_cues.py (names after cue words, in signatures,
headers and fields). They cover the personal data that the NER model and the checksum recognizers do not.

Every pattern is linear in its input: quantifiers are bounded and adjacent ones never match the same
characters, so a hostile ticket cannot make one of them backtrack for long (tests/escalate/test_redact.py
times them on 256 KiB inputs). Cue words come in English, French and German. A rule may hand what follows
its cue to a picker, which finds the value in it (the first password-shaped word after "password", the name
part of "Name: Mr. Smith (agent)"), or rejects it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A checker gets the matched value and says whether it is kept; it never widens the match.
Check = Callable[[str], bool]
# A picker gets the matched value and returns where in it the value to replace lies, or None to drop it.
Pick = Callable[[str], "tuple[int, int] | None"]


@dataclass(frozen=True)
class Rule:
    """One pattern for one placeholder type; `group` selects the value when cue words precede it."""

    kind: str
    pattern: str
    score: float = 0.9
    group: int = 0
    check: Check | None = None
    ignore_case: bool = True
    # A cheaper pattern that must occur in the text for this rule to run at all (same flags).
    needs: str | None = None
    pick: Pick | None = None
    # With `needs`: run the pattern only this many characters before and after each place `needs` matched.
    near: tuple[int, int] | None = None


def has_digit(value: str) -> bool:
    """Say whether a value holds a digit (a key, an ID number)."""
    return any(c.isdigit() for c in value)
