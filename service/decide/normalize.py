"""The one text normalisation that training and serving share."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from integrations.catalog import model_fields

# Every pattern here is linear in the text: a tag cannot contain "<" (so "<a<a<a..." fails fast at each "<"), a
# quoted line is found without \s spanning newlines, and an address's parts are bounded.
_TAG = re.compile(r"<[^<>]+>")
_QUOTED_REPLY = re.compile(r"^[ \t]*>[^\n]*$", re.MULTILINE)
_SPACE = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+")
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b")
_DIGITS = re.compile(r"\d")

MAX_CHARS = 4000
# Text is cut to this before any pattern runs: a model reads MAX_CHARS of it, and markup rarely takes more than
# the rest. A body may be 256 KiB; no ticket needs that much read to be routed.
MAX_INPUT_CHARS = 8 * MAX_CHARS


def ticket_text(subject: str, body: str) -> str:
    """Join subject and body the way the models were trained to see them."""
    subject, body = subject[:MAX_INPUT_CHARS].strip(), body[:MAX_INPUT_CHARS].strip()
    if subject and body and not body.startswith(subject):
        return f"{subject}. {body}"
    return body or subject


def with_context(text: str, context: Sequence[str]) -> str:
    """The text a model reads: metadata values it was trained with (e.g. a project key) first, then the text."""
    shown = " ".join(str(c).strip() for c in context if str(c).strip())
    return f"[{shown}] {text}" if shown else text


def model_text(subject: str, body: str, source: str, meta: Mapping[str, Any]) -> str:
    """A stored ticket as its models read it: the source's model fields from its metadata, then the text."""
    return with_context(ticket_text(subject, body), [str(meta[f]) for f in model_fields(source) if meta.get(f)])


def normalize(text: str) -> str:
    """Strip markup, quoted replies, URLs and addresses; fold unicode and case; mask digits."""
    text = unicodedata.normalize("NFKC", text[:MAX_INPUT_CHARS])
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
