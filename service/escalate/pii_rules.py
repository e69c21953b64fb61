"""Recognizers, as data, for the personal data that the NER model and the checksum recognizers do not cover.

Every pattern is linear in its input: quantifiers are bounded and adjacent ones never match the same
characters, so a hostile ticket cannot make one of them backtrack for long (tests/escalate/test_redact.py
times them on 256 KiB inputs). Cue words come in English, French and German.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

# A checker gets the matched value and says whether it is kept; it never widens the match.
Check = Callable[[str], bool]


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
    # "my password is not working" names no password: a lone lower-case word is taken for prose.
    word = value.rstrip(".,;:!?)\"'")
    return len(word) >= 4 and not (word.isalpha() and word.islower())


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
# Capitalised words of a name (Unicode letters, hyphenated parts, particles such as "van der" inside).
_CAP = r"(?:\p{Lu}['’])?\p{Lu}[\p{Ll}'’]{1,30}(?:\p{Lu}\p{Ll}{1,30})?(?:-\p{Lu}[\p{Ll}'’]{1,30})?"
# Case-sensitive even inside rules that ignore case, so that "hello marcus, the app" does not run on.
NAME = (
    rf"(?-i:{_CAP}(?:[ \t]{{1,3}}(?:(?:van|von|de|der|den|da|di|du|le|la|del|dos|zu)[ \t]{{1,3}}){{0,2}}{_CAP}){{0,3}})"
)
_ANY_CASE_NAME = r"\p{L}[\p{L}'’-]{1,30}(?:[ \t]{1,3}\p{L}[\p{L}'’-]{1,30})?"
TITLES = r"(?:mr|mrs|ms|miss|dr|prof|herr|frau|monsieur|madame|mme|mlle|m)"
_STREET_EN = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|close"
    r"|crescent|square|sq|parkway|pkwy|highway|hwy|gardens|grove|mews|row|hill)"
)
_STREET_DE = r"(?:stra(?:ß|ss)e|str\.|weg|allee|platz|gasse|ring|damm|ufer|chaussee)"
_STREET_FR = r"(?:rue|avenue|av\.|boulevard|bd|place|all[ée]e|chemin|impasse|quai|route|cours)"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2}"
_PLACE = r"\p{Lu}[\p{Ll}'’-]{1,30}(?:[ -]\p{Lu}[\p{Ll}'’-]{1,30}){0,2}"
# Between the lines of an address: a comma or a line break, with spaces around.
_SEP = r"(?:[ \t]{0,3}[,\n][ \t]{0,3}|[ \t]{1,3})"

RULES: tuple[Rule, ...] = (
    Rule("EMAIL", r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"),
    Rule(
        "EMAIL",
        r"(?<![\w.+-])[\w.+-]{1,64}[ ]?[(\[{][ ]?(?:at|@|arobase|ät)[ ]?[)\]}][ ]?[\w-]{1,63}"
        r"(?:[ ]?[(\[{][ ]?(?:dot|\.|point|punkt)[ ]?[)\]}][ ]?[\w-]{1,63}){1,4}",
        needs=r"[(\[{][ ]?(?:at|@|arobase|ät)[ ]?[)\]}]",
    ),
    Rule(
        "EMAIL",
        r"\b[\w.+-]{1,64}[ ](?:at|arobase)[ ][\w-]{1,63}(?:[ ](?:dot|point|punkt)[ ][\w-]{1,63}){0,2}"
        r"[ ](?:dot|point|punkt)[ ](?:com|org|net|io|de|fr|uk|co|eu|ch|at|be|info)\b",
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
    Rule("IP", r"(?<![\w:.])[0-9a-f:]{2,39}(?<=[0-9a-f])(?![\w.])", 0.9, check=_ipv6),
    Rule("SECRET", r"\bsk-(?:proj-|live-|test-|ant-)?[A-Za-z0-9_-]{16,200}", 0.95, ignore_case=False),
    Rule("SECRET", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bgh[pousr]_[A-Za-z0-9]{20,255}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bgithub_pat_[A-Za-z0-9_]{20,255}\b", 0.95, ignore_case=False),
    Rule("SECRET", r"\bxox[abprs]-[A-Za-z0-9-]{10,200}", 0.95, ignore_case=False),
    Rule("SECRET", r"\bAIza[0-9A-Za-z_-]{35}", 0.95, ignore_case=False),
    Rule("SECRET", r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,200}", 0.95, ignore_case=False),
    Rule("SECRET", r"\beyJ[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{8,2000}\.[A-Za-z0-9_-]{0,2000}", 0.95),
    Rule(
        "SECRET",
        r"\b(?:password|passwort|kennwort|mot de passe|passcode|pwd|pin(?: code)?|mdp)\b"
        r"(?:[ ](?:is|was|ist|war|est|[ée]tait|lautet|would be)[ :]{1,3}|[ ]?[:=][ ]?|[ ]?\()"
        r"(?:[\"'`“„«][ ]?)?([^\s\"'`”“»]{3,64})",
        group=1,
        check=_password,
    ),
    Rule(
        "SECRET",
        r"\b(?:api[_ -]?key|secret(?:[_ ]key)?|access[_ ]token|auth[_ ]token|bearer|token|client[_ ]secret"
        r"|cl[ée] (?:d'api|secr[èe]te)|schl[üu]ssel)\b(?:[ ](?:is|ist|est))?[ ]?[:=]?[ ]?([A-Za-z0-9_./+=-]{12,300})",
        group=1,
        check=_has_digit,
    ),
    Rule(
        "URL",
        r"\bhttps?://[^\s<>\"']{1,300}?[?&#;](?:token|access_token|id_token|auth|key|api_key|apikey|sig|signature"
        r"|code|session|sessionid|sid|reset|password|secret|jwt|otp|t)=[^\s&#<>\"']{6,500}[^\s<>\"']{0,500}",
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
        r"\b(?:account(?: number| no\.?| #| nr\.?)?|acct\.?(?: no\.?)?|a/c|num[ée]ro de compte|n° de compte|compte"
        r"|kontonummer|konto(?:nr\.?| nr\.?)?)\b[^\w\n]{0,6}(?:(?:is|ist|est|no|nr)[^\w\n]{1,3})?(\d{6,17})\b",
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
        rf"\b(?:{_CAP}[ -]?)?\p{{L}}{{0,30}}{_STREET_DE}[ ]\d{{1,4}}[a-z]?(?:{_SEP}\d{{5}}[ ]{_PLACE})?",
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
    ),
    Rule("ADDRESS", rf"(?<=\n|^|,[ ])\d{{5}}[ ]{_PLACE}(?=[ \t]*(?:\n|$|,))", 0.6, ignore_case=False),
    Rule(
        "PERSON",
        r"(?m)^[ \t]*(?:(?:hi|hiya|hello|hey|howdy)(?: there)?|moin|servus|coucou|dear"
        r"|good (?:morning|afternoon|evening)|bonjour|bonsoir|salut|cher|ch[èe]re|guten (?:abend|morgen)"
        r"|gr[üu](?:ß|ss) gott"
        rf"|hallo|liebe[rs]?|sehr geehrte[rs]?|guten tag)[ ,]{{1,3}}(?:{TITLES}\.?[ ]{{1,3}})?({NAME})",
        0.9,
        group=1,
    ),
    Rule(
        "PERSON",
        r"\b(?:my name is|my name's|i am|i'm|this is|je m'appelle|je suis|mon nom est|ich hei(?:ß|ss)e|ich bin"
        r"|please call|please contact|ask for|speak to|spoke (?:to|with)|card ?holder|account holder|titulaire"
        r"|kontoinhaber(?:in)?|appelez|rufen sie|contactez|it's|it is|c'est|hier ist|je soussign[ée]e?|account of"
        r"|on behalf of|in the name of|au nom de|im namen von|zugunsten von|that is,|ich,|i,"
        rf"|mein name ist)[ ]{{1,3}}(?:{TITLES}\.?[ ]{{1,3}})?({NAME})",
        0.9,
        group=1,
    ),
    Rule(
        "PERSON",
        rf"\b(?:my name is|my name's|je m'appelle|ich hei(?:ß|ss)e|mein name ist)[ ]{{1,3}}({_ANY_CASE_NAME})",
        0.9,
        group=1,
    ),
    Rule(
        "PERSON",
        r"(?m)(?:^|[.!?][ \t]{1,3})[ \t]*(?:(?:best |kind |warm |warmest )?regards|thanks(?: again)?|thank you"
        r"|many thanks|cheers|sincerely|best(?: wishes)?|yours(?: sincerely| truly)?|cordialement|bien [àa] vous"
        r"|merci(?: beaucoup)?"
        r"|salutations|bien cordialement|mit freundlichen gr(?:ü|ue)(?:ß|ss)en|mfg|viele gr(?:ü|ue)(?:ß|ss)e"
        r"|beste gr(?:ü|ue)(?:ß|ss)e|liebe gr(?:ü|ue)(?:ß|ss)e|gru(?:ß|ss)|gr(?:ü|ue)(?:ß|ss)e|danke(?: sch[öo]n)?)"
        r"[,!.]?[ \t]{0,3}\n?"
        rf"[ \t]{{0,3}}({_ANY_CASE_NAME}(?:[ \t]{{1,3}}\p{{L}}[\p{{L}}'’-]{{1,30}})?)(?:[ \t]*$|(?=[!.]))",
        0.9,
        group=1,
    ),
    Rule("PERSON", rf"(?m)^[ \t]*[-–—]{{1,3}}[ \t]?({NAME})[ \t]*$", 0.9, group=1),
    Rule("PERSON", rf"(?m)^[ \t]*({NAME})(?:[ ,]{{1,3}}here\b|[ \t]{{1,3}}\|[ \t])", 0.88, group=1),
    # A signature block: a line of two or three capitalised words above a line with digits or an e-mail.
    Rule(
        "PERSON",
        rf"(?m)^[ \t]*((?-i:{_CAP}(?:[ ]{_CAP}){{1,2}}))[ \t]*\n(?=[^\n]{{0,80}}[\d@])",
        0.88,
        group=1,
    ),
    Rule("PERSON", rf"({NAME})[ \t]{{0,3}}[<(\[][^<>\s@]{{1,64}}(?:@|[ ]?[(\[]at[)\]])", 0.9, group=1),
    Rule(
        "PERSON",
        r"\b(?:my|mon|ma|mein|meine) (?:husband|wife|partner|son|daughter|mother|father|colleague|manager|advisor"
        r"|adviser|mari|femme|épouse|fils|fille|mère|père|collègue|conseill(?:er|ère)|mann|frau|sohn|tochter|mutter"
        rf"|vater|kollegin|kollege|berater(?:in)?)[ ,]{{1,3}}({NAME})",
        0.9,
        group=1,
    ),
    Rule("PERSON", rf"\b{TITLES}\.?[ ]{{1,3}}({NAME})", 0.9, group=1, ignore_case=False),
    Rule(
        "PERSON",
        r"(?m)\b(?:name|full name|customer(?: name)?|account holder|card ?holder|contact|requester|reported by|signed"
        r"|nom(?: complet)?|pr[ée]nom|titulaire(?: du compte)?|client|kontoinhaber(?:in)?|kunde|kundin|ansprechpartner"
        r"|vorname|nachname|von|from|de|gez\.|holder|owner|user_?name|full_?name)"
        r"[ \t]{0,3}(?:[:|=]|[ ][-–][ ])[ \t]{0,3}"
        r"[\"']?"
        rf"(?:{TITLES}\.?[ ]{{1,3}})?({_ANY_CASE_NAME})",
        0.9,
        group=1,
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
    wise klarna sparkasse commerzbank""".split()
)
