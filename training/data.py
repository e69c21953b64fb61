"""Read labelled examples and split them without leakage."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Examples:
    texts: list[str]
    labels: list[str]
    sha256: str


def read_csv(path: Path, *, text_column: str = "text", label_column: str = "category") -> Examples:
    """Read a labelled CSV, dropping empty rows and exact duplicate texts (first label wins)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {text_column, label_column} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
        for row in reader:
            text, label = (row[text_column] or "").strip(), (row[label_column] or "").strip()
            if not text or not label or text in seen:
                continue
            seen.add(text)
            texts.append(text)
            labels.append(label)
    if not texts:
        raise ValueError(f"{path}: no labelled rows")
    return Examples(texts, labels, digest)


def split(examples: Examples, *, holdout: float, seed: int) -> tuple[Examples, Examples]:
    """Stratified, seeded split; classes too small to stratify stay in the training part."""
    counts: dict[str, int] = {}
    for label in examples.labels:
        counts[label] = counts.get(label, 0) + 1
    strat_idx = [i for i, lab in enumerate(examples.labels) if counts[lab] >= 2]
    rest = [i for i, lab in enumerate(examples.labels) if counts[lab] < 2]
    strat_labels = [examples.labels[i] for i in strat_idx]
    n_classes = len(set(strat_labels))
    n_hold = max(int(round(len(strat_idx) * holdout)), n_classes)
    train_idx, hold_idx = train_test_split(strat_idx, test_size=n_hold, random_state=seed,
                                           stratify=strat_labels)
    train_idx = sorted(list(train_idx) + rest)

    def pick(idx: list[int]) -> Examples:
        return Examples([examples.texts[i] for i in idx], [examples.labels[i] for i in idx], examples.sha256)

    return pick(train_idx), pick(sorted(hold_idx))
