"""Recognizers, as data, for the personal data that the NER model and the checksum recognizers do not cover.

Every pattern is linear in its input: quantifiers are bounded and adjacent ones never match the same
characters, so a hostile ticket cannot make one of them backtrack for long (tests/escalate/test_redact.py
times them on 256 KiB inputs). Cue words come in English, French and German. A rule may hand what follows
its cue to a picker, which finds the value in it (the first password-shaped word after "password", the name
part of "Name: Mr. Smith (agent)"), or rejects it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from service.escalate.pii_names import AMBIGUOUS, FIRST_NAMES

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


def luhn_ok(digits: str) -> bool:
    """Say whether a digit string passes the Luhn check that card numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    """Say whether a string is an IBAN whose mod-97 check digits are right (spaces and case ignored)."""
    value = re.sub(r"\s", "", candidate).upper()
    if not 15 <= len(value) <= 34 or not value[:2].isalpha() or not value[2:4].isdigit() or not value.isalnum():
        return False
    rearranged = value[4:] + value[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _card(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def _password(value: str) -> bool:
    # "my password is not working" names no password: a lone lower-case word is taken for prose; "********" and
    # "<redacted>" hold none either.
    word = value.rstrip(".,;:!?)\"'")
    return len(word) >= 4 and not (word.isalpha() and word.islower()) and not _PLACEHOLDER.fullmatch(word)


def _ipv6(value: str) -> bool:
    # Presidio's IP pattern misses a v6 address followed by a colon, as in pasted logs ("from fe80::1: GET").
    if "::" not in value and value.count(":") != 7:
        return False
    try:
        return ipaddress.ip_address(value).version == 6
    except ValueError:
        return False


def _ssn(value: str) -> bool:
    area, group, serial = value[:3], value[4:6], value[7:]
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


# Words that open or close a value without being part of it, and what follows a cue before the value.
_OPENERS = "(\"'“„«[<`"
_CLOSERS = ".,;:?)]}\"'»”>`"
_WORD = re.compile(r"\S+")
_EMAIL_LIKE = re.compile(r"[\w.+-]@[\w-]+\.\w")
# Identifiers, codes, hex numbers, ordinals, times, versions and file names: shaped like a password, never one.
_NOT_A_PASSWORD = re.compile(
    r"(?:[A-Z]{1,8}[-_#]?\d{1,12}(?:[-_][A-Z0-9]{1,12}){0,4}|[A-Z][A-Z0-9]{0,20}(?:_[A-Z0-9]{1,20}){1,6}"
    r"|0x[0-9a-fA-F]{1,40}|\d{1,6}(?:st|nd|rd|th|er|e|am|pm|h|s|ms|min|x|k|kb|mb|gb|%)|v?\d{1,4}(?:\.\d{1,6}){1,3}\w{0,10}"
    r"|[\w-]{1,60}\.(?:pdf|png|jpe?g|gif|txt|csv|xlsx?|docx?|json|ya?ml|log|zip|html?|exe|apk|conf|cfg|ini|env))",
)
# IPv6 and MAC addresses, times with zones: letters, digits and colons, and no password.
_NETWORK_OR_TIME = re.compile(
    r"[0-9a-fA-F:.]{2,45}(?:%\w{1,20})?|(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}|[\dT:.+-]{4,30}Z?"
)
_PLACEHOLDER = re.compile(
    r"[*xX•.#-]{1,64}|<[^>]{0,60}>|\$\{[^}]{0,60}\}?|%[\w]{1,40}%|\{\{[^}]{0,60}\}?\}?"
    r"|(?i:null|none|nil|true|false|undefined|redacted|hidden|secret|password|changeme|example|xxx+|\.\.\.)"
)


def _stripped(value: str, start: int, end: int) -> tuple[int, int]:
    while start < end and value[start] in _OPENERS:
        start += 1
    while end > start and value[end - 1] in _CLOSERS:
        end -= 1
    return start, end


def password_like(word: str) -> bool:
    """A word written as a password is: 6 to 64 characters, letters with digits or symbols, not a code or a date."""
    if not 6 <= len(word) <= 64 or "://" in word or word.lower().startswith("www.") or _EMAIL_LIKE.search(word):
        return False
    if not any(c.isalpha() for c in word) or _NETWORK_OR_TIME.fullmatch(word):
        return False
    # Trailing "!" or "?" is punctuation unless the rest already reads as a password ("sorry!", not "Sunshine2024!").
    core = word.rstrip("!?")
    symbols = {c for c in core if not c.isalnum()}
    if not any(c.isdigit() for c in core) and not symbols - set(".-_'’"):
        return False  # "e-mail", "sign-in", "config.yaml", "sorry!"
    return not _NOT_A_PASSWORD.fullmatch(word)


def token_like(word: str) -> bool:
    """A key or token: 16 or more characters of a key's alphabet, with letters and digits."""
    return (
        16 <= len(word) <= 2000
        and re.fullmatch(r"[A-Za-z0-9_\-+/=.~]+", word) is not None
        and any(c.isdigit() for c in word)
        and any(c.isalpha() for c in word)
        and "://" not in word
        and not re.fullmatch(r"v?\d{1,4}(?:\.\d{1,6}){1,3}[\w.-]*|\d{4}-\d\d-\d\d[\dT:.Z+-]*", word)
    )


def _pick_word(value: str, accept: Check, limit: int = 8) -> tuple[int, int] | None:
    for i, match in enumerate(_WORD.finditer(value)):
        if i >= limit:
            return None
        start, end = _stripped(value, match.start(), match.end())
        if end > start and accept(value[start:end]):
            return start, end
    return None


def pick_password(value: str) -> tuple[int, int] | None:
    """The first password-shaped word of the few after a password cue ("reset to Winter#1988?", "lautet X")."""
    return _pick_word(value, password_like)


def pick_token(value: str) -> tuple[int, int] | None:
    """The first key-shaped word of the few after a key or token cue."""
    return _pick_word(value, token_like)


def _token_in_path(url: str) -> bool:
    path = url.split("?", 1)[0].split("#", 1)[0]
    return any(token_like(part) and "." not in part for part in path.split("/")[3:])


_SECRET_FIELD = re.compile(
    r"[\"']?([\w.-]{1,60})[\"']?[ \t]{0,3}(?:=>|=|:)[ \t]{0,3}[\"']?([^\s\"',;&<>]{4,500})", re.ASCII
)
_SECRET_KEY = re.compile(
    r"secret|token|passw(?:or)?d|passwd|pwd|api[_-]?key|apikey|access[_-]?key|private[_-]?key|account[_-]?key"
    r"|auth[_-]?key|signing[_-]?key|shared[_-]?access[_-]?key|credentials?|session[_-]?id|sessionid|cookie|kennwort"
    r"|passwort",
    re.IGNORECASE,
)


def pick_secret_field(value: str) -> tuple[int, int] | None:
    """The value of a field whose name says secret (API_KEY=…, "client_secret": "…"); None for other fields."""
    match = _SECRET_FIELD.match(value)
    if match is None or not _SECRET_KEY.search(match.group(1)) or not secret_value(match.group(2)):
        return None
    return match.span(2)


def secret_value(value: str) -> bool:
    """Whether the value of a secret-named field is a real value: not a placeholder, not a lower-case word."""
    return _password(value.strip("\"'`"))


# Particles inside a name, never its first word.
PARTICLES = frozenset(
    "van von de der den da di du le la del della dos das zu des ten ter af al el bin ben d' l'".split()
)
_NAME_WORD = re.compile(r"[^\W\d_][\w'’-]*", re.UNICODE)


def is_first_name(word: str) -> bool:
    """Whether `word` (any case) is in the gazetteer of given names, hyphenated ones part by part."""
    key = word.lower().strip("'’")
    if key in FIRST_NAMES or key in AMBIGUOUS:
        return True
    parts = key.split("-")
    return len(parts) > 1 and all(p in FIRST_NAMES or p in AMBIGUOUS for p in parts)


def _pick_name(value: str, lower_needs_gazetteer: bool, comma: bool = False) -> tuple[int, int] | None:
    """The name at the start of `value`: titles skipped, cut at the first word that is no name."""
    kept: list[tuple[int, int]] = []
    for match in _NAME_WORD.finditer(value):
        start, end = match.span()
        word = re.sub(r"['’]s?$", "", value[start:end].lower())
        if not kept and word in TITLE_WORDS:
            continue
        # Only spaces between the words of one name; a comma only in "Okafor, Chidi" (mail headers).
        gap = value[kept[-1][1] : start] if kept else ""
        initial = gap.strip(" \t") == "." and kept[-1][1] - kept[-1][0] == 1 and value[kept[-1][0]].isupper()
        if (
            gap.strip(" \t")
            and not initial
            and not (comma and gap.strip(" \t") == "," and "," not in value[: kept[-1][1]])
        ):
            break
        # A particle inside a name ("van der Merwe"), or opening a surname when capitalised ("Madame Le Goff").
        if word in PARTICLES and (kept or value[start].isupper()):
            kept.append((start, end))
            continue
        if word in NOT_NAMES or word in TITLE_WORDS:
            break
        # "thanks for your help" and "Merci Pour tout" end here; "Hi Will" does not.
        if word in COMMON_WORDS and (value[start].islower() or not is_first_name(word)):
            break
        kept.append((start, end))
    while kept and value[kept[-1][0] : kept[-1][1]].lower() in PARTICLES:
        kept.pop()
    if not kept:
        return None
    first = value[kept[0][0] : kept[0][1]]
    if first[0].islower() and lower_needs_gazetteer and not is_first_name(first):
        return None
    return kept[0][0], kept[-1][1]


def pick_name(value: str) -> tuple[int, int] | None:
    """A name after a strong cue ("my name is", "Name:"): in any case."""
    return _pick_name(value, lower_needs_gazetteer=False)


def pick_cued_name(value: str) -> tuple[int, int] | None:
    """A name after a weak cue (a greeting, a closing): a lower-case one only if it is a known given name."""
    return _pick_name(value, lower_needs_gazetteer=True)


def pick_header_name(value: str) -> tuple[int, int] | None:
    """The display name of a mail header, "First Last" or "Last, First", in any case."""
    return _pick_name(value, lower_needs_gazetteer=False, comma=True)


_MONTHS = (
    r"(?:jan(?:uary|vier|uar)?|feb(?:ruary|ruar)?|f[ée]vr(?:ier)?|m[aä]r(?:ch|s|z)?|apr(?:il)?|avr(?:il)?|may|mai"
    r"|june?|juin|juni|july|juil(?:let)?|juli|aug(?:ust)?|ao[uû]t|sep(?:t(?:ember|embre)?)?|oct(?:ober|obre)?"
    r"|okt(?:ober)?|nov(?:ember|embre)?|dec(?:ember)?|d[ée]c(?:embre)?|dez(?:ember)?)"
)
_DATE = (
    rf"(?:\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s{_MONTHS}\.?\s\d{{4}}|{_MONTHS}\.?\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}})"
)
# Capitalised words of a name (Unicode letters, hyphenated parts, particles such as "van der" inside).
_CAP = r"(?:[dlDL]['’])?(?:\p{Lu}['’])?\p{Lu}[\p{Ll}'’]{1,30}(?:\p{Lu}\p{Ll}{1,30})?(?:-\p{Lu}[\p{Ll}'’]{1,30})?"
_PARTICLE = r"(?:van|von|de|der|den|da|di|du|le|la|del|della|dos|das|zu|des|ten|ter)"
# Case-sensitive even inside rules that ignore case, so that "hello marcus, the app" does not run on.
NAME = (
    rf"(?-i:(?:\p{{Lu}}\.[ \t]{{0,2}})?{_CAP}"
    rf"(?:[ \t]{{1,3}}(?:\p{{Lu}}\.[ \t]{{1,3}})?(?:(?i:{_PARTICLE})[ \t]{{1,3}}){{0,2}}{_CAP}){{0,3}})"
)
# Up to four words in any case; pick_name/pick_cued_name cut it where the name ends.
_ANY_CASE_NAME = r"(?:\p{Lu}\.[ \t]{0,2})?\p{L}[\p{L}'’-]{0,30}(?:,?[ \t]{1,3}\p{L}[\p{L}'’-]{0,30}){0,3}"
_CLAUSE_NAME = r"(?>(?:\p{Lu}\.[ \t]{0,2})?\p{L}[\p{L}'’-]{0,30}(?:[ \t]{1,3}\p{L}[\p{L}'’-]{0,30}){0,2})"
TITLES = r"(?:mr|mrs|ms|mx|miss|dr|prof|herr|frau|monsieur|madame|mademoiselle|mme|mlle|sir|m)"
TITLE_WORDS = frozenset(TITLES.strip("(?:)").split("|"))
# Capitalised, or with a full stop ("M. Dupont"), so that "I miss Paris" and "I'm Ready" hold no title.
_TITLE_CASED = (
    r"(?-i:(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Herr|Frau|Monsieur|Madame|Mademoiselle|Mme|Mlle|Sir|MR|MRS|MS|DR)\.?|M\.)"
)
_STREET_EN = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|close"
    r"|crescent|square|sq|parkway|pkwy|highway|hwy|gardens|grove|mews|row|hill)"
)
_STREET_DE = r"(?:stra(?:ß|ss)e|str\.|weg|allee|platz|gasse|ring|damm|ufer|chaussee)"
_STREET_DE_WORD = r"(?:stra(?:ß|ss)e|weg|allee|platz|gasse|ring|damm|ufer|chaussee)"
_STREET_FR = r"(?:rue|avenue|av\.|boulevard|bd|place|all[ée]e|chemin|impasse|quai|route|cours)"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2}"
_PLACE = r"\p{Lu}[\p{Ll}'’-]{1,30}(?:[ -]\p{Lu}[\p{Ll}'’-]{1,30}){0,2}"
# Between the lines of an address: a comma or a line break, with spaces around.
_SEP = r"(?:[ \t]{0,3}[,\n][ \t]{0,3}|[ \t]{1,3})"

RULES: tuple[Rule, ...] = (
    Rule(
        "EMAIL",
        r"(?<![\w.+-])[\w.+-]{1,64}+@[\w-]{1,63}"
        r"(?:(?:\.|[ ]?[(\[{][ ]?(?:dot|\.|point|punkt)[ ]?[)\]}][ ]?)[\w-]{1,63}){1,8}",
    ),
    # Written out against harvesters: "jane (at) example (dot) com", "jane[at]example[.]com", "jane(at)example.com".
    Rule(
        "EMAIL",
        r"(?<![\w.+-])[\w.+-]{1,64}+[ ]?[(\[{<][ ]?(?:at|@|arobase|ät)[ ]?[)\]}>][ ]?[\w-]{1,63}"
        r"(?:(?:\.|[ ]?[(\[{][ ]?(?:dot|\.|point|punkt)[ ]?[)\]}][ ]?)[\w-]{1,63}){1,4}",
        needs=r"[(\[{<][ ]?(?:at|@|arobase|ät)[ ]?[)\]}>]",
        near=(70, 330),
    ),
    Rule(
        "EMAIL",
        r"\b[\w.+-]{1,64}[ ](?:at|arobase)[ ][\w-]{1,63}(?:[ ](?:dot|point|punkt)[ ][\w-]{1,63}){0,2}"
        r"[ ](?:dot|point|punkt)[ ](?:com|org|net|io|de|fr|uk|co|eu|ch|at|be|nl|es|it|ie|se|dk|no|pl|lu|us|ca|au"
        r"|info|biz|me|app|dev)\b",
        needs=r"[ ](?:dot|point|punkt)[ ]",
    ),
    Rule("IBAN", r"\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{4}){2,7}(?:[ ]?[a-z0-9]{1,3})?\b", 0.95, check=iban_ok),
    Rule("IBAN", r"\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]{4}){2,7}\b", 0.95, check=iban_ok),
    Rule("CARD", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", 0.95, check=_card),
    Rule(
        "CARD_CVV",
        r"\b(?:cvv2?|cvc2?|csc|card security code|security code|code de s[ée]curit[ée]"
        r"|cryptogramme(?: visuel)?|kartenpr[üu]fnummer|pr[üu]fziffer|sicherheitscode)\b[^\d\n]{0,20}(\d{3,4})\b",
        group=1,
    ),
    Rule(
        "CARD_EXPIRY",
        r"\b(?:exp(?:iry|ires|iration)?(?: date)?|valid (?:thru|through|until)|date d'expiration|expire (?:le|fin)"
        r"|g[üu]ltig bis|ablaufdatum|ablauf)\b[^\d\n]{0,15}((?:0[1-9]|1[0-2])[ ]?[/-][ ]?(?:20)?\d{2})\b",
        group=1,
    ),
    Rule(
        "IP",
        r"(?<![\w:.])[0-9a-f:]{2,39}(?<=[0-9a-f])(?![\w.])",
        0.9,
        check=_ipv6,
        needs=r"::|(?:[0-9a-f]{1,4}:){7}",
        near=(40, 40),
    ),
    Rule(
        "SECRET",
        r"\b(?:sk|rk)-(?:proj-|live-|test-|admin-|svcacct-|ant-(?:api\d\d-|admin\d\d-)?)?[A-Za-z0-9_-]{16,200}",
        0.95,
        ignore_case=False,
    ),
    Rule("SECRET", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bgh[pousr]_[A-Za-z0-9]{20,255}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bgithub_pat_[A-Za-z0-9_]{20,255}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bgl(?:pat|ptt|dt|rt|soat|cbt|imt|oas|ffct)-[A-Za-z0-9_-]{20,64}", 0.95, ignore_case=False),
    Rule("SECRET", r"\b(?:xox[abeoprs]|xapp)-[A-Za-z0-9-]{10,200}", 0.95, ignore_case=False),
    Rule("SECRET", r"\bAIza[0-9A-Za-z_-]{35}", 0.95, ignore_case=False),
    Rule("SECRET", r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,200}", 0.95, ignore_case=False),
    Rule("SECRET", r"\bwhsec_[A-Za-z0-9+/=]{20,100}", 0.95, ignore_case=False),
    Rule("SECRET", r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}", 0.95, ignore_case=False),
    Rule(
        "SECRET",
        r"\b(?:npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_-]{50,300}|hf_[A-Za-z0-9]{30,40})\b",
        0.95,
        ignore_case=False,
    ),
    Rule("SECRET", r"\bya29\.[A-Za-z0-9_-]{20,500}", 0.95, ignore_case=False),
    Rule(
        "SECRET",
        r"\b(?:shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}|dop_v1_[a-f0-9]{64}|sq0(?:atp|csp)-[A-Za-z0-9_-]{22,60})\b",
        0.95,
        ignore_case=False,
    ),
    Rule("SECRET", r"\b(?:ATATT[A-Za-z0-9_=-]{20,300}|key-[0-9a-f]{32}\b|SK[0-9a-f]{32}\b)", 0.9, ignore_case=False),
    Rule(
        "SECRET",
        r"-----BEGIN[A-Z ]{0,30} PRIVATE KEY-----[^-]{0,8000}(?:-----END[A-Z ]{0,30} PRIVATE KEY-----)?",
        0.95,
        ignore_case=False,
    ),
    Rule("SECRET", r"\beyJ[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{0,2000}", 0.95),
    # "Authorization: Bearer …", "Basic …", "token …" in pasted requests.
    Rule(
        "SECRET",
        r"\b(?:bearer|basic|token)[ \t]{1,3}([A-Za-z0-9._~+/-]{12,2000}={0,2})",
        group=1,
        check=lambda v: token_like(v.rstrip("=")) or (len(v) >= 20 and any(c.isupper() for c in v)),
    ),
    # The password of a connection string or of a URL: scheme://user:PASSWORD@host.
    Rule(
        "SECRET",
        r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@\"'<>]{1,64}:([^\s@/\"'<>]{1,128})@[\w.-]",
        0.95,
        group=1,
        needs=r"://[^\s:/@]{1,64}:[^\s@/]{1,128}@",
    ),
    Rule(
        "SECRET",
        r"\b(?:password|passwort|kennwort|mot de passe|passcode|pwd|pin(?: code)?|mdp)\b"
        r"(?:[ ](?:is|was|ist|war|est|[ée]tait|lautet|would be)[ :]{1,3}|[ ]?[:=][ ]?|[ ]?\()"
        r"(?:[\"'`“„«][ ]?)?([^\s\"'`”“»]{3,64})",
        group=1,
        check=_password,
    ),
    # The first password-shaped word of the few after a password cue: "reset to X", "you sent (X)", "lautet X".
    Rule(
        "SECRET",
        r"\b(?:password|passwort|kennwort|mot de passe|passcode|passphrase|pass phrase|pwd|mdp|code secret"
        r"|credentials|zugangsdaten|identifiants)s?\b(?=([^\n]{1,80}))",
        0.85,
        group=1,
        pick=pick_password,
    ),
    # A field whose name says secret: API_KEY=…, "client_secret": "…", aws_secret_access_key = …, AccountKey=…;
    Rule(
        "SECRET",
        r"(?<![\w-])[\"']?[\w.-]{1,60}+[\"']?[ \t]{0,3}(?:=>|=|:)[ \t]{0,3}[\"']?[^\s\"',;&<>]{4,500}",
        0.9,
        pick=pick_secret_field,
        needs=r"(?:secret|token|passw|pwd|key|credential|session|cookie|kennwort)[\w.-]{0,20}[\"']?[ \t]{0,3}[=:]",
        near=(70, 520),
    ),
    Rule(
        "SECRET",
        r"\b(?:api[_ -]?key|secret(?:[_ ]key)?|access[_ ]token|auth[_ ]token|bearer|token|client[_ ]secret"
        r"|cl[ée] (?:d'api|secr[èe]te)|schl[üu]ssel)\b(?:[ ](?:is|ist|est))?[ ]?[:=]?[ ]?([A-Za-z0-9_./+=-]{12,300})",
        group=1,
        check=_has_digit,
    ),
    # A key-shaped word (16+ characters, letters and digits) among the few after a key or token cue.
    Rule(
        "SECRET",
        r"\b(?:api[ _-]?key|key|token|secret|cl[ée](?: api| d'api)?|api-schl[üu]ssel|schl[üu]ssel|credential|jeton"
        r"|access[ _-]?key)s?\b(?=([^\n]{1,80}))",
        0.85,
        group=1,
        pick=pick_token,
    ),
    Rule(
        "URL",
        r"\bhttps?://[^\s<>\"']{1,300}?[?&#;](?:[\w.-]{0,30}?(?:token|key|sig|signature|secret|pass(?:word)?|pwd|auth"
        r"|session|sid|code|otp|jwt|credential|hash|nonce|ticket|reset|magic)[\w.-]{0,30}|t)=[^\s&#<>\"']{6,500}"
        r"[^\s<>\"']{0,500}",
        needs=r"https?://",
    ),
    # A link whose path holds a token: /reset/8f14e45f…, /invite/AbC123…, webhooks.
    Rule(
        "URL",
        r"\bhttps?://[^\s<>\"'/]{1,100}(?:/[^\s<>\"'/?#]{0,200}){0,8}/([A-Za-z0-9_-]{24,200})(?=[/?#\s\"'<>.,;)]|$)"
        r"[^\s<>\"']{0,500}",
        0.85,
        check=_token_in_path,
        needs=r"https?://",
    ),
    Rule("URL", r"\bhttps://hooks\.slack\.com/services/[A-Za-z0-9/_-]{10,200}", 0.95, ignore_case=False),
    Rule(
        "URL",
        r"\bhttps://(?:discord(?:app)?\.com/api/webhooks|[\w-]{1,60}\.webhook\.office\.com)/[^\s<>\"']{10,400}",
        0.95,
    ),
    Rule(
        "CODE",
        r"\b(?:one[- ]time (?:code|password|passcode|pin)|otp|verification code|security code|sms code|2fa code"
        r"|auth(?:entication)? code|login code|confirmation code"
        r"|code de (?:v[ée]rification|confirmation|s[ée]curit[ée])"
        r"|code (?:à usage unique|re[çc]u|sms)|best[äa]tigungscode|verifizierungscode|einmalcode|sicherheitscode|tan"
        r"|(?:my|your|the|votre|mon|le|dein|ihr|ihre|der|den) (?:sms[- ]|login |verification |security )?code"
        r"|sms-tan|sms-code|code aus der sms)"
        r"\b[^\d\n]{0,25}(\d{4,8})\b",
        group=1,
    ),
    Rule(
        "ACCOUNT",
        r"\b(?:sort[ -]?code|s/c|bank code|bankleitzahl|blz|code banque|routing(?: number| no\.?)?|aba)\b"
        r"[^\d\n]{0,12}(\d{2}[ -]?\d{2}[ -]?\d{2,5})\b",
        group=1,
    ),
    Rule(
        "ACCOUNT",
        r"\b(?:account(?: number| no\.?| #| nr\.?)?|acct\.?(?: no\.?)?|acc\.?|a/c|num[ée]ro de compte|n° de compte"
        r"|compte|kontonummer|konto(?:nr\.?| nr\.?)?)\b[^\w\n]{0,6}(?:(?:is|ist|est|no|nr)[^\w\n]{1,3})?(\d{6,17})\b",
        group=1,
    ),
    Rule(
        "DATE_OF_BIRTH",
        rf"\b(?:date of birth|dob|d\.o\.b\.?|born(?: on)?|birthday|birth ?date|date de naissance|n[ée]e? le"
        rf"|geburtsdatum|geboren am|geb\.)[^\w\n]{{0,5}}(?:(?:is|ist|est|:)[^\w\n]{{1,3}})?({_DATE})",
        group=1,
    ),
    Rule("ID_NUMBER", r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", 0.85, check=_ssn),
    Rule(
        "ID_NUMBER",
        r"\b(?:ssn|social security(?: number| no\.?)?)\b[^\w\n]{0,5}(?:(?:is|:)[^\w\n]{1,3})?"
        r"(\d{3}[ -]?\d{2}[ -]?\d{4})\b",
        group=1,
    ),
    Rule("ID_NUMBER", r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][ ]?\d{2}[ ]?\d{2}[ ]?\d{2}[ ]?[A-D]\b", 0.85),
    Rule(
        "ID_NUMBER",
        r"\b(?:passport(?: number| no\.?| #)?|num[ée]ro de passeport|passeport(?: n°)?|reisepass(?:nummer)?|pass-?nr\.?"
        r"|personalausweis(?:nummer)?|ausweisnummer|id card(?: number)?|carte d'identit[ée](?: n°)?"
        r"|national insurance(?: number| no\.?)?|ni number|nino|steuer-?id|num[ée]ro fiscal)\b"
        r"[^\w\n]{0,5}(?:(?:is|ist|est|no|nr|n°|number|nummer|num[ée]ro)\.?[^\w\n]{0,3})?"
        r"(?-i:([A-Z0-9]{2,10}(?:[ ][A-Z0-9]{1,6}){0,4}))\b",
        group=1,
        check=_has_digit,
    ),
    Rule("ID_NUMBER", r"\b[12][ ]?\d{2}[ ]?(?:0[1-9]|1[0-2])[ ]?\d{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{2}\b", 0.8),
    Rule(
        "ADDRESS",
        rf"\b(?:(?:[Ff]lat|[Aa]pt|[Aa]partment|[Ss]uite|[Uu]nit)\.?[ ]?\w{{1,5}}{_SEP})?"
        rf"\d{{1,5}}[A-Za-z]?(?:[ ]{_CAP}){{1,4}}[ ](?i:{_STREET_EN})\b\.?(?:[ ](?:NE|NW|SE|SW|N|S|E|W)\b)?"
        rf"(?:{_SEP}(?:(?:apt|suite|unit|flat|#)\.?[ ]?\w{{1,6}}))?"
        rf"(?:{_SEP}{_PLACE})?(?:{_SEP}(?:[A-Z]{{2}}[ ]\d{{5}}(?:-\d{{4}})?|{_UK_POSTCODE}))?",
        ignore_case=False,
    ),
    Rule(
        "ADDRESS",
        rf"\b(?:{_CAP}[ -])?\p{{L}}{{1,40}}+(?:(?<={_STREET_DE_WORD})|(?<=str)\.)[ ]\d{{1,4}}[a-z]?"
        rf"(?:{_SEP}\d{{5}}[ ]{_PLACE})?",
        needs=rf"(?:{_STREET_DE_WORD}|str\.)[ ]\d",
        near=(80, 60),
    ),
    Rule(
        "ADDRESS",
        rf"\b\d{{1,4}}(?:[ ]?(?:bis|ter))?,?[ ]{_STREET_FR}[ ](?:(?:de|du|des|la|le|l'|d')[ ]?){{0,2}}"
        rf"[\p{{L}}'’-]{{2,30}}(?:[ ][\p{{Lu}}][\p{{L}}'’-]{{1,30}}){{0,3}}(?:{_SEP}\d{{5}}[ ]{_PLACE})?",
    ),
    Rule("ADDRESS", rf"(?<=\n|^){_PLACE}[ ]{{0,2}}[,\n]?[ ]{{0,2}}{_UK_POSTCODE}\b", 0.85, ignore_case=False),
    Rule("ADDRESS", rf"\b{_UK_POSTCODE}\b", 0.6, ignore_case=False),
    Rule(
        "ADDRESS",
        rf"\b(?:(?:Am|An der|Auf dem|Im|In der|Zum|Zur|Unter den)[ ])?{_CAP}(?:[ -]{_CAP}){{0,2}}[ ]\d{{1,4}}[a-z]?"
        rf",?[ ]\d{{5}}[ ]{_PLACE}",
        0.85,
        ignore_case=False,
        needs=r"\d{5}[ ]\p{Lu}",
        near=(110, 50),
    ),
    Rule("ADDRESS", rf"(?<=\n|^|,[ ])\d{{5}}[ ]{_PLACE}(?=[ \t]*(?:\n|$|,))", 0.6, ignore_case=False),
    # Greetings: "Dear Mr. Smith", "Hallo Anna", "hi marcus" (lower case only for a known given name).
    Rule(
        "PERSON",
        r"(?m)^[ \t>]*(?:(?:hi|hiya|hello|hey|howdy|hullo)(?: there| again)?|moin|servus|coucou|dear|dearest|greetings"
        r"|good (?:morning|afternoon|evening|day)|morning|afternoon|bonjour|bonsoir|salut|cher|ch[èe]re|allô|allo"
        r"|guten (?:abend|morgen|tag)|gr[üu](?:ß|ss) gott|hallo|liebe[rs]?|sehr geehrte[rs]?|hola|ciao|buongiorno)"
        rf"(?|[ ]{{1,3}}(?:{TITLES}\.?[ ]{{1,3}}){{0,2}}(?![\p{{L}}-]{{1,40}}[ \t]{{1,3}}\d)({_ANY_CASE_NAME})"
        # After a comma the name is the whole clause: "Hi, Anna!" but not "Hi, One of my payments ...".
        rf"|[ ]?,[ \t]{{0,3}}(?:{TITLES}\.?[ ]{{1,3}}){{0,2}}({_CLAUSE_NAME})(?=[ \t]*(?:[,!.:;]|$)))",
        0.9,
        group=1,
        pick=pick_cued_name,
    ),
    Rule(
        "PERSON",
        r"\b(?:my name is|my name's|i am|i'm|this is|je m'appelle|je suis|mon nom est|ich hei(?:ß|ss)e|ich bin"
        r"|please call|please contact|ask for|speak to|spoke (?:to|with)|talked (?:to|with)|card ?holder"
        r"|account holder|titulaire|kontoinhaber(?:in)?|appelez|rufen sie|contactez|it's|it is|its|c'est|hier ist"
        r"|je soussign[ée]e?|account of|on behalf of|in the name of|au nom de|im namen von|zugunsten von|that is,"
        r"|ich,|i,"
        r"|according to|handled by|assigned to|approved by|signed by|sent by|forwarded by|advised by|told by|thanks to"
        r"|attention of|à l'attention de|de la part de|envoyé par|im auftrag von|i\.[ ]?a\.|i\.[ ]?v\.|z\.[ ]?hd\.?"
        r"|c/o|attn:?|mein name ist|mon nom|ici|parlé (?:à|avec)|gesprochen mit|ask|tell|inform|remind|ring|e-?mail"
        r"|contact|cc|thank|asked|told|called|emailed|phoned|rang|met|informed|reminded|thanked|demandez à|dites à"
        r"|fragen sie|sagen sie)"
        rf"[ ]{{1,3}}(?:{TITLES}\.?[ ]{{1,3}}){{0,2}}({NAME})",
        0.9,
        group=1,
    ),
    Rule(
        "PERSON",
        r"\b(?:my name is|my name's|je m'appelle|ich hei(?:ß|ss)e|mein name ist|mon nom est)[ ]{1,3}"
        rf"({_ANY_CASE_NAME})",
        0.9,
        group=1,
        pick=pick_name,
    ),
    # "it's chidi again", "this is anna here": lower case only for a known given name.
    Rule(
        "PERSON",
        r"\b(?:it's|it’s|its|it is|this is|c'est|c’est|ici|hier ist|hier)[ ]{1,3}(\p{Ll}[\p{L}'’-]{1,30})"
        r"(?=[ ,]{1,3}(?:again|here|from|encore|de nouveau|nochmal|wieder|von|aus)\b)",
        0.85,
        group=1,
        pick=pick_cued_name,
    ),
    # Closings: "Regards,\nMaria Lopez", "Thx, Ciaran", "Mit freundlichen Grüßen\n\nAnna Weber\nBuchhaltung".
    Rule(
        "PERSON",
        r"(?m)(?:^|[.!?][ \t]{1,3})[ \t>]*(?:(?:best |kind |warm |warmest |kindest |with |many |all the |warm )?"
        r"(?:regards|wishes|thanks|thank you)|best|thx|tks|ty|cheers|sincerely|yours(?: sincerely| truly| faithfully)?"
        r"|respectfully|take care|speak soon|talk soon|bye|thanks again|thank you again|much appreciated"
        r"|cordialement|bien cordialement|bien [àa] vous|merci(?: beaucoup| d'avance| encore| bien)?"
        r"|salutations(?: distingu[ée]es)?|sinc[èe]res salutations|bonne (?:journ[ée]e|soir[ée]e)|[àa] bient[ôo]t"
        r"|amicalement|bises|mit (?:freundlichen|besten|herzlichen|sonnigen|lieben|vielen) gr(?:ü|ue)(?:ß|ss)en"
        r"|(?:freundliche|viele|beste|liebe|herzliche|sch[öo]ne|sonnige) gr(?:ü|ue)(?:ß|ss)e(?: aus [\p{L}-]{2,30})?"
        r"|hochachtungsvoll|mfg|lg|vg|bg|gru(?:ß|ss)|gr(?:ü|ue)(?:ß|ss)e|danke(?: sch[öo]n| im voraus)?"
        r"|tsch[üu]ss|ciao|saludos|un saludo|atentamente)"
        r"[,!.]?[ \t]{0,3}(?:\n[ \t>]{0,3}){0,2}"
        rf"({_ANY_CASE_NAME})(?=[ \t]*(?:$|[(|,–—-]|[!.](?:[ \t]|$)))",
        0.9,
        group=1,
        pick=pick_cued_name,
    ),
    Rule("PERSON", rf"(?m)^[ \t]*[-–—]{{1,3}}[ \t]?({NAME})[ \t]*$", 0.9, group=1),
    Rule("PERSON", rf"(?m)^[ \t]*({NAME})(?:[ ,]{{1,3}}here\b|[ \t]{{1,3}}\|[ \t])", 0.88, group=1),
    # A signature block: a line of two to four capitalised words above a line with digits or an e-mail, a job
    # title or a company.
    Rule(
        "PERSON",
        rf"(?m)^[ \t]*((?-i:{_CAP}(?:[ ](?:(?i:{_PARTICLE})[ ]){{0,2}}{_CAP}){{1,3}}))[ \t]*\n"
        r"(?=[^\n]{0,80}[\d@]|[^\n]{0,60}\b(?:manager|director|head|lead|officer|assistant|accountant|engineer"
        r"|consultant|specialist|analyst|coordinator|administrator|advis[oe]r|executive|president|founder|partner"
        r"|owner|ceo|cfo|cto|coo|clerk|secretary|controller|treasurer|responsable|directeur|directrice|charg[ée]e?"
        r"|g[ée]rant|g[ée]rante|comptable|assistante|ing[ée]nieur|conseill[eè]re?|leiter|leiterin|gesch[äa]ftsf[üu]hrer"
        r"|gesch[äa]ftsf[üu]hrerin|sachbearbeiter|sachbearbeiterin|buchhaltung|abteilung|referent|referentin|inhaber"
        r"|inhaberin|ltd|gmbh|sarl|sas|inc|llc|plc|ag|kg|limited|team|department|service|services)\b)",
        0.88,
        group=1,
    ),
    Rule(
        "PERSON",
        rf"((?>{NAME}))[ \t]{{0,3}}[<(\[][^<>\s@]{{1,64}}(?:@|[ ]?[(\[]at[)\]])",
        0.9,
        group=1,
        needs=r"[<(\[][^<>\s@]{1,64}(?:@|[ ]?[(\[]at[)\]])",
        near=(150, 100),
    ),
    # Mail headers: From: "Okafor, Chidi" <…>, De : jean dupont <…>, Von: … [mailto:…].
    Rule(
        "PERSON",
        r"(?m)^[ \t>]{0,6}(?:from|von|de|cc|bcc|to|an|à|a|reply-to|sender|absender|exp[ée]diteur|envoy[ée] par)"
        r"[ \t]{0,2}:[ \t]{0,3}[\"']?([^\"'<>\[\]\n@:;]{2,80}?)[\"']?[ \t]{0,3}(?:<|\[mailto:|\(mailto:)",
        0.9,
        group=1,
        pick=pick_header_name,
    ),
    Rule(
        "PERSON",
        r"\b(?:my|our|mon|ma|mes|notre|nos|mein|meine|meinen|meinem|meiner|unser|unsere|unseren|unserem)"
        r"(?: late| dear| elderly| old| new| former| feu| défunt| défunte| verstorbenen?| verstorbene[rm]?"
        r"| ehemaliger?)?"
        r" (?:husband|wife|partner|spouse|son|daughter|mother|father|mum|mom|dad|brother|sister|grandmother"
        r"|grandfather|grandson|granddaughter|uncle|aunt|nephew|niece|cousin|friend|neighbou?r|landlord|landlady"
        r"|tenant|colleague|boss|manager|advisor|adviser|accountant|bookkeeper|assistant|secretary|lawyer|solicitor"
        r"|attorney|carer|ceo|cfo|cto|coo|director|employee|client|customer"
        r"|mari|femme|épouse|époux|conjoint|conjointe|compagnon|compagne|fils|fille|mère|père|frère|sœur|soeur"
        r"|grand-mère|grand-père|oncle|tante|neveu|nièce|cousine?|ami|amie|voisine?|collègue|patron|patronne"
        r"|conseill(?:er|ère)|comptable|avocat|avocate|notaire|locataire|propriétaire"
        r"|mann|ehemann|frau|ehefrau|partnerin|sohn|tochter|mutter|vater|bruder|schwester|oma|opa|onkel|tante"
        r"|freund|freundin|nachbar|nachbarin|kollegin|kollege|chef|chefin|berater(?:in)?|steuerberater(?:in)?"
        rf"|anwalt|anwältin|buchhalter(?:in)?|vermieter(?:in)?|mieter(?:in)?)[ ,]{{1,3}}({NAME})",
        0.9,
        group=1,
    ),
    # A role before a name: "Customer Lachlan Drummond (DOB …)", "Agent Mei Vance", "Kundin Anna Weber".
    Rule(
        "PERSON",
        r"\b(?:customer|client|cliente|kunde|kundin|agent|advisor|adviser|colleague|beneficiary|payee|recipient"
        r"|cardholder|tenant|landlord|caller|member|employee|patient|applicant|user|sender|conseiller|conseillère"
        r"|collègue|bénéficiaire|destinataire|kollege|kollegin|mitarbeiter(?:in)?|berater(?:in)?|sachbearbeiter(?:in)?"
        rf"|empfänger(?:in)?|cfo|ceo|cto|coo)[ \t]{{1,3}}({NAME})",
        0.85,
        group=1,
        pick=pick_name,
    ),
    Rule("PERSON", rf"(?<![\w'’])(?:{_TITLE_CASED}[ \t]{{1,3}}){{1,2}}({NAME})", 0.9, group=1, ignore_case=False),
    # Fields: "Name: X", "| Customer | X |", "Beneficiary: X", {"name": "X"}, holder="X", Nom : X, Empfänger: X.
    Rule(
        "PERSON",
        r"(?m)\b(?:name|full[ _]?name|first[ _]?name|last[ _]?name|given[ _]?name|family[ _]?name|surname"
        r"|customer(?: name)?|account holder|account name|card ?holder(?: name)?|contact(?: person| name)?|requester"
        r"|reported by|signed|beneficiary(?: name)?|payee(?: name)?|recipient(?: name)?|sender|attn|attention"
        r"|agent|advisor|adviser|signatory|applicant|holder|owner|user_?name|full_?name|display_?name|customer_?name"
        r"|nom(?: complet)?|pr[ée]nom|nom de famille|titulaire(?: du compte)?|client|b[ée]n[ée]ficiaire|destinataire"
        r"|exp[ée]diteur|interlocut(?:eur|rice)|conseill(?:er|ère)|kontoinhaber(?:in)?|kunde|kundin"
        r"|ansprechpartner(?:in)?|vorname|nachname|familienname|empf[äa]nger(?:in)?|zahlungsempf[äa]nger(?:in)?"
        r"|auftraggeber(?:in)?|absender(?:in)?|sachbearbeiter(?:in)?|berater(?:in)?|von|from|de|gez\.)"
        r"[\"']?[ \t]{0,3}(?:[:|=]|=>|[ ][-–][ ])[ \t]{0,3}"
        r"[\"']?"
        rf"(?:{TITLES}\.?[ ]{{1,3}})?({_ANY_CASE_NAME})",
        0.9,
        group=1,
        pick=pick_name,
    ),
)

# Capitalised words that follow a cue but are not names ("Hi Team", "I am Unable", "this is Bank of ...").
NOT_NAMES = frozenset(
    """team support there all everyone everybody sir madam sirs folks guys unable not still trying writing having
    sorry very so the a an just customer looking going from waiting getting confused worried concerned back new
    again here also please bank card account app service services help desk helpdesk ltd inc gmbh plc sa sas ag
    limited company customer-service billing sales admin it i we you they my our your this that it's its for in on
    with your urgent regarding re fwd fw hello hi dear thanks thank regards best cheers merci danke bonjour hallo
    madame monsieur herr frau mr mrs ms dr le la les un une der die das ein eine und et and or oui non yes no
    mobile phone email e-mail online web office order ticket refund payment transfer mit freundlichen grüßen
    cordialement sent von gesendet envoyé date subject betreff objet to an à cc kunde client name nom re:
    pending happy glad writing calling contacting reaching following done ok okay good great meine mein ihr ihre
    sie wir guten beste viele liebe bitte danke karte konto bestellung lieferadresse nummer kontoinhaber tel fax
    reisepassnummer fehlercode kundenservice grüße gruß tag quelqu'un ma mon mes votre notre carte compte lien
    commande merci bien adresse nom passwort pay plus premium platinum smart visa mastercard maestro amex paypal
    revolut apple google monday tuesday wednesday thursday friday saturday sunday january february march april
    june july august september october november december rückruf damen herren abend morgen monzo starling n26
    wise klarna sparkasse commerzbank équipe l'équipe noreply no-reply info contact accounts payments finance
    operations hr staff members customers clients kundendienst buchhaltung abteilung gold silver black metal
    infinite premier standard business basic classic hochachtungsvoll salutations distinguées sincères
    kontoinhaberin anschrift rechnungsadresse adresse identifiant login password user utilisateur benutzer
    everyone unknown n/a none null test barclays deutsche hsbc santander natwest lloyds halifax nationwide
    citi citibank boursorama société générale bnp paribas crédit agricole mutuel postbank volksbank raiffeisen
    ubs rabobank abn amro triodos unicredit intesa bbva caixa fargo senior junior head chief lead accountant manager
    director officer assistant engineer consultant analyst coordinator administrator executive president founder
    partner clerk secretary controller treasurer operations finance marketing""".split()
)

# Function words of English, French and German: in lower case they end a name ("thanks for your help").
COMMON_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers him his how i if in into is it its itself just me more most my myself no nor not now of off on once only
    or other our out over own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who whom why will with would
    you your yours see soon later tomorrow today tonight yesterday week love xx xo lot lots much help well sure
    also please kind again thank thanks ok okay cheers bye everyone all team folks guys let us get got need know
    je tu il elle on nous vous ils elles le la les un une des du de au aux et ou mais donc ni car que qui quoi dont
    où ce cet cette ces mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs pour par avec sans sous
    sur dans en chez vers est suis es sommes êtes sont ai as avons avez ont été être avoir pas ne plus très bien
    merci bonjour bonsoir salut cordialement beaucoup encore toujours aussi déjà tout tous toute toutes rien
    ich du er sie es wir ihr mich mir dich dir uns euch ihnen sein seine ihre mein meine dein deine unser unsere
    der die das den dem des ein eine einen einem einer und oder aber denn sondern dass weil wenn als wie was wer
    wo warum für mit von zu bei nach aus über unter vor hinter neben zwischen durch gegen ohne um an auf im am
    ist bin bist sind seid war waren hat habe haben hatte nicht kein keine noch schon auch nur sehr bitte danke
    vielen dank zusammen alle el los las y o pero con por para muy gracias hola lo gli ma per grazie i'm i've i'd
    i'll it's that's what's there's here's can't don't won't isn't aren't wasn't didn't doesn't haven't hasn't
    couldn't wouldn't shouldn't let's j'ai c'est""".split()
)
