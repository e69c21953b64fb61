"""Rules for identifiers: e-mail, IBAN, card, IP, account and ID numbers, dates of birth, postal addresses."""

from __future__ import annotations

import ipaddress
import re

from service.escalate.pii_name_cues import CAP
from service.escalate.pii_rules import Rule, has_digit


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


_MONTHS = (
    r"(?:jan(?:uary|vier|uar)?|feb(?:ruary|ruar)?|f[ée]vr(?:ier)?|m[aä]r(?:ch|s|z)?|apr(?:il)?|avr(?:il)?|may|mai"
    r"|june?|juin|juni|july|juil(?:let)?|juli|aug(?:ust)?|ao[uû]t|sep(?:t(?:ember|embre)?)?|oct(?:ober|obre)?"
    r"|okt(?:ober)?|nov(?:ember|embre)?|dec(?:ember)?|d[ée]c(?:embre)?|dez(?:ember)?)"
)
_DATE = (
    rf"(?:\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s{_MONTHS}\.?\s\d{{4}}|{_MONTHS}\.?\s\d{{1,2}}(?:st|nd|rd|th)?,?\s\d{{4}})"
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

IDENTIFIER_RULES: tuple[Rule, ...] = (
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
        check=has_digit,
    ),
    Rule("ID_NUMBER", r"\b[12][ ]?\d{2}[ ]?(?:0[1-9]|1[0-2])[ ]?\d{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{2}\b", 0.8),
    Rule(
        "ADDRESS",
        rf"\b(?:(?:[Ff]lat|[Aa]pt|[Aa]partment|[Ss]uite|[Uu]nit)\.?[ ]?\w{{1,5}}{_SEP})?"
        rf"\d{{1,5}}[A-Za-z]?(?:[ ]{CAP}){{1,4}}[ ](?i:{_STREET_EN})\b\.?(?:[ ](?:NE|NW|SE|SW|N|S|E|W)\b)?"
        rf"(?:{_SEP}(?:(?:apt|suite|unit|flat|#)\.?[ ]?\w{{1,6}}))?"
        rf"(?:{_SEP}{_PLACE})?(?:{_SEP}(?:[A-Z]{{2}}[ ]\d{{5}}(?:-\d{{4}})?|{_UK_POSTCODE}))?",
        ignore_case=False,
    ),
    Rule(
        "ADDRESS",
        rf"\b(?:{CAP}[ -])?\p{{L}}{{1,40}}+(?:(?<={_STREET_DE_WORD})|(?<=str)\.)[ ]\d{{1,4}}[a-z]?"
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
        rf"\b(?:(?:Am|An der|Auf dem|Im|In der|Zum|Zur|Unter den)[ ])?{CAP}(?:[ -]{CAP}){{0,2}}[ ]\d{{1,4}}[a-z]?"
        rf",?[ ]\d{{5}}[ ]{_PLACE}",
        0.85,
        ignore_case=False,
        needs=r"\d{5}[ ]\p{Lu}",
        near=(110, 50),
    ),
    Rule("ADDRESS", rf"(?<=\n|^|,[ ])\d{{5}}[ ]{_PLACE}(?=[ \t]*(?:\n|$|,))", 0.6, ignore_case=False),
)
