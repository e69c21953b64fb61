"""Replace personal data with typed placeholders before any text leaves the building; the mapping stays here.

Detection is Microsoft Presidio: its checksum-validated recognizers (cards by Luhn, IBANs by mod-97,
phone numbers by the phonenumbers library, IP addresses) and our own recognizers as data
(service/escalate/pii_identifiers.py, pii_secrets.py and pii_name_cues.py: patterns and cue rules;
service/escalate/pii_names.py: a gazetteer of given names) run in its AnalyzerEngine, as set up in
service/escalate/recognizers.py. Then a spaCy English pipeline looks for the names those missed, only around
the capitalised words that no recognizer explained (a name-dense ticket costs ~0.1 ms a token in NER). The
engine is built once per process, on first use, never at import time; nothing is downloaded.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import regex

from service.escalate.pii_name_cues import COMMON_WORDS, NOT_NAMES, PARTICLES, TITLES
from service.escalate.pii_names import NOT_IN_NAMES, NOT_SURNAMES
from service.escalate.recognizers import DATE_OR_VERSION, HEADINGS, STARTERS, build_engine

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts
    from spacy.language import Language
__all__ = ["MAX_CHARS", "Redaction", "redact", "spans"]

# Only this much of a ticket is analysed and returned: the LLM prompt is capped below it anyway, and a bound
# keeps one hostile ticket from costing more than a few milliseconds of regex and NER work.
MAX_CHARS = 8000
# An ordinary 8,000-character ticket has about 1,800 tokens; text split into many more is not prose.
NER_MAX_TOKENS = 2500
# Words of context each side of a capitalised word that NER looks at. On the names of the tuning sets, one, two,
# three, five words or the whole line gave the same recall (77 % of two-word names, with no cue at all).
NER_CONTEXT_WORDS = 2
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
_NAME_SHAPED = regex.compile(
    r"^(?:\p{Lu}['’])?\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?(?:[ ]\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?){0,3}$"
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
_GLUED = frozenset("-_#/") | frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_LEADING_WORD = regex.compile(r"^(\S+)[ \t,]+")
_TITLE_WORDS = frozenset(TITLES.strip("(?:)").split("|"))


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
        or DATE_OR_VERSION.search(text[start:end])
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
    if not words or any(w in NOT_NAMES and w not in PARTICLES for w in words) or value.lower() in HEADINGS:
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
    | STARTERS
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


def _get_engine() -> AnalyzerEngine:
    """Build the analyzer once per process, on first use, under a lock."""
    global _engine, _nlp
    if _engine is None:
        with _lock:
            if _engine is None:
                engine, _nlp = build_engine()
                _engine = engine  # after _nlp: whoever finds the engine built finds the pipeline too
    return _engine


def _get_nlp() -> Language:
    _get_engine()
    assert _nlp is not None
    return _nlp


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
