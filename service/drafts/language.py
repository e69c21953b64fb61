"""Which language a short text is in (stop words and letters), and capitalised words that are not names."""

from __future__ import annotations

import re

_STOP_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is are was were to of in for on with my your you i it this that have has not can do "
        "does did what how why when we our me be been will would please thank thanks there from an at "
        "but if am any still yet get just about hi hello who which they them its a as or by so".split()
    ),
    "de": frozenset(
        "der die das und ist nicht ich mein meine meinen meiner sie wir mit für auf ein eine einen zu "
        "von den dem des habe hat wurde kann bitte danke auch noch aber wie warum wann was es im ihr "
        "ihre uns sehr hallo wo mir mich dass oder kein keine".split()
    ),
    "fr": frozenset(
        "le la les et est un une des du de je mon ma mes vous votre vos nous pas ne que qui pour avec "
        "sur dans au aux ce cette il elle ai été merci bonjour mais ou où pourquoi comment quand j qu "
        "suis sont avez êtes".split()
    ),
    "es": frozenset(
        "el la los las y es un una de del que en mi mis tu su por para con no se lo le me al como pero "
        "qué cómo cuándo porqué está estoy tengo hola gracias muy ya usted nuestro ha han sido mí "
        "hay esta este".split()
    ),
    "it": frozenset(
        "il lo la gli le e è un una di da del della che non per con su mi mio mia ho ha sono come "
        "perché quando ciao grazie ma anche ancora nel nella al alla questo questa vostro vorrei "
        "ti si".split()
    ),
    "pt": frozenset(
        "o a os as e é um uma de do da dos das que não em no na para por com meu minha eu você seu sua "
        "se mas como porque quando obrigado obrigada olá está foi tenho ao já também nós".split()
    ),
    "nl": frozenset(
        "de het een en is niet ik mijn je jij u uw we wij van voor met op te dat die er maar hoe "
        "waarom wanneer wat zijn heb heeft kan nog ook naar bedankt hallo graag dank geen deze".split()
    ),
}


# A word shared by several languages is weak evidence for each of them.
_WEIGHTS: dict[str, dict[str, float]] = {}


# Letters that only some of the languages use.
for _lang, _words in _STOP_WORDS.items():
    for _word in _words:
        _WEIGHTS.setdefault(_word, {})[_lang] = 0.0
for _word, _langs in _WEIGHTS.items():
    for _lang in _langs:
        _langs[_lang] = 1.0 / len(_langs)


_LETTERS = {"de": "äöüß", "fr": "çœêèàùâîû", "es": "ñ¿¡á", "pt": "ãõç", "it": "ìò"}


_MIN_SCORE = 1.5


def detect_language(text: str) -> str | None:
    """Guess en/de/fr/es/it/pt/nl from stop words; None when the text is too short or too mixed to tell."""
    scores = dict.fromkeys(_STOP_WORDS, 0.0)
    for token in re.findall(r"[^\W\d_]+", text.lower()):
        for lang, weight in _WEIGHTS.get(token, {}).items():
            scores[lang] += weight
    lowered = text.lower()
    for lang, letters in _LETTERS.items():
        scores[lang] += 0.5 * sum(1 for ch in set(letters) if ch in lowered)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, runner_up) = ranked[0], ranked[1]
    # Too little evidence or a near tie: say nothing rather than reject a good draft.
    if top < _MIN_SCORE or top < 1.3 * runner_up:
        return None
    return best


# Capitalised words that are not people's names and may appear in a reply without being in the ticket.
COMMON_PROPER = frozenset(
    {
        "i",
        "apple",
        "google",
        "pay",
        "wallet",
        "visa",
        "mastercard",
        "maestro",
        "sepa",
        "swift",
        "atm",
        "pin",
        "iban",
        "app",
        "store",
        "android",
        "iphone",
        "card",
        "cards",
        "payments",
        "profile",
        "home",
        "help",
        "support",
        "team",
        "customer",
        "service",
        "services",
        "security",
        "fraud",
        "exchange",
        "settings",
        "freeze",
        "report",
        "bank",
        "euro",
        "euros",
        "uk",
        "us",
        "eu",
        "ok",
        "english",
        "thank",
        "thanks",
        "please",
        "sorry",
        "hello",
        "hi",
        "dear",
    }
)
