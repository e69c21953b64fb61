"""Replace personal data with typed placeholders before any text leaves the building; the mapping stays here."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Card numbers: 13-19 digits, optionally grouped by spaces or dashes; kept only if the Luhn check passes.
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
# IBAN: country code, check digits, 11-30 alphanumerics, optionally in groups of four; mod-97 checked.
# Upper case only: a lower-case word after the number must not be swallowed into it.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{1,4}){3,8}\b")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){2,7}(?::|[0-9a-fA-F]{1,4})(?:[0-9a-fA-F:]*)(?![\w:])")
# Phones: +CC or 0-prefixed, or (area) groups; 7-15 digits in total after stripping separators.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,4}(?![\w])")
_WORD = r"[A-Z][a-z'’]+(?:-[A-Z][a-z'’]+)?"
_NAME = rf"({_WORD}(?:\s+{_WORD}){{0,2}})"
# Cue words match in any case; the name itself must be capitalised.
_NAME_CUES = [
    re.compile(rf"(?m)^\s*(?i:hi|hello|hey|dear|good (?:morning|afternoon|evening))[ ,]+{_NAME}\b"),
    re.compile(rf"\b(?i:my name is|this is|i am|i'm)\s+{_NAME}\b"),
    re.compile(
        rf"(?m)^\s*(?i:regards|best regards|kind regards|thanks|thank you|cheers|sincerely|best)[,!.]?\s*\n"
        rf"\s*{_NAME}\s*$"
    ),
    re.compile(rf"(?m)^\s*[-–—]+\s*{_NAME}\s*$"),
]
# Capitalised words after the cues that are not names ("Hi Team", "I am Unable").
_NOT_NAMES = {
    "team",
    "support",
    "there",
    "all",
    "sir",
    "madam",
    "unable",
    "not",
    "still",
    "trying",
    "writing",
    "having",
    "sorry",
    "very",
    "so",
    "the",
    "a",
    "an",
    "just",
    "customer",
    "looking",
    "going",
    "from",
    "waiting",
    "getting",
    "confused",
    "worried",
    "concerned",
    "back",
    "new",
    "again",
    "here",
    "also",
}


@dataclass
class Redaction:
    """The redacted text and the local-only mapping from placeholder to original value."""

    text: str
    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for placeholder in self.mapping:
            kind = placeholder.strip("[]").rsplit("_", 1)[0]
            out[kind] = out.get(kind, 0) + 1
        return out


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    value = re.sub(r"\s", "", candidate).upper()
    if not 15 <= len(value) <= 34 or not value[:2].isalpha() or not value[2:4].isdigit():
        return False
    rearranged = value[4:] + value[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def redact(text: str) -> Redaction:
    """Typed placeholders for e-mails, IBANs, card numbers (Luhn), IPs, phones and names where detectable."""
    result = Redaction(text)
    seen: dict[tuple[str, str], str] = {}

    def sub(kind: str, value: str) -> str:
        key = (kind, value)
        if key not in seen:
            seen[key] = f"[{kind}_{sum(1 for k in seen if k[0] == kind) + 1}]"
            result.mapping[seen[key]] = value
        return seen[key]

    def apply(
        pattern: re.Pattern[str], kind: str, accept: Callable[[str], bool] = lambda v: True, group: int = 0
    ) -> None:
        def replace(m: re.Match[str]) -> str:
            value = m.group(group)
            if not accept(value):
                return m.group(0)
            start, end = m.start(group) - m.start(0), m.end(group) - m.start(0)
            whole = m.group(0)
            return whole[:start] + sub(kind, value) + whole[end:]

        result.text = pattern.sub(replace, result.text)

    # Order matters: structured identifiers first, so digits inside them are not taken for phone numbers.
    apply(_EMAIL, "EMAIL")
    apply(_IBAN, "IBAN", iban_ok)
    apply(_CARD, "CARD", lambda v: luhn_ok(re.sub(r"\D", "", v)))
    apply(_IPV4, "IP", _valid_ip)
    apply(_IPV6, "IP", _valid_ip)
    apply(_PHONE, "PHONE", _phone_like)
    for cue in _NAME_CUES:
        apply(cue, "NAME", _name_like, group=1)
    return result


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _phone_like(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    if not 7 <= len(digits) <= 15:
        return False
    # Plain amounts and dates are not phones: a phone has a +, a leading 0, brackets, or 3+ groups.
    groups = len(re.findall(r"\d+", value))
    return value.startswith(("+", "0", "(")) or groups >= 3 or (groups == 1 and len(digits) >= 10)


def _name_like(value: str) -> bool:
    return value.split()[0].lower() not in _NOT_NAMES
