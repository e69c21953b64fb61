"""Write tests/data/pii/*.jsonl: invented tickets in English, French and German with every PII span marked.

Run `python tests/data/pii/make_corpus.py` to rewrite it; the output is committed and deterministic (seeded).
Every value is invented: example.* domains, test card numbers that pass Luhn, IBANs with computed check
digits, documentation IP ranges, fictional names.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from pathlib import Path

OUT = Path(__file__).with_name("corpus.jsonl")
HELDOUT = Path(__file__).with_name("heldout1.jsonl")
HELDOUT2 = Path(__file__).with_name("heldout2.jsonl")
HELDOUT3 = Path(__file__).with_name("heldout3.jsonl")
HELDOUT4 = Path(__file__).with_name("heldout4.jsonl")
HELDOUT5 = Path(__file__).with_name("heldout5.jsonl")
R = random.Random(16)

FIRST = {
    "en": ["Maria", "James", "Priya", "Olivia", "Tom", "Grace", "Daniel", "Aisha", "Liam", "Chloe", "Marcus", "Hannah"],
    "fr": ["Élodie", "François", "Camille", "Jérôme", "Amélie", "Léa", "Hélène", "Benoît", "Zoé", "Théo", "Inès"],
    "de": ["Anna-Lena", "Jürgen", "Klaus", "Sabine", "Lukas", "Katrin", "Jörg", "Björn", "Lena", "Stefan", "Ute"],
}
LAST = {
    "en": ["Lopez", "Okafor", "Natarajan", "Whitfield", "Harrington", "O'Neill", "Patel", "Brennan", "Ashworth"],
    "fr": ["Martin", "Lefèvre", "Dubois", "Moreau", "Girard", "Rousseau", "Fontaine", "Chevalier", "Béranger"],
    "de": ["Müller", "Schneider", "Weber", "Becker", "Hoffmann", "Schäfer", "Köhler", "Wagner", "Krüger"],
}
PRODUCTS = ["Acme Pay Plus", "Visa Platinum", "the Horizon app", "Smart Savings", "Metal card", "Premium plan"]
COMPANIES = ["Bank of America", "Deutsche Bank", "Crédit Agricole", "Barclays", "Amazon", "PayPal", "Vodafone"]


def luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "".join(R.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        digits = body + check
        total = 0
        for i, ch in enumerate(reversed(digits)):
            d = int(ch)
            if i % 2 == 1:
                d = d * 2 - 9 if d > 4 else d * 2
            total += d
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


def card() -> str:
    kind = R.choice(["visa", "mc", "amex", "visa"])
    if kind == "amex":
        n = luhn_complete(R.choice(["34", "37"]), 15)
        return R.choice([n, f"{n[:4]} {n[4:10]} {n[10:]}"])
    n = luhn_complete("4" if kind == "visa" else R.choice(["51", "52", "55"]), 16)
    sep = R.choice([" ", "-", "", " "])
    return sep.join(n[i : i + 4] for i in range(0, 16, 4))


def iban() -> str:
    country, bban = R.choice(
        [
            ("DE", "".join(R.choice("0123456789") for _ in range(18))),
            (
                "FR",
                "".join(R.choice("0123456789") for _ in range(21))
                + "M"
                + "".join(R.choice("0123456789") for _ in range(1)),
            ),
            ("GB", R.choice(["NWBK", "BUKB", "MIDL"]) + "".join(R.choice("0123456789") for _ in range(14))),
            ("ES", "".join(R.choice("0123456789") for _ in range(20))),
        ]
    )
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    value = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    style = R.random()
    if style < 0.4:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    if style > 0.85:
        value = value.lower()
    return value


def digits(n: int) -> str:
    return "".join(R.choice("0123456789") for _ in range(n))


def phone(lang: str) -> str:
    options = {
        "en": [
            f"+44 20 7946 0{digits(3)}",
            f"07700 900{digits(3)}",
            f"(415) 555-{R.choice(['2671', '0134', '1187', '3390'])}",
            f"+1 212 555 0{digits(3)}",
            f"020 7946 0{digits(3)}",
        ],
        "fr": [
            f"+33 1 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
            f"06 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
        ],
        "de": [f"+49 30 {digits(7)}", f"030 {digits(7)}", f"0151 {digits(8)}", f"+49 89 {digits(6)}"],
    }
    return R.choice(options[lang])


def name(lang: str) -> str:
    return f"{R.choice(FIRST[lang])} {R.choice(LAST[lang])}"


def email(lang: str, person: str | None = None) -> str:
    person = person or name(lang)
    first, last = person.lower().split(" ", 1)
    user = R.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{R.randint(1, 99)}"]).replace("'", "")
    style = R.random()
    if lang != "en" and style < 0.2:
        return f"{user}@{R.choice(['bücher', 'müller-shop', 'café-paris'])}.example"
    if style < 0.35:
        return f"{user}(at)example(dot)com"
    if style < 0.45:
        return f"{user} [at] example [dot] org"
    return f"{user}@{R.choice(['example.com', 'mail.example.org', 'example.co.uk', 'example.de', 'example.fr'])}"


def ip() -> str:
    return R.choice(
        [
            f"192.0.2.{R.randint(1, 254)}",
            f"198.51.100.{R.randint(1, 254)}",
            f"203.0.113.{R.randint(1, 254)}",
            f"10.{R.randint(0, 255)}.{R.randint(0, 255)}.{R.randint(1, 254)}",
            f"2001:db8::{R.randint(1, 0xFFFF):x}",
            f"2001:db8:85a3::8a2e:370:{R.randint(1, 0xFFFF):x}",
            f"fe80::1ff:fe23:{R.randint(1, 0xFFFF):x}:890a",
            f"::ffff:192.0.2.{R.randint(1, 254)}",
        ]
    )


def secret() -> str:
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return R.choice(
        [
            "sk-proj-" + "".join(R.choice(alnum) for _ in range(32)),
            "sk-" + "".join(R.choice(alnum) for _ in range(40)),
            "AKIA" + "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
            "ghp_" + "".join(R.choice(alnum) for _ in range(36)),
            "xoxb-" + digits(11) + "-" + "".join(R.choice(alnum) for _ in range(24)),
        ]
    )


def password() -> str:
    return R.choice(["Sunshine2024!", "Tr0ub4dor&3", "Winter#1988", "Passw0rd!23", "hunter2-x9", "Blau$Himmel7"])


def address(lang: str) -> str:
    if lang == "de":
        street = R.choice(["Hauptstraße", "Lindenweg", "Berliner Straße", "Schillerstr.", "Am Kirchplatz"])
        if street == "Am Kirchplatz":
            street = "Bahnhofstraße"
        return f"{street} {R.randint(1, 120)}, {digits(5)} {R.choice(['Berlin', 'München', 'Köln', 'Hamburg'])}"
    if lang == "fr":
        street = R.choice(["rue de la Paix", "avenue Victor Hugo", "boulevard Haussmann", "rue des Lilas"])
        return f"{R.randint(1, 99)} {street}, {digits(5)} {R.choice(['Paris', 'Lyon', 'Marseille', 'Nantes'])}"
    if R.random() < 0.5:
        return (
            f"{R.randint(1, 300)} {R.choice(['Baker', 'High', 'Church', 'Station', 'Victoria'])} "
            f"{R.choice(['Street', 'Road', 'Lane'])}, {R.choice(['London', 'Leeds', 'Bristol', 'York'])} "
            f"{R.choice(['NW1 6XE', 'LS1 4AP', 'BS8 1TH', 'YO1 7HH', 'SW1A 1AA'])}"
        )
    return (
        f"{R.randint(10, 9999)} {R.choice(['Maple', 'Oak', 'Pennsylvania', 'Sunset', 'Elm'])} "
        f"{R.choice(['Avenue', 'Street', 'Drive', 'Boulevard'])}, "
        f"{R.choice(['Springfield', 'Portland', 'Austin', 'Denver'])}, {R.choice(['IL', 'OR', 'TX', 'CO'])} {digits(5)}"
    )


def dob(lang: str) -> str:
    d, m, y = R.randint(1, 28), R.randint(1, 12), R.randint(1950, 2004)
    months = {"en": "March", "fr": "mars", "de": "März"}
    return R.choice([f"{d:02d}/{m:02d}/{y}", f"{y}-{m:02d}-{d:02d}", f"{d}.{m}.{y}", f"{d} {months[lang]} {y}"])


def ssn() -> str:
    return f"{R.randint(100, 665)}-{R.randint(10, 99)}-{R.randint(1000, 9999)}"


def nino() -> str:
    return f"{R.choice(['AB', 'CE', 'JK', 'PR'])} {digits(2)} {digits(2)} {digits(2)} {R.choice('ABCD')}"


def passport() -> str:
    return R.choice([digits(9), "C" + digits(8), "L" + "".join(R.choice("0123456789CFGHJK") for _ in range(8))])


def token_url() -> str:
    tok = "".join(R.choice("abcdef0123456789") for _ in range(24))
    return R.choice(
        [
            f"https://app.example.com/reset?token={tok}",
            f"https://portal.example.org/login?session={tok}&lang=en",
            f"https://example.com/verify#access_token={tok}",
        ]
    )


GENERATORS = {
    "EMAIL": email,
    "PHONE": phone,
    "PERSON": name,
    "ADDRESS": address,
    "DATE_OF_BIRTH": dob,
}

# Templates: {TYPE} is a labelled slot; {FIRST} is a labelled PERSON slot holding a first name only.
TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Hi,\nmy card {CARD} was charged twice yesterday. Please refund to {IBAN}.\n\nKind regards,\n{PERSON}",
        "Hello, my name is {PERSON} and I cannot log in. My email is {EMAIL}, phone {PHONE}.",
        "Regards, {PERSON}",
        "Dear Mr. {SURNAME},\nthe transfer to {IBAN} bounced.",
        (
            "From: {PERSON} <{EMAIL}>\nSent: Monday, 3 March 2025 09:14\n"
            "To: {SUPPORT}\nSubject: Fwd: card blocked\n\nMy card ending 4421 is blocked."
        ),
        (
            "---------- Forwarded message ---------\nFrom: {PERSON} <{EMAIL}>\n"
            "Date: Tue, 4 Mar 2025\n\nCan you help? Call me on {PHONE}."
        ),
        (
            "2025-03-01T10:22:13Z WARN auth failed user={EMAIL} ip={IP} attempts=3\n"
            "2025-03-01T10:22:19Z WARN auth failed user={EMAIL} ip={IP}"
        ),
        "| Field | Value |\n|---|---|\n| Name | {PERSON} |\n| Phone | {PHONE} |\n| IBAN | {IBAN} |",
        "Name: {PERSON}\nAddress: {ADDRESS}\nDate of birth: {DATE_OF_BIRTH}",
        "I moved to {ADDRESS} last month, please update my card delivery address.",
        "my password is {PASSWORD} and it still says invalid credentials",
        "Our integration uses key {SECRET} and now returns 401 since this morning.",
        "Here is the config: AWS_ACCESS_KEY_ID={SECRET} region=eu-west-1",
        "The reset link {URL} says expired.",
        "I got the one-time code {CODE} but the app rejects it.",
        "sort code {SORT} account number {ACCOUNT}, payment reference INV-20931",
        "My SSN is {SSN} in case you need to verify me.",
        "National insurance number {NINO}, employer asked for it.",
        "Passport number {PASSPORT}, expires next year.",
        "Card {CARD}, CVV {CVV}, expiry {EXPIRY}. Please block it, it was stolen.",
        "Thanks\n{FIRST}",
        "Hello {FIRST},\nthanks for the quick answer.",
        "Someone logged in from {IP} and changed my phone to {PHONE}. I am {PERSON}.",
        "Please call {PERSON} on {PHONE} or write to {EMAIL}.",
        "Best regards,\n{PERSON}\n{ADDRESS}\nTel: {PHONE}",
        "hi, this is {PERSON}. i sent money to {IBAN} by mistake",
        "my name is {LOWERNAME}, card {CARD} not arriving",
        "DOB {DATE_OF_BIRTH}, card holder {PERSON}",
        "Request from {IP}: GET /api/v1/accounts?key={SECRET} 401",
        "-- \n{PERSON}\nHead of Finance, Example Ltd\n{PHONE}",
    ],
    "fr": [
        "Bonjour,\nma carte {CARD} a été débitée deux fois. Merci de rembourser sur {IBAN}.\n\nCordialement,\n{PERSON}",
        "Bonjour, je m'appelle {PERSON} et je n'arrive pas à me connecter. Mon e-mail : {EMAIL}, tél. {PHONE}.",
        (
            "De : {PERSON} <{EMAIL}>\nEnvoyé : lundi 3 mars 2025 09:14\n"
            "À : {SUPPORT}\nObjet : TR: carte bloquée\n\nMa carte est bloquée."
        ),
        "Nom : {PERSON}\nAdresse : {ADDRESS}\nDate de naissance : {DATE_OF_BIRTH}",
        "J'ai déménagé au {ADDRESS}, merci de mettre à jour l'adresse de livraison.",
        "mon mot de passe est {PASSWORD} et ça ne marche toujours pas",
        "Le code de vérification {CODE} est refusé par l'application.",
        "Carte {CARD}, cryptogramme {CVV}, date d'expiration {EXPIRY}. Elle a été volée.",
        "Merci,\n{PERSON}\n{PHONE}",
        "Quelqu'un s'est connecté depuis {IP} et a changé mon numéro pour {PHONE}.",
        "Bonjour {FIRST},\nmerci pour votre réponse.",
        "Numéro de passeport {PASSPORT}, valable jusqu'en 2029.",
        "Le lien {URL} ne fonctionne plus.",
        "Bien cordialement,\n{PERSON}",
        "Titulaire du compte : {PERSON}, IBAN {IBAN}",
    ],
    "de": [
        (
            "Hallo,\nmeine Karte {CARD} wurde doppelt belastet. Bitte auf {IBAN} erstatten.\n"
            "\nMit freundlichen Grüßen\n{PERSON}"
        ),
        "Guten Tag, mein Name ist {PERSON}. Ich komme nicht in mein Konto. E-Mail {EMAIL}, Telefon {PHONE}.",
        (
            "Von: {PERSON} <{EMAIL}>\nGesendet: Montag, 3. März 2025 09:14\n"
            "An: {SUPPORT}\nBetreff: WG: Karte gesperrt\n\nMeine Karte ist gesperrt."
        ),
        "Name: {PERSON}\nAnschrift: {ADDRESS}\nGeburtsdatum: {DATE_OF_BIRTH}",
        "Ich bin nach {ADDRESS} umgezogen, bitte Lieferadresse ändern.",
        "mein Passwort ist {PASSWORD} und es geht immer noch nicht",
        "Der Bestätigungscode {CODE} wird abgelehnt.",
        "Karte {CARD}, Prüfziffer {CVV}, gültig bis {EXPIRY}. Sie wurde gestohlen.",
        "Viele Grüße\n{PERSON}\n{PHONE}",
        "Jemand hat sich von {IP} angemeldet und meine Nummer auf {PHONE} geändert.",
        "Hallo {FIRST},\ndanke für die schnelle Antwort.",
        "Reisepassnummer {PASSPORT}, gültig bis 2029.",
        "Kontoinhaber: {PERSON}, IBAN {IBAN}",
        "Sehr geehrte Frau {SURNAME},\ndie Überweisung an {IBAN} kam zurück.",
        "Beste Grüße,\n{PERSON}",
    ],
}

NEGATIVES = [
    "Order ORD-2024-{n} has not shipped yet, tracking says label created.",
    "Error 0x8007{h} when opening the app on Windows 11.",
    "I use {product} from {company} and the statement shows a fee of 12.50 EUR on 03/04/2025.",
    "Version 4.{a}.{b} of the app crashes on start; build {n}.",
    "Hi team, my top up of 250.00 failed with code E{a}{b}.",
    "this is {company}'s card, why was it declined at the terminal?",
    "Ticket #{n}: transfer declined, reason code R{a}{b}, amount 1,250.00.",
    "Bonjour, la commande CMD-{n} n'est pas arrivée. Référence facture FAC-2025-{a}{b}.",
    "Hallo, Bestellung {n} fehlt noch. Fehlercode ERR_{a}{b}_TIMEOUT.",
    "Invoice INV-{n} for the {product} shows 19 % VAT instead of 7 %.",
    "The app says 'HTTP 503 Service Unavailable' since 09:30 UTC, request id {h}{h}.",
    "My {product} was renewed for 99.99 on 2025-01-15, I want to cancel it.",
    "{company} ATM kept my card at the station, machine id ATM-{a}{b}{n}.",
    "Dear Support Team,\nthe exchange rate on my transfer of 500 GBP looked wrong.",
    "I am unable to activate the {product}, it says error 4{a}{b}.",
    "Kind regards,\nCustomer Service Team",
    "Merci d'avance pour votre aide, l'application affiche l'erreur {h}.",
    "Mit freundlichen Grüßen\nIhr Kundenservice",
    "Firmware 2.{a}.{b}-rc{a} on terminal T{n} rejects contactless payments.",
    "Case {n}: chargeback opened on 12/02/2025, status pending.",
]


def fill(template: str, lang: str) -> dict:
    text, entities = "", []
    person = name(lang)
    for part in re.split(r"(\{[A-Z_]+\})", template):
        slot = part[1:-1] if part.startswith("{") else None
        if slot is None:
            text += part
            continue
        kind, value = {
            "SUPPORT": ("EMAIL", lambda: "support@example.com"),  # a role address is still redacted, and labelled
            "CARD": ("CARD", card),
            "IBAN": ("IBAN", iban),
            "PERSON": ("PERSON", lambda: person),
            "FIRST": ("PERSON", lambda: R.choice(FIRST[lang])),
            "SURNAME": ("PERSON", lambda: R.choice(LAST[lang])),
            "LOWERNAME": ("PERSON", lambda: name(lang).lower()),
            "EMAIL": ("EMAIL", lambda: email(lang, person if R.random() < 0.6 else None)),
            "PHONE": ("PHONE", lambda: phone(lang)),
            "IP": ("IP", ip),
            "ADDRESS": ("ADDRESS", lambda: address(lang)),
            "DATE_OF_BIRTH": ("DATE_OF_BIRTH", lambda: dob(lang)),
            "PASSWORD": ("SECRET", password),
            "SECRET": ("SECRET", secret),
            "URL": ("URL", token_url),
            "CODE": ("CODE", lambda: digits(6)),
            "SORT": ("ACCOUNT", lambda: f"{digits(2)}-{digits(2)}-{digits(2)}"),
            "ACCOUNT": ("ACCOUNT", lambda: digits(8)),
            "SSN": ("ID_NUMBER", ssn),
            "NINO": ("ID_NUMBER", nino),
            "PASSPORT": ("ID_NUMBER", passport),
            "CVV": ("CARD_CVV", lambda: digits(3)),
            "EXPIRY": ("CARD_EXPIRY", lambda: f"{R.randint(1, 12):02d}/{R.randint(26, 31)}"),
        }[slot]
        produced = value()
        if slot == "SECRET" and "AWS_ACCESS_KEY_ID" in template:
            produced = "AKIA" + "".join(R.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        entities.append({"start": len(text), "end": len(text) + len(produced), "type": kind})
        text += produced
    return {"text": text, "entities": entities, "lang": lang}


def negative() -> dict:
    template = R.choice(NEGATIVES)
    lang = (
        "fr"
        if "Bonjour" in template or "Merci" in template
        else "de"
        if "Hallo" in template or "Grüßen" in template
        else "en"
    )
    text = template.format(
        n=R.randint(10000, 999999),
        h="".join(R.choice("0123456789ABCDEF") for _ in range(4)),
        a=R.randint(0, 9),
        b=R.randint(0, 9),
        product=R.choice(PRODUCTS),
        company=R.choice(COMPANIES),
    )
    return {"text": text, "entities": [], "lang": lang}


# Held out (1): written after the rules were tuned on corpus.jsonl, with other names, streets, shapes and cue
# words. Its first-run figures are in BENCHMARKS.md; its misses then led to rule changes, so it is now tuning data.
HELDOUT_FIRST = {
    "en": ["Rebecca", "Samuel", "Fiona", "Kwame", "Yuki", "Isabel", "Connor", "Niamh", "Ravi", "Bethany"],
    "fr": ["Margaux", "Étienne", "Océane", "Gaël", "Solène", "Aurélien", "Maëlle", "Loïc"],
    "de": ["Friederike", "Maximilian", "Günther", "Hanna", "Jannik", "Mareike", "Søren", "Henrike"],
}
HELDOUT_LAST = {
    "en": ["Thornton", "Adeyemi", "McAllister", "Mensah", "Tanaka", "Ferreira", "Gallagher", "Kowalski"],
    "fr": ["Petit", "Laurent", "Bernard", "Robin", "Mercier", "Faure", "Lemaître", "Guérin"],
    "de": ["Vogel", "Braun", "Zimmermann", "Lehmann", "Schulze", "Hartmann", "Bäcker", "Lange"],
}
HELDOUT_ADDRESSES = {
    "en": [
        "Flat 4, 17 Kingsley Road, Manchester M14 5PL",
        "742 Evergreen Terrace, Springfield, OR 97477",
        "10 Downing St, London SW1A 2AA",
        "55 Harbour View Drive, Cork",
        "3 Queens Gardens, Edinburgh EH2 1QA",
        "1200 Lakeshore Blvd, Chicago, IL 60610",
    ],
    "fr": [
        "5 bis, avenue de la République, 69003 Lyon",
        "3 place Bellecour, 69002 Lyon",
        "27 rue Sainte-Catherine, 33000 Bordeaux",
        "8 impasse des Peupliers, 44000 Nantes",
    ],
    "de": [
        "Goethestraße 8a, 60313 Frankfurt am Main",
        "Am Markt 4, 28195 Bremen",
        "Kastanienallee 71, 10435 Berlin",
        "Rosenheimer Str. 145, 81671 München",
    ],
}
HELDOUT_TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Sent from my iPhone\n\n> On 2 Mar 2025, at 18:40, {PERSON} <{EMAIL}> wrote:\n> card declined again",
        "Customer: {PERSON} | Tel: {PHONE} | Acc: {ACCOUNT}",
        "Could you ring me back at {PHONE}? Thanks, {FIRST}",
        '[2025-02-11 08:01:44] ERROR payment_service card={CARD} holder="{PERSON}" ip={IP}',
        "Please send the replacement to {ADDRESS}. It's urgent.",
        "We spoke on the phone earlier, {PERSON} from your team said to email you. My IBAN: {IBAN}",
        "username: {EMAIL}\npassword: {PASSWORD}",
        "{PERSON}\n{ADDRESS}\n{PHONE}",
        "The SMS said: Your code is {CODE}. Do not share it.",
        "Our developer pasted this by mistake: OPENAI_API_KEY={SECRET}",
        "Born {DATE_OF_BIRTH}, I am {PERSON}, customer since 2019.",
        "Hi there, {FIRST} here. Card {CARD} exp {EXPIRY} cvc {CVV}",
        "Attached my passport (no. {PASSPORT}) and SSN {SSN}.",
        "Reset URL: {URL}",
        "My husband {PERSON} has a joint account with me, his mobile is {PHONE}.",
        "Contact details\nE-mail: {EMAIL}\nMobile: {PHONE}\nPostal: {ADDRESS}",
        "Transfer of 300 GBP to {PERSON}, IBAN {IBAN}, was returned.",
        "Login attempts from {IP} and {IP} were not me.",
    ],
    "fr": [
        "Le 2 mars 2025 à 18:40, {PERSON} <{EMAIL}> a écrit :\n> ma carte ne marche plus",
        "Vous pouvez me joindre au {PHONE}. Merci, {FIRST}",
        "Merci de livrer à l'adresse suivante : {ADDRESS}",
        "Mon conseiller, {PERSON}, m'a dit de vous écrire. IBAN : {IBAN}",
        "identifiant : {EMAIL}\nmot de passe : {PASSWORD}",
        "{PERSON}\n{ADDRESS}\n{PHONE}",
        "Votre code SMS est {CODE}, il est refusé.",
        "Connexion suspecte depuis {IP}, ce n'était pas moi.",
    ],
    "de": [
        "Am 02.03.2025 um 18:40 schrieb {PERSON} <{EMAIL}>:\n> Karte abgelehnt",
        "Sie erreichen mich unter {PHONE}. Danke, {FIRST}",
        "Bitte an folgende Adresse schicken: {ADDRESS}",
        "Mein Berater {PERSON} hat gesagt, ich soll schreiben. IBAN: {IBAN}",
        "Benutzername: {EMAIL}\nKennwort: {PASSWORD}",
        "{PERSON}\n{ADDRESS}\nTel. {PHONE}",
        "Die SMS-TAN war {CODE}, wurde aber nicht akzeptiert.",
        "Anmeldung von {IP}, das war ich nicht.",
    ],
}
HELDOUT_NEGATIVES = [
    "Order #A-{n} arrived damaged, the box was open.",
    "Our team at Wells Fargo says the transfer is on your side, ref {h}-{h}.",
    "App version 10.{a}.{b} (build 2025030{a}) shows a blank screen.",
    "The Paris branch was closed on Monday, so I could not withdraw cash.",
    "Error E_CARD_DECLINED (code 0{a}) at the Tesco terminal.",
    "Statement for March shows 3 payments of 49.99 to Netflix.",
    "Bonjour, la référence de virement VIR-{n} n'apparaît pas.",
    "Hallo, Vorgangsnummer {n} ist seit Tagen offen, Status: in Bearbeitung.",
    "Please escalate case {n}, the Visa Gold card still has the old limit.",
    "Dear Customer Support,\nI never received the PIN letter for my Mastercard.",
]

# Held out (2): written after the rule changes that heldout1 led to and measured once (BENCHMARKS.md); its
# misses then led to a last round of rule changes.
HELDOUT2_FIRST = {
    "en": ["Delphine", "Oluwaseun", "Harriet", "Mateo", "Siobhan", "Arjun", "Eleanor", "Tobias", "Wen", "Callum"],
    "fr": ["Clémence", "Anaïs", "Baptiste", "Noémie", "Mathéo", "Capucine", "Thibault", "Eloïse"],
    "de": ["Wiebke", "Fynn", "Gesine", "Malte", "Lioba", "Detlef", "Ilse", "Korbinian"],
}
HELDOUT2_LAST = {
    "en": ["Okonkwo", "Pemberton", "Lindqvist", "Donoghue", "Ramírez", "Chaudhry", "Featherstone", "Nakamura"],
    "fr": ["Marchand", "Da Silva", "Lacroix", "Perrin", "Boucher", "Gauthier", "Lebrun", "Aubert"],
    "de": ["Meißner", "Seidel", "Kühn", "Brandt", "Engel", "Roth", "Pohl", "Fuchs"],
}
HELDOUT2_ADDRESSES = {
    "en": [
        "14 Wellington Crescent, Bath BA1 2LP",
        "9 Chapel Lane, Norwich NR2 4BX",
        "2500 Ocean Parkway, Brooklyn, NY 11235",
        "77 Riverside Drive, Dayton, OH 45405",
        "Apt 12, 310 Elm Court, Madison, WI 53703",
    ],
    "fr": [
        "42 boulevard Saint-Michel, 75005 Paris",
        "11 rue du Faubourg, 67000 Strasbourg",
        "6 chemin des Vignes, 13100 Aix-en-Provence",
    ],
    "de": ["Schlossallee 1, 70173 Stuttgart", "Lindenstraße 23, 50674 Köln", "Marktplatz 5, 04109 Leipzig"],
}
HELDOUT2_TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Hey, it's {FIRST} again. Still no refund. You can text me on {PHONE}.",
        "Account holder {PERSON}\nIBAN {IBAN}\nReference: rent March",
        "I'm writing on behalf of my mother, {PERSON}, who lives at {ADDRESS}.",
        "{EMAIL} is my login, and the last login came from {IP}.",
        "-----Original Message-----\nFrom: {PERSON} [mailto:{EMAIL}]\nSent: 04 March 2025 11:02\nSubject: limit",
        "Hiya {FIRST}, thanks for ringing me earlier.",
        "POST /v2/payments 403 client_ip={IP} api_key={SECRET}",
        "Cheers,\n{PERSON}\nMobile {PHONE}",
        "The card number is {CARD}, security code {CVV}, valid thru {EXPIRY}.",
        "I typed my password ({PASSWORD}) and it says account locked.",
        "Your verification code is {CODE} - that's what the text said, but it fails.",
        "Date of birth {DATE_OF_BIRTH}, social security number {SSN}.",
        "Link I got: {URL}",
        "Kind regards\n\n{PERSON}\nFinance Assistant",
    ],
    "fr": [
        "Salut {FIRST}, merci pour ton aide hier.",
        "Titulaire : {PERSON}\nIBAN : {IBAN}",
        "Je vous écris pour mon père, {PERSON}, domicilié au {ADDRESS}.",
        "-----Message d'origine-----\nDe : {PERSON} [mailto:{EMAIL}]\nEnvoyé : 4 mars 2025",
        "Bien à vous,\n{PERSON}\nPortable : {PHONE}",
        "Le code reçu par SMS ({CODE}) ne fonctionne pas.",
    ],
    "de": [
        "Moin {FIRST}, danke für den Rückruf.",
        "Kontoinhaberin: {PERSON}\nIBAN: {IBAN}",
        "Ich schreibe für meine Mutter, {PERSON}, wohnhaft in der {ADDRESS}.",
        "-----Ursprüngliche Nachricht-----\nVon: {PERSON} [mailto:{EMAIL}]\nGesendet: 4. März 2025",
        "Freundliche Grüße\n{PERSON}\nMobil: {PHONE}",
        "Der Code aus der SMS ({CODE}) geht nicht.",
    ],
}
HELDOUT2_NEGATIVES = [
    "Reference PAY-{n}-{a}{b} shows as pending in the HSBC app.",
    "The Lloyds Bank branch in Leeds told me to contact you.",
    "Release 3.{a}.{b} notes mention a fix for error 0x{h}.",
    "Merci, la carte Visa Premier est bien arrivée, dossier {n}.",
    "Danke, Auftrag {n} ist erledigt, die Sparkasse hat bestätigt.",
    "Invoice total 1.234,56 EUR, due 15.04.2025, order {n}.",
    "Hi Support, the Revolut Metal card shows a weird fee of 2.{a}{b} %.",
    "Case {n}: chargeback code 4837, merchant Acme Travel Ltd.",
]

# Held out (3): written after heldout2's rule changes and measured once (BENCHMARKS.md); its misses then led to
# a last round of rule changes.
HELDOUT3_FIRST = {
    "en": ["Imogen", "Declan", "Priyanka", "Jasper", "Amara", "Rhys", "Felicity", "Kenji", "Saoirse", "Marlon"],
    "fr": ["Ophélie", "Rémi", "Laëtitia", "Cyprien", "Manon", "Hervé", "Apolline", "Yanis"],
    "de": ["Rosemarie", "Till", "Annegret", "Jonas", "Svenja", "Eckhard", "Theresia", "Nils"],
}
HELDOUT3_LAST = {
    "en": ["Blackwood", "Osei", "Kapoor", "Whitaker", "Nwosu", "Llewellyn", "Hargreaves", "Sato"],
    "fr": ["Fournier", "Caron", "Vasseur", "Rolland", "Lemoine", "Barbier", "Joly", "Renaud"],
    "de": ["Wolff", "Scholz", "Krause", "Frank", "Albrecht", "Ziegler", "Jäger", "Winkler"],
}
HELDOUT3_ADDRESSES = {
    "en": [
        "21 Orchard Close, Oxford OX2 6HT",
        "5 Mill Street, Galway",
        "4410 Cedar Lane, Raleigh, NC 27609",
        "Flat 2, 8 Tenter Road, Sheffield S1 2BT",
    ],
    "fr": ["19 rue Nationale, 59000 Lille", "2 place du Marché, 35000 Rennes", "33 avenue Jean Jaurès, 31000 Toulouse"],
    "de": ["Mozartweg 12, 93053 Regensburg", "Bergstraße 40, 69120 Heidelberg", "Kirchgasse 3, 55116 Mainz"],
}
HELDOUT3_TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Please update my details:\nName - {PERSON}\nNew address - {ADDRESS}\nNew phone - {PHONE}",
        "{FIRST} here from accounts payable, card {CARD} was declined.",
        "Subject: Re: Re: refund\n\nThanks {FIRST}! Also my new email is {EMAIL}.",
        "client_ip={IP} user_email={EMAIL} status=BLOCKED",
        "Hello Support,\nI (that is, {PERSON}) never authorised the payment to {IBAN}.",
        "My wife {PERSON} cannot log in; her number is {PHONE}.",
        "Password: {PASSWORD}",
        "Here's my token: {SECRET}",
        "CVV2 {CVV} and expiration {EXPIRY}",
        "DOB: {DATE_OF_BIRTH}",
        "Warm regards,\n{PERSON} | Operations | {PHONE}",
        "OTP {CODE} never arrived, I only got it later.",
        "Best,\n{FIRST}",
        "Please wire it to {IBAN} (account of {PERSON}).",
    ],
    "fr": [
        "Madame, Monsieur,\nje soussigné {PERSON}, demeurant {ADDRESS}, conteste le prélèvement.",
        "Mon numéro : {PHONE}, mon e-mail : {EMAIL}.",
        "Cordialement\n{PERSON}\n{PHONE}",
        "Mot de passe : {PASSWORD}",
        "Bonsoir {FIRST}, toujours rien reçu.",
    ],
    "de": [
        "Sehr geehrte Damen und Herren,\nich, {PERSON}, wohnhaft {ADDRESS}, widerspreche der Abbuchung.",
        "Meine Nummer: {PHONE}, meine E-Mail: {EMAIL}.",
        "MfG\n{PERSON}",
        "Passwort: {PASSWORD}",
        "Guten Abend {FIRST}, immer noch nichts angekommen.",
    ],
}
HELDOUT3_NEGATIVES = [
    "Standing order SO-{n} to Thames Water failed on the 3rd.",
    "The Monzo card reader at Pret showed error {a}{b}{a}.",
    "Merci, le virement SEPA {n} de la Société Générale est arrivé.",
    "Hallo, die Commerzbank-Filiale in Bonn hat geschlossen, Vorgang {n}.",
    "API returned 429 Too Many Requests, retry-after {a}{b} s, request {h}{h}.",
    "Please close account type Premier Plus, reference CL-{n}.",
    "Fee schedule 2025 v{a}.{b} lists 1.5 % for ATM withdrawals abroad.",
    "Kind regards,\nThe Billing Team",
]

# Held out (4): written after the last rule change; measured once, never tuned on.
HELDOUT4_FIRST = {
    "en": ["Beatrice", "Nnamdi", "Lachlan", "Esme", "Tariq", "Ffion", "Horatio", "Mei", "Ciaran", "Rosalind"],
    "fr": ["Gaspard", "Maïwenn", "Firmin", "Héloïse", "Anatole", "Séverine", "Jules", "Capucine"],
    "de": ["Hannelore", "Benedikt", "Wilma", "Kai-Uwe", "Frauke", "Ansgar", "Edeltraud", "Volker"],
}
HELDOUT4_LAST = {
    "en": ["Fairweather", "Eze", "Drummond", "Quigley", "Haddad", "Pritchard", "Vance", "Zhou"],
    "fr": ["Tessier", "Le Goff", "Marchal", "Besson", "Poirier", "Collin", "Huet", "Cordier"],
    "de": ["Kaiser", "Haas", "Schwarz", "Lorenz", "Ludwig", "Böhm", "Peters", "Graf"],
}
HELDOUT4_ADDRESSES = {
    "en": ["63 Bridge Road, Cardiff CF11 9AB", "1017 Willow Street, Savannah, GA 31401", "7 Hope Terrace, Dundee"],
    "fr": ["15 rue Victor Hugo, 21000 Dijon", "4 allée des Tilleuls, 86000 Poitiers"],
    "de": ["Gartenstraße 9, 79098 Freiburg", "Hafenweg 2, 24103 Kiel"],
}
HELDOUT4_TEMPLATES: dict[str, list[str]] = {
    "en": [
        "Good evening,\nI am writing about my late father {PERSON}'s account.",
        "Agent {PERSON} promised a callback on {PHONE} that never came.",
        "Thx,\n{FIRST}",
        "Beneficiary: {PERSON}\nIBAN: {IBAN}\nAmount: 120.00",
        "Our CFO, {PERSON}, asked me to chase this. Reach her at {EMAIL}.",
        "Login from {IP} at 03:12, then password reset to {PASSWORD}? Not me!",
        "Greetings from {ADDRESS}! My card {CARD} is still not here.",
        "{PERSON} <{EMAIL}> wrote on Tuesday:\n> please check",
        "Customer {PERSON} (DOB {DATE_OF_BIRTH}) called about a chargeback.",
        "Regards\n{PERSON}\nTel {PHONE} | {EMAIL}",
        "export STRIPE_KEY={SECRET}",
        "Verification code: {CODE}",
    ],
    "fr": [
        "Bonjour Madame {SURNAME},\nvoici mon RIB : {IBAN}.",
        "Veuillez contacter mon fils {PERSON} au {PHONE}.",
        "Salutations distinguées,\n{PERSON}",
        "Adresse de facturation : {ADDRESS}",
        "Mon identifiant est {EMAIL} et l'adresse IP {IP}.",
    ],
    "de": [
        "Guten Tag Herr {SURNAME},\nhier meine IBAN: {IBAN}.",
        "Bitte rufen Sie meinen Sohn {PERSON} unter {PHONE} an.",
        "Hochachtungsvoll\n{PERSON}",
        "Rechnungsadresse: {ADDRESS}",
        "Mein Login ist {EMAIL}, die IP war {IP}.",
    ],
}
HELDOUT4_NEGATIVES = [
    "The Nationwide app shows transaction ID {n} twice.",
    "Je n'ai pas reçu la carte Gold, commande {n}.",
    "Die Karte der ING wurde am Automaten eingezogen, Beleg {n}.",
    "Error PSD2_SCA_REQUIRED when paying Booking.com, ref {h}.",
    "Please raise the Amex limit to 5,000 as discussed, case {n}.",
    "Monthly statement 2025-0{a} is missing from the portal.",
]


# Held out (5): written before the rule changes of issue 16's second round and never tuned on. New names (hyphenated,
# accented, with particles, from more languages), e-mail forms (plus addressing, capitals, IDN domains, more
# obfuscations), secret shapes (bearer tokens, JWTs, connection strings, cloud keys) and ticket shapes (Outlook
# headers, CSV and JSON pastes, tables, signatures with a job title), and look-alikes without personal data.
HELDOUT5_FIRST = {
    "en": [
        "Chidi",
        "Bronwen",
        "Ezekiel",
        "Tamsin",
        "Rupert",
        "Nadia",
        "Oisín",
        "Keira",
        "Yusuf",
        "Gwendolyn",
        "Lorcan",
        "Anjali",
        "Dmitri",
        "Rowena",
        "Lucía",
        "Ngozi",
        "Łukasz",
        "Sunita",
    ],
    "fr": [
        "Jean-Baptiste",
        "Marie-Claire",
        "Maxence",
        "Bérénice",
        "Timothée",
        "Gwenaëlle",
        "Ludovic",
        "Perrine",
        "Sacha",
        "Aymeric",
        "Ghislaine",
        "Anne-Sophie",
    ],
    "de": [
        "Hans-Peter",
        "Gudrun",
        "Leonie",
        "Rüdiger",
        "Ottilie",
        "Hauke",
        "Dörte",
        "Marlene",
        "Jost",
        "Thorsten",
        "Lisa-Marie",
        "Götz",
    ],
}
HELDOUT5_LAST = {
    "en": [
        "Abernathy",
        "Nkemelu",
        "Vasquez",
        "O'Sullivan",
        "Ashdown",
        "Krishnan",
        "MacLeod",
        "Fitzgerald",
        "Oyelaran",
        "Van der Merwe",
        "de la Cruz",
        "Wiśniewski",
    ],
    "fr": [
        "Le Bihan",
        "Delacroix",
        "N'Diaye",
        "Chauvin",
        "Pelletier",
        "Lefort",
        "d'Aubigny",
        "Bonnaire",
        "Texier",
        "Dos Santos",
    ],
    "de": [
        "von Arnim",
        "Oberländer",
        "Wendt",
        "Großmann",
        "Eichhorn",
        "Büttner",
        "Niemeyer",
        "Stojanović",
        "Yılmaz",
        "Weißenborn",
    ],
}
HELDOUT5_ADDRESSES = {
    "en": [
        "18 Clarendon Road, Leeds LS2 9NZ",
        "402 Magnolia Avenue, Tampa, FL 33602",
        "Flat 7, 29 Quay Street, Bristol BS1 4DB",
    ],
    "fr": ["12 rue des Carmes, 45000 Orléans", "7 boulevard Gambetta, 38000 Grenoble"],
    "de": ["Uhlandstraße 14, 70182 Stuttgart", "Kaiserdamm 88, 14057 Berlin"],
}


def _ascii(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value.replace("ł", "l").replace("ı", "i").replace("ß", "ss"))
    return "".join(c for c in folded if c.isascii() and (c.isalnum() or c in ".-_"))


def email5(first: str, last: str) -> str:
    f, l5 = _ascii(first.lower()), _ascii(last.lower())
    user = R.choice([f"{f}.{l5}", f"{f[0]}{l5}", f"{f}{l5}{R.randint(70, 99)}", f"{f}-{l5}", f"{l5}.{f}"])
    style = R.random()
    if style < 0.12:
        return f"{user}+{R.choice(['bank', 'support', 'billing', '2025'])}@{R.choice(['example.com', 'example.net'])}"
    if style < 0.22:
        return f"{_ascii(first)}.{_ascii(last).replace('-', '')}@Example.COM"
    if style < 0.32:
        idn = R.choice(["straße-shop.example", "élan-conseil.example", "grünwald-it.example", "café-lumière.example"])
        local = R.choice([user, first.lower().replace(" ", "") + "." + last.lower().replace(" ", "").replace("'", "")])
        return f"{local}@{idn}"
    if style < 0.40:
        return f"{user} (at) example (dot) net"
    if style < 0.46:
        return f"{user}[at]example[.]com"
    if style < 0.52:
        return f"{user} at example dot co dot uk"
    if style < 0.57:
        return f"{user} AT example DOT org"
    domain = R.choice(
        [
            "example.net",
            "mail.example.com",
            "example.co.uk",
            "example.ie",
            "example.at",
            "example.ch",
            "post.example.de",
            "example.fr",
            "example.org",
        ]
    )
    return f"{user}@{domain}"


def phone5(lang: str) -> str:
    options = {
        "en": [
            f"+44 (0)20 7946 0{digits(3)}",
            f"+44 7700 900{digits(3)}",
            f"+1-202-555-01{digits(2)}",
            f"0044 161 496 0{digits(3)}",
            f"(0161) 496 0{digits(3)}",
            f"+1 (646) 555-01{digits(2)}",
        ],
        "fr": [
            f"+33 (0)6 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
            f"01.{digits(2)}.{digits(2)}.{digits(2)}.{digits(2)}",
            f"07 {digits(2)} {digits(2)} {digits(2)} {digits(2)}",
            f"+32 2 {digits(3)} {digits(2)} {digits(2)}",
        ],
        "de": [
            f"+49 (0)171 {digits(7)}",
            f"0221/{digits(6)}",
            f"+43 1 {digits(7)}",
            f"+41 44 {digits(3)} {digits(2)} {digits(2)}",
            f"089-{digits(6)}",
        ],
    }
    return R.choice(options[lang])


def _pick(alphabet: str, n: int) -> str:
    return "".join(R.choice(alphabet) for _ in range(n))


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_B64URL = _ALNUM + "-_"


def secret5() -> str:
    return R.choice(
        [
            "glpat-" + _pick(_B64URL, 20),
            "SG." + _pick(_B64URL, 22) + "." + _pick(_B64URL, 43),
            "xoxp-" + digits(11) + "-" + digits(12) + "-" + _pick("0123456789abcdef", 32),
            "sk_live_" + _pick(_ALNUM, 24),
            "whsec_" + _pick(_ALNUM, 32),
            "npm_" + _pick(_ALNUM, 36),
            "github_pat_11" + _pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20) + "_" + _pick(_ALNUM, 59),
            "sk-ant-api03-" + _pick(_B64URL, 40),
            _pick("0123456789abcdef", 32),
        ]
    )


def jwt5() -> str:
    return "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJ" + _pick(_B64URL, 60) + "." + _pick(_B64URL, 43)


def password5() -> str:
    return R.choice(
        [
            "Zebra!Moon42",
            "correct-horse-battery-9",
            "Qx7#mP2v",
            "S0mmerRegen!",
            "Été2025*Paris",
            "LetMeIn!2025",
            "P@ssw0rd2025",
            "winter2025",
            "Kaffeetasse#5",
            "bleu-Citron-88",
        ]
    )


def url5() -> str:
    tok = _pick(_B64URL, 32)
    return R.choice(
        [
            f"https://app.example.com/magic-link?token={tok}",
            f"https://login.example.net/oauth/callback?code={tok}&state=xyz123",
            f"https://files.example.com/export.csv?X-Amz-Expires=300&X-Amz-Signature={_pick('0123456789abcdef', 64)}",
            f"https://example.org/account/verify?email=1&key={tok}",
        ]
    )


def iban5() -> str:
    country, bban = R.choice(
        [
            ("NL", R.choice(["ABNA", "INGB", "RABO"]) + digits(10)),
            ("BE", digits(12)),
            ("IT", "X" + digits(10) + _pick("0123456789", 12)),
            ("CH", digits(17)),
            ("DE", digits(18)),
            ("FR", digits(23)),
            ("GB", "BARC" + digits(14)),
        ]
    )
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    value = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    if R.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value.lower() if R.random() < 0.1 else value


HELDOUT5_TEMPLATES: dict[str, list[str]] = {
    "en": [
        (
            "From: {PERSON} <{EMAIL}>\nSent: Thursday, March 6, 2025 2:02 PM\nTo: Support <{SUPPORT}>\n"
            "Cc: {PERSON2} <{EMAIL2}>\nSubject: RE: disputed payment\n\nSee below, the charge is still there."
        ),
        'From: "{LAST}, {FIRST}" <{EMAIL}>\nDate: Fri, 7 Mar 2025 08:15:02 +0000\nSubject: card not received',
        "Best wishes,\n{PERSON}\nSenior Accountant | Example Logistics Ltd\nM: {PHONE}\nE: {EMAIL}",
        "Dear Ms {SURNAME},\nthank you for your letter of 3 March. My account number is {ACCOUNT}.",
        "Many thanks\n\n{FIRST}\n\nSent from Outlook for Android",
        'curl -H "Authorization: Bearer {BEARER}" https://api.example.com/v1/balance returns 401',
        "2025-03-07 11:02:55,120 INFO [auth] login ok user={EMAIL} src={IP} ua=Mozilla/5.0",
        "| Customer | {PERSON} |\n| E-mail | {EMAIL} |\n| Mobile | {PHONE} |\n| Card | {CARD} |",
        "id,name,email,phone\n4411,{PERSON},{EMAIL},{PHONE}",
        '{"customer": {"name": "{PERSON}", "email": "{EMAIL}", "iban": "{IBAN}"}, "status": "REJECTED"}',
        "Our .env has DATABASE_URL=postgres://billing:{PASSWORD}@db.internal:5432/prod, is that why?",
        "I changed my password to {PASSWORD} yesterday and now the app says wrong password.",
        "The temporary password you sent ({PASSWORD}) does not work either.",
        "Here is the key we use: {SECRET}. It worked until Monday.",
        "The magic link {URL} opens a blank page.",
        "Hi {FIRST}, could you call me back on {PHONE}? I'm in meetings until 3.",
        "Spoke with {PERSON} at your Leeds branch, she said to email {EMAIL}.",
        "Please cc my accountant {PERSON} ({EMAIL}) on the reply.",
        "hi its {LOWERFIRST} again, still waiting on the refund",
        "thanks\n{LOWERNAME}",
        "Card {CARD} exp {EXPIRY}, billing address {ADDRESS}.",
        "X-Forwarded-For: {IP}, {IP}\nX-Request-Id: 7f9c2ab1",
        "Connection from [{IP6}]:443 refused by the firewall.",
        "{PERSON}\nHead of Operations\nExample Freight Ltd\nTel: {PHONE}",
        "Kind regards,\n\nDr {PERSON}\nClinical Lead",
        "My name is {PERSON} and I'm locked out. Registered e-mail: {EMAIL}",
        "Transfer to {PERSON} ({IBAN}) was returned with code AC04.",
        "Please update the holder to {PERSON}, date of birth {DATE_OF_BIRTH}.",
        "AWS keys from our CI log: aws_access_key_id={AKIA} aws_secret_access_key={AWSSECRET}",
        "Token in the screenshot: {SECRET}, please revoke it.",
        "Login: {EMAIL} / Password: {PASSWORD}",
        "On Mon, 3 Mar 2025 at 09:12, {PERSON} <{EMAIL}> wrote:\n> Thanks, we will look into it.",
        "{PERSON} | Customer Success | {PHONE} | {EMAIL}",
        "The verification code ({CODE}) came after the session timed out.",
        "My wife and I ({PERSON} and {PERSON2}) share the account.",
        "Send the card to {PERSON}, {ADDRESS}.",
        "JWT from the failing request: {JWT}",
        "Regards,\n{PERSON} (account manager)",
        "Contact person: {PERSON}, phone {PHONE}, e-mail {EMAIL}",
        "Please reply to {EMAIL}, not to my old address.",
    ],
    "fr": [
        (
            "De : {PERSON} <{EMAIL}>\nEnvoyé : jeudi 6 mars 2025 10:12\nÀ : Service client <{SUPPORT}>\n"
            "Objet : RE: remboursement\n\nToujours rien."
        ),
        "Je m'appelle {PERSON}, je suis cliente depuis 2015 et ma carte {CARD} est bloquée.",
        "Cordialement,\n\n{PERSON}\nResponsable comptable\nTél. : {PHONE}\n{EMAIL}",
        "Monsieur {SURNAME}, de votre agence de Lyon, m'a conseillé de vous écrire.",
        "mot de passe provisoire : {PASSWORD}",
        "Merci de rappeler Mme {SURNAME} au {PHONE}.",
        "Nom | Prénom | Téléphone\n{LAST} | {FIRST} | {PHONE}",
        "Voici la clé API qui ne marche plus : {SECRET}",
        "Bien à vous,\n{FIRST}",
        "Bonjour Madame {PERSON},\nvotre virement vers {IBAN} a été rejeté.",
        "Le 6 mars 2025 à 10:12, {PERSON} <{EMAIL}> a écrit :\n> Merci pour votre retour.",
        "Mon adresse e-mail a changé : {EMAIL} (l'ancienne ne marche plus).",
        "J'habite au {ADDRESS} depuis janvier.",
        "Connexion refusée depuis {IP}, identifiant {EMAIL}.",
        "Le lien de réinitialisation {URL} a expiré.",
        "Merci d'avance,\n{PERSON}\n{ADDRESS}",
        "Je soussignée {PERSON}, née le {DATE_OF_BIRTH}, demande la clôture du compte.",
        "Mon conjoint {PERSON} n'arrive pas à se connecter, son numéro : {PHONE}.",
        "mdp : {PASSWORD} (je sais, il ne faut pas l'envoyer)",
        "Salut,\nc'est {FIRST}, tu peux regarder le ticket ?",
    ],
    "de": [
        (
            "Von: {PERSON} <{EMAIL}>\nGesendet: Donnerstag, 6. März 2025 10:12\nAn: Kundenservice <{SUPPORT}>\n"
            "Betreff: AW: Erstattung\n\nImmer noch nichts."
        ),
        "Ich heiße {PERSON} und meine Karte {CARD} wurde gesperrt.",
        "Mit freundlichen Grüßen\n\n{PERSON}\nBuchhaltung\nTel.: {PHONE}\nE-Mail: {EMAIL}",
        "Herr {SURNAME} aus Ihrer Filiale in Köln hat mir geraten zu schreiben.",
        "Mein neues Passwort lautet {PASSWORD}, trotzdem kommt Fehler 401.",
        "Zugangsdaten: Benutzer {EMAIL}, Kennwort {PASSWORD}",
        "Ansprechpartnerin: Frau {PERSON}, Tel. {PHONE}",
        "LG\n{FIRST}",
        "VG {FIRST}",
        "Am 06.03.2025 um 10:12 schrieb {PERSON} <{EMAIL}>:\n> Vielen Dank für Ihre Nachricht.",
        "Hier der API-Schlüssel aus dem Log: {SECRET}",
        "Neue Anschrift: {ADDRESS}",
        "Login von {IP} um 03:14 Uhr, Benutzer {EMAIL}.",
        "Der Link {URL} funktioniert nicht mehr.",
        "Mein Mann {PERSON} kann sich nicht anmelden, seine Nummer ist {PHONE}.",
        "Kontoinhaber | IBAN\n{PERSON} | {IBAN}",
        "Schöne Grüße aus Hamburg\n{PERSON}",
        "Mein Name ist {PERSON}, geboren am {DATE_OF_BIRTH}.",
        "Hallo {FIRST},\nkannst du bitte nachsehen?",
        "Die Überweisung an {PERSON} ({IBAN}) wurde zurückgebucht.",
    ],
}
HELDOUT5_NEGATIVES = [
    "The app shows the card as **** **** **** {n4}, is that the new one?",
    "request_id={uuid} failed with 502 at the gateway.",
    "Build {sha} broke the statement export.",
    "Password must be at least 12 characters and contain a symbol.",
    "Token expired (TOKEN_EXPIRED) after 3600 s, ticket OPS-{n}.",
    "The 'Reset password' link leads to a 404 page.",
    "Mot de passe oublié : le lien ne marche pas, dossier {n}.",
    "Passwort vergessen funktioniert nicht, Fehlercode PW-{n}.",
    "Regards,\nThe Payments Team",
    "Cordialement,\nL'équipe Support",
    "Viele Grüße\nIhr Service-Team",
    "I moved my savings to Charles Schwab last year, can you send a closing statement?",
    "Refund from Marks & Spencer for order {n} never arrived.",
    "The Wells Fargo wire reference is FT{n}{a}{b}.",
    "Checksum sha256:{sha}{sha} does not match the download.",
    "at com.example.payments.CardService.charge(CardService.java:2{a}{b})",
    "2025-03-07T09:12:44Z INFO worker-3 job=settlement batch=B{n} status=OK duration=4{a}{b}ms",
    "Le virement SEPA du 06/03/2025 vers la Banque Populaire est en attente, réf. {n}.",
    "Die Sparkasse Köln-Bonn hat die Lastschrift {n} zurückgegeben.",
    "API key rotation is planned for Friday; no key was shared in this ticket.",
    "The Jean Jaurès metro station ATM swallowed my card.",
    "Version 4.{a}.{b}+build.{n} on Android 14, Pixel 8.",
    "Merci, la carte Visa Infinite est bien arrivée.",
    "Kundennummer {n}, Vertrag Girokonto Plus.",
]


def fill5(template: str, lang: str) -> dict:
    """Like fill(), with two people per snippet and heldout5's own value generators."""
    first, last = R.choice(HELDOUT5_FIRST[lang]), R.choice(HELDOUT5_LAST[lang])
    if R.random() < 0.25:  # tickets mix languages: a French name in an English ticket, and so on
        first, last = R.choice(HELDOUT5_FIRST[R.choice(["en", "fr", "de"])]), R.choice(HELDOUT5_LAST[lang])
    lang2 = R.choice(["en", "fr", "de"])
    first2, last2 = R.choice(HELDOUT5_FIRST[lang2]), R.choice(HELDOUT5_LAST[lang2])
    alnum = _ALNUM
    slots = {
        "SUPPORT": ("EMAIL", lambda: "support@example.com"),
        "PERSON": ("PERSON", lambda: f"{first} {last}"),
        "PERSON2": ("PERSON", lambda: f"{first2} {last2}"),
        "FIRST": ("PERSON", lambda: first),
        "LAST": ("PERSON", lambda: last),
        "SURNAME": ("PERSON", lambda: last),
        "LOWERFIRST": ("PERSON", lambda: first.lower()),
        "LOWERNAME": ("PERSON", lambda: f"{first} {last}".lower()),
        "EMAIL": ("EMAIL", lambda: email5(first, last) if R.random() < 0.7 else email5(first2, last2)),
        "EMAIL2": ("EMAIL", lambda: email5(first2, last2)),
        "PHONE": ("PHONE", lambda: phone5(lang)),
        "IBAN": ("IBAN", iban5),
        "CARD": ("CARD", card),
        "EXPIRY": ("CARD_EXPIRY", lambda: f"{R.randint(1, 12):02d}/{R.randint(26, 31)}"),
        "IP": ("IP", ip),
        "IP6": ("IP", lambda: f"2001:db8:{R.randint(1, 0xFFFF):x}::{R.randint(1, 0xFFFF):x}"),
        "ADDRESS": ("ADDRESS", lambda: R.choice(HELDOUT5_ADDRESSES[lang])),
        "DATE_OF_BIRTH": ("DATE_OF_BIRTH", lambda: dob(lang)),
        "ACCOUNT": ("ACCOUNT", lambda: digits(8)),
        "CODE": ("CODE", lambda: digits(6)),
        "PASSWORD": ("SECRET", password5),
        "SECRET": ("SECRET", secret5),
        "JWT": ("SECRET", jwt5),
        "BEARER": ("SECRET", lambda: R.choice([jwt5(), _pick(alnum, 40), "ya29." + _pick(_B64URL, 60)])),
        "AKIA": ("SECRET", lambda: "AKIA" + _pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        "AWSSECRET": ("SECRET", lambda: _pick(alnum + "/+", 40)),
        "URL": ("URL", url5),
    }
    text, entities = "", []
    for part in re.split(r"(\{[A-Z_0-9]+\})", template):
        slot = part[1:-1] if re.fullmatch(r"\{[A-Z_0-9]+\}", part) else None
        if slot is None:
            text += part
            continue
        kind, value = slots[slot]
        produced = value()
        entities.append({"start": len(text), "end": len(text) + len(produced), "type": kind})
        text += produced
    return {"text": text, "entities": entities, "lang": lang}


def negative5() -> dict:
    template = R.choice(HELDOUT5_NEGATIVES)
    french = ("Mot de passe", "Cordialement", "Le virement", "Merci, la")
    lang = (
        "fr"
        if template.startswith(french)
        else "de"
        if template.startswith(("Passwort", "Viele", "Die Spar", "Kunden"))
        else "en"
    )
    text = (
        template.replace("{n4}", digits(4))
        .replace(
            "{uuid}",
            f"{_pick('0123456789abcdef', 8)}-{_pick('0123456789abcdef', 4)}-4{_pick('0123456789abcdef', 3)}"
            f"-a{_pick('0123456789abcdef', 3)}-{_pick('0123456789abcdef', 12)}",
        )
        .replace("{sha}", _pick("0123456789abcdef", 40))
        .replace("{n}", str(R.randint(10000, 999999)))
        .replace("{a}", str(R.randint(0, 9)))
        .replace("{b}", str(R.randint(0, 9)))
    )
    return {"text": text, "entities": [], "lang": lang}


def main() -> None:
    rows = []
    for lang, count in (("en", 240), ("fr", 90), ("de", 90)):
        for i in range(count):
            rows.append(fill(TEMPLATES[lang][i % len(TEMPLATES[lang])], lang))
    rows += [negative() for _ in range(120)]
    write(OUT, rows)
    FIRST.update(HELDOUT_FIRST)
    LAST.update(HELDOUT_LAST)
    globals()["address"] = lambda lang: R.choice(HELDOUT_ADDRESSES[lang])
    NEGATIVES[:] = HELDOUT_NEGATIVES
    rows = []
    for lang, count in (("en", 90), ("fr", 40), ("de", 40)):
        for i in range(count):
            rows.append(fill(HELDOUT_TEMPLATES[lang][i % len(HELDOUT_TEMPLATES[lang])], lang))
    rows += [negative() for _ in range(40)]
    write(HELDOUT, rows)
    FIRST.update(HELDOUT2_FIRST)
    LAST.update(HELDOUT2_LAST)
    globals()["address"] = lambda lang: R.choice(HELDOUT2_ADDRESSES[lang])
    NEGATIVES[:] = HELDOUT2_NEGATIVES
    rows = []
    for lang, count in (("en", 90), ("fr", 40), ("de", 40)):
        for i in range(count):
            rows.append(fill(HELDOUT2_TEMPLATES[lang][i % len(HELDOUT2_TEMPLATES[lang])], lang))
    rows += [negative() for _ in range(40)]
    write(HELDOUT2, rows)
    FIRST.update(HELDOUT3_FIRST)
    LAST.update(HELDOUT3_LAST)
    globals()["address"] = lambda lang: R.choice(HELDOUT3_ADDRESSES[lang])
    NEGATIVES[:] = HELDOUT3_NEGATIVES
    rows = []
    for lang, count in (("en", 90), ("fr", 40), ("de", 40)):
        for i in range(count):
            rows.append(fill(HELDOUT3_TEMPLATES[lang][i % len(HELDOUT3_TEMPLATES[lang])], lang))
    rows += [negative() for _ in range(40)]
    write(HELDOUT3, rows)
    FIRST.update(HELDOUT4_FIRST)
    LAST.update(HELDOUT4_LAST)
    globals()["address"] = lambda lang: R.choice(HELDOUT4_ADDRESSES[lang])
    NEGATIVES[:] = HELDOUT4_NEGATIVES
    rows = []
    for lang, count in (("en", 90), ("fr", 40), ("de", 40)):
        for i in range(count):
            rows.append(fill(HELDOUT4_TEMPLATES[lang][i % len(HELDOUT4_TEMPLATES[lang])], lang))
    rows += [negative() for _ in range(40)]
    write(HELDOUT4, rows)
    rows = []
    for lang, count in (("en", 110), ("fr", 50), ("de", 50)):
        for i in range(count):
            rows.append(fill5(HELDOUT5_TEMPLATES[lang][i % len(HELDOUT5_TEMPLATES[lang])], lang))
    rows += [negative5() for _ in range(60)]
    write(HELDOUT5, rows)


def write(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} snippets, {sum(len(r['entities']) for r in rows)} entities -> {path}")


if __name__ == "__main__":
    main()
