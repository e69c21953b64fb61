"""What a draft may say about one ticket: the requester's first name and the references they quoted.

Nothing here is raw ticket text: a name must look like a name, a reference like a reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.escalate.pii_identifiers import iban_ok, luhn_ok


@dataclass(frozen=True)
class DraftContext:
    """What a draft may say about one ticket: nothing here is raw ticket text."""

    ticket_id: str
    first_name: str | None
    queue: str
    label: str
    references: tuple[str, ...] = ()


# A first name: letters (any script), optionally one hyphen or apostrophe part ("Anna-Lena", "D'Arcy").
_NAME_WORD = r"[^\W\d_]{2,}(?:[-'’][^\W\d_]{2,})?"


_CAP_NAME = r"[^\W\d_a-z][^\W\d_]+(?:[-'’][^\W\d_]{2,})?"


# Up to two capitalised surnames, with lower-case particles ("Liam van der Berg"); nothing else may follow, so
# "Thanks Bob for the help" (thanking our agent) is not a signature.
_SURNAME = (
    r"(?:[ \t]++(?:(?:van|von|der|den|de|da|di|del|dos|du|le|la|ten|ter|bin|al)[ \t]++)*+" + _CAP_NAME + r"){0,2}"
)


# Cues match in any case, the name must be capitalised; only the customer's own words count. "Hi X" in a
# ticket greets *our* agent, so greetings are deliberately not a cue.
_SELF_INTRO = re.compile(rf"\b(?i:my name is|my name's|name:)\s+({_CAP_NAME})")


_SIGNATURE = re.compile(
    rf"(?m)^[ \t]*+(?i:regards|best regards|kind regards|warm regards|many thanks|thanks|thank you|cheers|"
    rf"sincerely|yours sincerely|yours faithfully|best wishes|best|all the best)[ \t]*+[,!.]?(?:[ \t]*+\n){{0,2}}"
    rf"[ \t]*+({_CAP_NAME}){_SURNAME}[ \t]*+[.!]?[ \t]*+$"
)


_DASH_SIGNATURE = re.compile(rf"(?m)^[ \t]*+[-–—]++[ \t]*+({_CAP_NAME}){_SURNAME}[ \t]*+$")


_NOT_NAMES = frozenset(
    {
        "team",
        "support",
        "there",
        "all",
        "sir",
        "madam",
        "customer",
        "client",
        "user",
        "admin",
        "info",
        "contact",
        "help",
        "hello",
        "hi",
        "service",
        "services",
        "sales",
        "billing",
        "accounts",
        "account",
        "noreply",
        "no",
        "reply",
        "office",
        "mail",
        "email",
        "test",
        "unknown",
        "anonymous",
        "bank",
        "card",
        "thanks",
        "regards",
        "again",
        "everyone",
        "guys",
        "folks",
        "friend",
        "urgent",
        "please",
        "asap",
        "unable",
        "still",
        "the",
        "not",
        "very",
        "so",
        "in",
        "for",
        "advance",
        "much",
        "you",
        "staff",
        "me",
        "mr",
        "mrs",
        "ms",
    }
)


_VOWELS = set("aeiouyàáâäãåèéêëìíîïòóôöõùúûüýÿæœøąęėįųūěůő")


# Order/transaction/payment references: a cue word, optional "number"/"id"/"is", then one token with a digit.
_REFERENCE = re.compile(
    r"\b(?i:transactions?|txn|payments?|transfers?|orders?|references?|ref|booking|invoice|receipt|"
    r"confirmation|tracking|case|claim|dispute)\b"
    r"(?P<marker>(?:[ \t]+(?i:id|no|nr|num|number|code|ref|reference)\b\.?)?(?:[ \t]+(?i:is|was)\b)?"
    r"[ \t]*[:#=]?[ \t]*#?)"
    r"(?P<id>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
    # Not the first group of a longer number ("4111 1111 ...") and not an amount ("payment 5000 euros").
    r"(?![\w-]|[ \t]\d|[ \t]*(?i:€|\$|£|eur\b|euros?\b|usd\b|gbp\b|dollars?\b|pounds?\b))"
)


_IBAN_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")


_DATE_SHAPE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{2,4}")


def context_for(*, ticket_id: str, requester: str, subject: str, body: str, queue: str, label: str) -> DraftContext:
    """Build the draft's slots from a ticket: first name when it clearly is one, and the references cited."""
    body = bounded(body)
    return DraftContext(
        ticket_id=str(ticket_id),
        first_name=first_name(body=body, requester=requester),
        queue=queue,
        label=label,
        references=references(f"{subject[:HEAD_CHARS]}\n{body}"),
    )


# An address is at most 320 characters (RFC 5321), a display name a few words: more is not a requester.
MAX_REQUESTER_CHARS = 400
# A long body is read at its start (introductions, references) and its end (the signature), never whole.
HEAD_CHARS, TAIL_CHARS = 8000, 2000


def bounded(body: str) -> str:
    """The parts of a body the slots are read from: all of a short one, the head and tail of a long one."""
    if len(body) <= HEAD_CHARS + TAIL_CHARS:
        return body
    return f"{body[:HEAD_CHARS]}\n{body[-TAIL_CHARS:]}"


def first_name(*, body: str, requester: str) -> str | None:
    """Return the customer's first name from a self-introduction, signature or requester, or None."""
    for pattern in (_SELF_INTRO, _SIGNATURE, _DASH_SIGNATURE):
        for match in pattern.finditer(body):
            if name := _as_name(match.group(1)):
                return name
    return _name_from_requester(requester)


def references(text: str) -> tuple[str, ...]:
    """Return order/transaction/payment ids cited in the text; never card numbers, IBANs or phone numbers."""
    found: dict[str, str] = {}
    for match in _REFERENCE.finditer(text):
        value = match.group("id")
        marked = bool(match.group("marker").strip())
        if _is_reference(value, marked=marked):
            found.setdefault(value.upper(), value)
    return tuple(found.values())


def _is_reference(value: str, *, marked: bool) -> bool:
    if not 4 <= len(value) <= 34 or not any(c.isdigit() for c in value):
        return False
    if value.isdigit():
        if 13 <= len(value) <= 19 and luhn_ok(value):
            return False  # a card number
        if value.startswith("0") and len(value) >= 10:
            return False  # a national phone number
        # A bare short number after "payment" is as likely an amount or a year: ask for a marker ("#", "no.").
        if len(value) < 5 and not marked:
            return False
    if _IBAN_SHAPE.fullmatch(value.upper()) and (iban_ok(value) or value.isupper()):
        return False
    return not _DATE_SHAPE.fullmatch(value)


def _as_name(word: str) -> str | None:
    word = word.replace("’", "'")
    if not re.fullmatch(_NAME_WORD, word) or word.lower() in _NOT_NAMES:
        return None
    if not _VOWELS & set(word.lower()):
        return None
    if word.islower() or word.isupper():
        word = "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
    return word


def _name_from_requester(requester: str) -> str | None:
    requester = requester.strip()[:MAX_REQUESTER_CHARS]
    display, address = requester, ""
    if match := re.fullmatch(r"\s*\"?([^\"<]*?)\"?\s*<([^>]+)>\s*", requester):
        display, address = match.group(1), match.group(2)
    elif "@" in requester:
        display, address = "", requester
    if display:
        # "Doe, Jane" puts the first name second.
        given = display.split(",", 1)[1] if "," in display else display
        words = given.split()
        if words and all(re.fullmatch(_NAME_WORD, w.replace("’", "'")) for w in words) and len(words) <= 4:
            if name := _as_name(words[0]):
                return name
    if address:
        # Only "first.last"-shaped local parts: "jane@", "jdoe@" or "bigspender@" can't be told from a name.
        parts = re.split(r"[._-]", address.split("@", 1)[0])
        if len(parts) >= 2 and parts[0].isalpha() and parts[1][:1].isalpha():
            return _as_name(parts[0])
    return None
