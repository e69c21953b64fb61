"""Rules for names: after cue words (greetings, closings, "my name is", roles, fields), in signatures and headers."""

from __future__ import annotations

import re

from service.escalate.pii_names import AMBIGUOUS, FIRST_NAMES
from service.escalate.pii_rules import Rule

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


# Capitalised words of a name (Unicode letters, hyphenated parts, particles such as "van der" inside).
CAP = r"(?:[dlDL]['’])?(?:\p{Lu}['’])?\p{Lu}[\p{Ll}'’]{1,30}(?:\p{Lu}\p{Ll}{1,30})?(?:-\p{Lu}[\p{Ll}'’]{1,30})?"
_PARTICLE = r"(?:van|von|de|der|den|da|di|du|le|la|del|della|dos|das|zu|des|ten|ter)"
# Case-sensitive even inside rules that ignore case, so that "hello marcus, the app" does not run on.
NAME = (
    rf"(?-i:(?:\p{{Lu}}\.[ \t]{{0,2}})?{CAP}"
    rf"(?:[ \t]{{1,3}}(?:\p{{Lu}}\.[ \t]{{1,3}})?(?:(?i:{_PARTICLE})[ \t]{{1,3}}){{0,2}}{CAP}){{0,3}})"
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

NAME_RULES: tuple[Rule, ...] = (
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
        rf"(?m)^[ \t]*((?-i:{CAP}(?:[ ](?:(?i:{_PARTICLE})[ ]){{0,2}}{CAP}){{1,3}}))[ \t]*\n"
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
