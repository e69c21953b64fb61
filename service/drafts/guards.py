"""Guards on a generated draft part: it may only acknowledge, never add facts the ticket or template lack."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from service.decide.language import detect_language
from service.drafts.common_words import COMMON_PROPER
from service.drafts.context import bounded


@dataclass(frozen=True)
class GuardResult:
    """Whether a generated part may be used and, if not, which guard fired and on what."""

    ok: bool
    guard: str | None
    detail: str


# The language of a text (None: unknown); the worker passes its own detector, which knows TRIAGE_LANGUAGES.
LanguageOf = Callable[[str], str | None]


@dataclass(frozen=True)
class _Texts:
    generated: str
    ticket: str
    template: str
    max_chars: int
    language_of: LanguageOf | None = None

    @property
    def allowed(self) -> str:
        return f"{self.ticket}\n{self.template}"


_PLACEHOLDERS = re.compile(
    r"\{\{|\}\}|\{%|%\}|\{#"  # Jinja left-overs
    r"|\[[A-Za-z][A-Za-z0-9 _-]{0,30}\]"  # [NAME_1], [Your Name], [CUSTOMER]
    r"|</?[A-Za-z_][\w-]*\s*/?>"  # <ticket>, </ticket>, <br/>
    r"|<\|[^|>]*\|>"  # chat-template tokens
    r"|\{[a-z_]+\}"  # str.format fields
    r"|\b(?i:customer|agent|assistant|user|system|subject|ticket|reply|response|draft)\s*:"
)
_REFUSALS = re.compile(
    r"(?<!you're )(?<!you are )(?<!you were )(?<!you've been )\b(?:unable|not able)\b"
    r"|\b(?:cannot|can't|can not|won't|will not|could not|couldn't)\s+(?:help|assist|provide|do that|answer|"
    r"process|discuss|comply|support you)"
    r"|\b(?:i|we)\s+(?:cannot|can't|can not|am not able to|are not able to|won't be able to|do not have|"
    r"don't have)\b"
    r"|\b(?:i'm|i am|we're|we are)\s+(?:very |really |so |truly )?sorry,?\s+but\b"
    r"|\bi apologi[sz]e,?\s+but\b"
    r"|\bas an ai\b|\blanguage model\b|\bi'm (?:just )?(?:not )?an? (?:ai|bot|\w+ ?chatbot|virtual assistant)\b"
    r"|\bplease contact (?:your bank|the bank|customer (?:support|service)|our (?:support|customer))",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_URL = re.compile(
    r"\b(?:https?://|www\.)\S+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|co|uk|de|fr|es|it|nl|pt|eu|app|info|biz|me|ai|bank|money|ly|gl|"
    r"gov|edu|us)\b(?:/\S*)?",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d\s().-]{5,18}\d(?!\w)")
_NUMBER = r"\d+(?:[.,\u00a0 ]\d{3})*(?:[.,]\d{1,2})?"
_CURRENCY = (
    r"(?:[$€£¥₹₽₩]|\b(?:USD|EUR|GBP|CHF|JPY|AUD|CAD|NZD|SEK|NOK|DKK|PLN|CZK|HUF|RON|TRY|INR|CNY|HKD|"
    r"SGD|ZAR|BRL|MXN)\b)"
)
_CURRENCY_WORD = (
    r"(?:dollars?|euros?|pounds?|pence|cents?|quid|bucks|francs?|yen|zloty|kronor|krona|kroner|"
    r"rupees?)\b|%|\s?percent\b|\s?per cent\b"
)
_AMOUNT = re.compile(
    rf"{_CURRENCY}\s?(?P<a>{_NUMBER})|(?P<b>{_NUMBER})\s?(?:{_CURRENCY}|{_CURRENCY_WORD})", re.IGNORECASE
)
_ANY_NUMBER = re.compile(_NUMBER)

_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "fourteen": "14",
    "twenty": "20",
    "thirty": "30",
    "a": "1",
    "an": "1",
    "few": "few",
    "couple": "few",
    "several": "few",
}
_COUNT = (
    r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|twenty|thirty|few|"
    r"couple(?: of)?|several)"
)
_DURATION = re.compile(
    rf"\b(?P<n1>{_COUNT}|(?<=within )an?|(?<=in )an?|(?<=under )an?)"
    rf"(?:\s*(?:-|–|to|or)\s*(?P<n2>{_COUNT}))?\s+"
    r"(?:(?:business|working|calendar|banking|more|full)\s+)?(?P<unit>minute|hour|day|week|month|year)s?\b",
    re.IGNORECASE,
)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE = re.compile(
    r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b|\b\d{1,2}/\d{1,2}\b"
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b"
    rf"|\b{_MONTH}\s+\d{{4}}\b"
    r"|\b(?:january|february|march|april|june|july|august|september|october|november|december)\b"
    r"|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\bweekend\b"
    r"|\btomorrow\b|\btonight\b|\b(?:later|by|before|end of) today\b|\bnext (?:week|month|year|business day|"
    r"working day)\b|\bend of (?:the )?(?:day|week|month)\b|\beod\b"
    r"|\b\d{1,2}(?::\d{2})?\s?(?:am|pm|a\.m\.|p\.m\.)(?!\w)|\b\d{1,2}:\d{2}\b",
    re.IGNORECASE,
)
_PROMISES = re.compile(
    r"\b(?:we|i)(?:'ll|\s+will|\s+shall|\s+am going to|\s+are going to)\s+(?:\w+\s+){0,2}?"
    r"(?:refund|reimburse|credit|return|reverse|replace|cancel|unblock|unfreeze|fix|resolve|compensate|waive|"
    r"approve|send|transfer|release|restore|remove|make sure|ensure)\w*"
    r"|\b(?:i|we)(?:'ve|\s+have|\s+had)\s+(?:already\s+|now\s+|just\s+)?(?:processed|refunded|cancell?ed|reversed|"
    r"credited|approved|unblocked|unfrozen|fixed|resolved|sent|issued|released|restored|removed|reimbursed|"
    r"waived|blocked|frozen|replaced|transferred|returned)\b"
    r"|\b(?:will|'ll) be (?:fully\s+)?(?:refunded|reversed|credited|returned|reimbursed|replaced|resolved|fixed|"
    r"unblocked|cancell?ed|approved|waived|released|restored)\b"
    r"|\b(?:has|have) been (?:refunded|reversed|credited|approved|cancell?ed|resolved|fixed|processed|released|"
    r"restored|reimbursed|waived|unblocked)\b"
    r"|\byou(?:'ll|\s+will)\s+(?:definitely\s+|surely\s+|certainly\s+)?(?:receive|get)\s+(?:a\s+|your\s+|the\s+)?"
    r"(?:full\s+)?(?:refund|money back|reimbursement|compensation)"
    r"|\bguarantee[sd]?\b|\bimmediately\b|\bright away\b|\binstantly\b|\bstraight away\b|\bpromise[sd]?\b"
    r"|\brest assured\b|\bdefinitely\b|\bwithout (?:any )?(?:fail|delay)\b|\b100\s?%",
    re.IGNORECASE,
)
# Sympathy for an event, and the words a ticket would use if the event really happened.
_DEATH = ("died", "death", "dead", "passed away", "passing", "funeral", "bereave", "deceased", "widow", "estate")
_ACCIDENT = ("accident", "crash", "injur", "hurt")
_ILLNESS = ("ill", "illness", "sick", "hospital", "surgery", "diagnos", "health", "disease", "cancer")
_EVENTS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    # "Sorry for the confusion" when nobody was confused: small models' favourite filler.
    (
        re.compile(r"\bsorry (?:for|about) (?:the|any) (?:confusion|misunderstanding)\b", re.IGNORECASE),
        ("confus", "misunderstand", "unclear", "don't understand", "do not understand"),
    ),
    (
        re.compile(
            r"\b(?:sorry|sad)\s+(?:for|about|to hear about)\s+(?:your|the)\s+loss\b(?!\s+of\b)"
            r"|\bcondolences?\b|\bpass(?:ed|ing) away\b|\byour passing\b|\bbereave\w*|\brest in peace\b"
            r"|\bthoughts are with you\b",
            re.IGNORECASE,
        ),
        _DEATH,
    ),
    (re.compile(r"\baccident\b|\binjur(?:y|ies|ed)\b", re.IGNORECASE), _ACCIDENT),
    (
        re.compile(
            r"\bget well\b|\billness\b|\bill health\b|\bhospital\w*|\bdiagnos\w+|\bsurgery\b|\bsick\b", re.IGNORECASE
        ),
        _ILLNESS,
    ),
    (
        re.compile(r"\b(?:difficult|hard|tough|trying|sad|painful|challenging)\s+times?\b", re.IGNORECASE),
        (*_DEATH, *_ACCIDENT, *_ILLNESS, "difficult", "hard time", "struggl"),
    ),
)
_NAME_CUE = re.compile(
    r"\b(?i:my name is|i am|i'm|this is|dear|hi|hello|hey|regards|thanks|sincerely|mr|mrs|ms|miss|dr|"
    r"colleague|agent|adviser|advisor|manager|specialist|representative)[,.]?\s+([A-Z][a-z]+(?:-[A-Z][a-z]+)?)"
)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+(?:-[A-Z][a-z]+)?\b")


# Each returns None when it passes, or a short detail naming what it found (generated text only, never the
# ticket's: details are stored and shown).


def _empty(t: _Texts) -> str | None:
    return "nothing was generated" if not t.generated.strip() else None


def _placeholder(t: _Texts) -> str | None:
    match = _PLACEHOLDERS.search(t.generated)
    return f"template or prompt artefact {match.group(0)!r}" if match else None


def _refusal(t: _Texts) -> str | None:
    match = _REFUSALS.search(t.generated)
    return f"refusal or deflection {match.group(0)!r}" if match else None


def _language(t: _Texts) -> str | None:
    if t.language_of is None:  # detection is off (TRIAGE_LANGUAGES=none)
        return None
    ticket, generated = t.language_of(t.ticket), t.language_of(t.generated)
    if ticket and generated and ticket != generated:
        return f"generated text reads as {generated!r}, the ticket as {ticket!r}"
    return None


def _length(t: _Texts) -> str | None:
    if len(t.generated) > t.max_chars:
        return f"{len(t.generated)} characters, at most {t.max_chars}"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", t.generated.strip()) if s.strip()]
    return f"{len(sentences)} sentences, at most 2" if len(sentences) > 2 else None


def _email(t: _Texts) -> str | None:
    allowed = t.allowed.lower()
    for match in _EMAIL.finditer(t.generated):
        if match.group(0).lower() not in allowed:
            return f"e-mail address {match.group(0)!r} is not in the ticket or template"
    return None


def _url(t: _Texts) -> str | None:
    allowed = t.allowed.lower()
    # E-mail addresses were judged above; their domains are not links.
    for match in _URL.finditer(_EMAIL.sub(" ", t.generated)):
        if match.group(0).lower().rstrip(".,;:!?)") not in allowed:
            return f"link {match.group(0)!r} is not in the ticket or template"
    return None


def _phone(t: _Texts) -> str | None:
    allowed = {_digits(m) for m in _phones(t.allowed)}
    for candidate in _phones(t.generated):
        if _digits(candidate) not in allowed:
            return f"phone number {candidate!r} is not in the ticket or template"
    return None


def _amount(t: _Texts) -> str | None:
    allowed = {_number(m.group(0)) for m in _ANY_NUMBER.finditer(t.allowed)}
    for match in _AMOUNT.finditer(t.generated):
        if _number(match.group("a") or match.group("b")) not in allowed:
            return f"amount {match.group(0).strip()!r} is not in the ticket or template"
    return None


def _date(t: _Texts) -> str | None:
    allowed_text = " ".join(t.allowed.lower().split())
    allowed_durations = {d for m in _DURATION.finditer(t.allowed) for d in _durations(m)}
    for match in _DURATION.finditer(t.generated):
        if not set(_durations(match)) <= allowed_durations:
            return f"time frame {match.group(0)!r} is not in the ticket or template"
    for match in _DATE.finditer(t.generated):
        if " ".join(match.group(0).lower().split()) not in allowed_text:
            return f"date or time {match.group(0)!r} is not in the ticket or template"
    return None


def _promise(t: _Texts) -> str | None:
    # Only the template may commit us to anything: a customer asking for an "immediate refund" does not
    # let the draft promise one.
    template = " ".join(t.template.lower().split())
    for match in _PROMISES.finditer(t.generated):
        if " ".join(match.group(0).lower().split()) not in template:
            return f"commitment {match.group(0)!r} is not in the template"
    return None


def _apology_for_event(t: _Texts) -> str | None:
    ticket = t.ticket.lower()
    for pattern, evidence in _EVENTS:
        match = pattern.search(t.generated)
        if match and not any(re.search(rf"\b{re.escape(word)}", ticket) for word in evidence):
            return f"sympathy for an event the ticket does not mention: {match.group(0)!r}"
    return None


_THIRD_PERSON = re.compile(
    r"\b(?:the|this|our)\s+(?:customer|user|client|requester)(?:'s)?\b|\bcustomer's message\b", re.IGNORECASE
)


def _third_person(t: _Texts) -> str | None:
    # A reply speaks to the customer; "the customer" means the model narrated its instructions instead.
    match = _THIRD_PERSON.search(t.generated)
    return f"talks about the customer instead of to them: {match.group(0)!r}" if match else None


def _repeats_template(t: _Texts) -> str | None:
    # The acknowledgement must add what the template cannot; copying the template's facts only repeats them
    # (and small models copy them imperfectly).
    words = re.findall(r"[a-z']+", t.generated.lower())
    template = " " + " ".join(re.findall(r"[a-z']+", t.template.lower())) + " "
    for i in range(len(words) - 5):
        run = " ".join(words[i : i + 6])
        if f" {run} " in template:
            return f"repeats the template: {run!r}"
    return None


def _offtopic_names(t: _Texts) -> str | None:
    allowed = set(re.findall(r"[^\W\d_]+", t.allowed.lower()))
    candidates = [m.group(1) for m in _NAME_CUE.finditer(t.generated)]
    # Capitalised words inside a sentence are proper nouns; at a sentence start they are just capitalised.
    candidates += [
        m.group(0)
        for m in _CAPITALISED.finditer(t.generated)
        if not re.search(r"(?:^|[.!?:;\n\"'(]\s*|^\s*)$", t.generated[: m.start()])
    ]
    for word in candidates:
        parts = word.lower().split("-")
        if not all(p in allowed or p in COMMON_PROPER for p in parts) and not _DATE.fullmatch(word):
            return f"name {word!r} is not in the ticket or template"
    return None


# Order: the cheap, unambiguous guards first, then the ones that say most about *why* a part is unusable,
# then the lexical fact checks, with the most heuristic (names) last so a clearer reason is reported first.
# - empty: nothing else is meaningful on an empty string.
# - placeholder before refusal and length: an echoed prompt is usually also long, and "prompt artefact" is
#   the reason a maintainer needs to fix the prompt.
# - refusal before language and length: a refusal is unusable whatever its size or language.
# - language before the lexical guards: their word lists are English, so on another language they would
#   fire for the wrong reason (or not at all).
# - email before url (an address contains a domain) and phone before amount and date (a phone number is
#   several digit groups that the amount and date patterns would misread).
# - amount before date: "12.03" after a currency sign is money, not a day.
# - third_person and repeats_template after the fact checks: the text may be harmless, just useless.
GUARDS: tuple[tuple[str, Callable[[_Texts], str | None]], ...] = (
    ("empty", _empty),
    ("placeholder", _placeholder),
    ("refusal", _refusal),
    ("language", _language),
    ("length", _length),
    ("email", _email),
    ("url", _url),
    ("phone", _phone),
    ("amount", _amount),
    ("date", _date),
    ("promise", _promise),
    ("apology_for_event", _apology_for_event),
    ("third_person", _third_person),
    ("repeats_template", _repeats_template),
    ("offtopic_names", _offtopic_names),
)


def check(
    generated: str,
    *,
    ticket_text: str,
    template_text: str,
    max_chars: int = 300,
    language_of: LanguageOf | None = detect_language,
) -> GuardResult:
    """Run every guard in order on a generated part and report the first that fires."""
    texts = _Texts(
        # Longer than the length guard allows is refused by it; the rest is never read.
        generated=_normalise(generated[: max_chars * 4]),
        # The ticket's facts are read where a draft's are found, at its head and tail: never the whole of a long one.
        ticket=_normalise(bounded(ticket_text)),
        template=_normalise(template_text),
        max_chars=max_chars,
        language_of=language_of,
    )
    for name, guard in GUARDS:
        detail = guard(texts)
        if detail is not None:
            return GuardResult(ok=False, guard=name, detail=detail)
    return GuardResult(ok=True, guard=None, detail="all guards passed")


def _normalise(text: str) -> str:
    # Models and helpdesks mix typographic and ASCII apostrophes; the patterns are written with ASCII ones.
    return text.replace("’", "'").replace("‘", "'").replace("\u00a0", " ")


def _phones(text: str) -> list[str]:
    out = []
    for match in _PHONE.finditer(text):
        value = match.group(0).strip()
        digits = _digits(value)
        groups = len(re.findall(r"\d+", value))
        if not 7 <= len(digits) <= 15 or _DATE.fullmatch(value):
            continue
        # Plain amounts and ids are not phones: a phone has a +, a leading 0, brackets, or 3+ groups.
        if value.startswith(("+", "0", "(")) or groups >= 3:
            out.append(value)
    return out


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _number(value: str) -> str:
    value = value.replace("\u00a0", "").replace(" ", "")
    if re.fullmatch(r"\d+,\d{1,2}", value):
        value = value.replace(",", ".")  # a decimal comma: 12,50
    value = value.replace(",", "")
    if re.fullmatch(r"\d+(?:\.\d{3})+", value):
        value = value.replace(".", "")  # thousands dots: 1.250
    try:
        return f"{float(value):g}"
    except ValueError:
        return value


def _durations(match: re.Match[str]) -> list[str]:
    unit = match.group("unit").lower()
    counts = [match.group("n1"), match.group("n2")]
    return [f"{_NUMBER_WORDS.get(c.lower().split()[0], c.lower())} {unit}" for c in counts if c]
