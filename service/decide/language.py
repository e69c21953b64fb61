"""Which language a ticket is written in: lingua's detectors, built once per process, and the setting naming them."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from functools import cache
from typing import Any

# Common helpdesk languages. Each Latin-script language costs ~20 MB of n-gram models in a worker; languages with
# a script of their own (ja, zh, ko, ar) are told apart by their letters and cost little (bench/language.py).
DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "tr", "ja", "zh", "ko", "ar")
# lingua's own cut: below it, its high-accuracy mode reads 1- to 5-grams; from it on, trigrams only, which is all
# its low-accuracy mode ever reads.
SHORT_CHARS = 120
# Detection reads this much of a ticket: the verdict is settled long before, and a 256 KiB body costs no more.
MAX_CHARS = 1000
# The two best languages must differ by this much (lingua's relative distance) or the answer is "unknown".
MIN_DISTANCE = 0.1
# How sure the wide detector must be to name a language outside the configured ones in a short text (1 of 3,080
# short English Banking77 questions reached it).
SURE = 0.99
# Texts of fewer words than this (a subject alone) are named only when the sharp detector is this sure.
FEW_WORDS = 3
SURE_FEW = 0.9
# Fewer letters than this cannot be told apart ("ok", "PIN 1234").
MIN_LETTERS = 4
# A language counts as one the model was trained on when at least this share of its training texts is in it.
TRAINING_FLOOR = 0.02
OFF = ("", "none", "off")

# Not language: words with digits (ids, amounts, versions), addresses and links read as noise to n-grams. Tested
# word by word after a split, so no pattern ever scans a long run of text more than once.
_NOISE = re.compile(r"\d|@|^(?:https?:|www\.)")
_LETTER = re.compile(r"[^\W\d_]")


class LanguageError(ValueError):
    """The configured language list names a code the detector does not know."""


def parse_languages(value: str) -> tuple[str, ...]:
    """The ISO 639-1 codes of a comma-separated setting (empty for none/off); raise LanguageError on unknown ones."""
    if value.strip().lower() in OFF:
        return ()
    from lingua import IsoCode639_1

    codes = tuple(dict.fromkeys(c.strip().lower() for c in value.split(",") if c.strip()))
    unknown = [c for c in codes if not hasattr(IsoCode639_1, c.upper())]
    if unknown:
        raise LanguageError(f"TRIAGE_LANGUAGES: {', '.join(unknown)} not ISO 639-1 codes that lingua knows")
    return codes


class Detector:
    """Two lingua detectors: a sharp one for short texts in the configured languages, a wide one for all 75.

    The wide one (trigrams only, ~77 MB) names any language, so a Swedish ticket reads as "sv" rather than the
    nearest configured language. On short texts both err, in different places (6 % of short English Banking77
    questions read as Danish, Tagalog or German to the wide one; a few as French or Italian to the sharp one), so
    there an answer needs both to agree, or the wide one to be sure of a language outside the configured ones;
    anything else is "unknown".
    """

    def __init__(self, languages: Sequence[str]) -> None:
        from lingua import IsoCode639_1, LanguageDetectorBuilder

        self.languages = tuple(languages)
        isos = [getattr(IsoCode639_1, c.upper()) for c in self.languages]
        # Models load lazily, per language and n-gram size, the first time a text needs them (warm() loads those of
        # common tickets). Never with lingua's preloading: it loads on a thread pool, and a forked pool process
        # that builds a preloading detector waits forever for threads it does not have (measured).
        self._sharp = (
            LanguageDetectorBuilder.from_iso_codes_639_1(*isos).with_minimum_relative_distance(MIN_DISTANCE).build()
            if len(isos) > 1
            else None
        )
        self._wide = (
            LanguageDetectorBuilder.from_all_languages()
            .with_low_accuracy_mode()
            .with_minimum_relative_distance(MIN_DISTANCE)
            .build()
        )

    def detect(self, text: str) -> str | None:
        """The ISO 639-1 code of the text's language, or None when it is too short or too mixed to tell."""
        cleaned = " ".join(w for w in text[: 4 * MAX_CHARS].split() if not _NOISE.search(w))[:MAX_CHARS]
        if len(_LETTER.findall(cleaned)) < MIN_LETTERS:
            return None
        found = self._wide.detect_language_of(cleaned)
        wide = _code(found)
        if len(cleaned) >= SHORT_CHARS:
            return wide
        if found is not None and wide not in self.languages:
            # Trigrams mislead on short texts ("tl" or "da" for short English), unless letters settle it (å, ř, ő):
            # a sure answer names a language outside the configured ones, any other is "unknown".
            return wide if self._wide.compute_language_confidence(cleaned, found) >= SURE else None
        if self._sharp is None:  # one configured language, and the wide detector found it (or nothing)
            return wide
        sharp = self._sharp.detect_language_of(cleaned)
        if found is not None and found != sharp:
            # Each is wrong where the other is right ("How can i get multiple disposble cards." is French to the
            # sharp one, English to the wide one): unknown.
            return None
        if sharp is not None and len(cleaned.split()) < FEW_WORDS:
            # Two words read as a language only when it is plain ("Rechnung falsch"): "password reset" reads as
            # Italian, 0.48 against German's 0.25.
            return _code(sharp) if self._sharp.compute_language_confidence(cleaned, sharp) >= SURE_FEW else None
        return _code(sharp)

    def detect_many(self, texts: Iterable[str]) -> list[str | None]:
        """detect() for each text, in order (one thread: lingua's parallel calls are unsafe in a forked worker)."""
        return [self.detect(t) for t in texts]

    def warm(self) -> None:
        """Load the models that tickets need (a short and a long text in each script), e.g. before a worker forks."""
        for text in _WARM_UP:
            self.detect(text)
            self.detect(" ".join([text] * 4))


# One short sentence per script family of the default languages: enough to load every model they use.
_WARM_UP = (
    "Please help me with my order",
    "Пожалуйста помогите с заказом",
    "注文について助けてください",
    "请帮我处理订单",
    "주문을 도와주세요",
    "الرجاء مساعدتي في طلبي",
)


def _code(language: object) -> str | None:
    return None if language is None else str(language.iso_code_639_1.name).lower()  # type: ignore[attr-defined]


_lock = threading.Lock()


@cache
def _detector(languages: tuple[str, ...]) -> Detector:
    return Detector(languages)


def detector(languages: Sequence[str] = DEFAULT_LANGUAGES) -> Detector:
    """The process's detector for these languages (lingua shares the loaded models between detectors anyway)."""
    with _lock:
        return _detector(tuple(languages))


def detect_language(text: str) -> str | None:
    """The language of a text with the default languages (drafting's guard: reply and ticket must agree)."""
    return detector().detect(text)


def training_languages(texts: Iterable[str], languages: Sequence[str] = DEFAULT_LANGUAGES) -> list[str]:
    """The languages a model is trained on: those of at least TRAINING_FLOOR of the texts whose language is known."""
    counts = Counter(code for code in detector(languages).detect_many(texts) if code is not None)
    known = sum(counts.values())
    return sorted(code for code, n in counts.items() if known and n / known >= TRAINING_FLOOR)


def detect_all(found: Detector | None, texts: Sequence[str]) -> tuple[list[str | None], dict[str, float]]:
    """Each text's language, and the "language" stage's milliseconds per text ({} when detection is off)."""
    if found is None:
        return [None] * len(texts), {}
    started = time.perf_counter()
    languages = found.detect_many(texts)
    return languages, {"language": (time.perf_counter() - started) * 1000 / max(len(texts), 1)}


def model_languages(model: object) -> frozenset[str] | None:
    """The languages of a served model's training texts, from its card; None when the card has none to say."""
    # Cards written before the field existed say nothing: such a model holds back no language.
    languages = getattr(getattr(model, "card", None), "languages", None)
    return None if languages is None else frozenset(languages)


def untrained_language(language: str | None, trained: Collection[str] | None) -> str | None:
    """Why a ticket in `language` may not be auto-routed by a model trained on `trained`; None if it may."""
    if language is None or trained is None or language in trained:
        return None
    named = ", ".join(sorted(trained)) or "no detected language"
    return f"language {language!r} is not one the model was trained on ({named}): needs review"


def explained(language: str | None, trained: Collection[str] | None) -> dict[str, Any]:
    """What a decision's explanation says of the ticket's language (stored, shown, written back as a tag)."""
    why = untrained_language(language, trained)
    return {"language": language, **({"language_gate": why} if why else {})}
