"""What every export reader shares: a JSON file or JSON lines of pages (or of items), flattened to items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def items(path: Path, key: str) -> Iterator[Any]:
    """Items from one page ({key: [...]}), a list, or JSON lines of either; pages of any size."""
    text = path.read_text(encoding="utf-8")
    try:
        documents = [json.loads(text)]
    except json.JSONDecodeError:
        documents = [json.loads(line) for line in text.splitlines() if line.strip()]
    for doc in documents:
        found = doc.get(key) if isinstance(doc, dict) and key in doc else doc
        yield from found if isinstance(found, list) else [found]
