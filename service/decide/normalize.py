"""The one text normalisation that training and serving share."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

_TAG = re.compile(r"<[^>]+>")
_QUOTED_REPLY = re.compile(r"^\s*>.*$", re.MULTILINE)
_SPACE = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_DIGITS = re.compile(r"\d")

MAX_CHARS = 4000


def ticket_text(subject: str, body: str) -> str:
    """Join subject and body the way the models were trained to see them."""
    subject, body = subject.strip(), body.strip()
    if subject and body and not body.startswith(subject):
        return f"{subject}. {body}"
    return body or subject


def normalize(text: str) -> str:
    """Strip markup, quoted replies, URLs and addresses; fold unicode and case; mask digits."""
    text = unicodedata.normalize("NFKC", text)
    text = html.unescape(_TAG.sub(" ", text))
    text = _QUOTED_REPLY.sub(" ", text)
    text = _URL.sub(" url ", text)
    text = _EMAIL.sub(" email ", text)
    # Digits carry amounts and ids, not intent; masking keeps vocabularies small.
    text = _DIGITS.sub("0", text)
    text = _SPACE.sub(" ", text).strip().lower()
    return text[:MAX_CHARS]


def normalize_batch(texts: Iterable[str]) -> list[str]:
    """Vectorised form for scikit-learn's FunctionTransformer inside saved artefacts."""
    return [normalize(t) for t in texts]
