"""Read labelled examples and split them without leakage."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sklearn.model_selection import train_test_split

from integrations.catalog import export_formats, read_export
from service.core.csvcells import uncell
from service.decide.normalize import with_context

FORMATS = ("csv", *export_formats())


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
            text, label = uncell(row[text_column] or "").strip(), uncell(row[label_column] or "").strip()
            if not text or not label or text in seen:
                continue
            seen.add(text)
            texts.append(text)
            labels.append(label)
    if not texts:
        raise ValueError(f"{path}: no labelled rows")
    return Examples(texts, labels, digest)


def read_examples(
    path: Path,
    *,
    fmt: str = "csv",
    text_column: str = "text",
    label_column: str = "category",
    label_field: str | None = None,
) -> tuple[Examples, dict[str, int]]:
    """Read labelled examples from a generic CSV or a helpdesk export; also say what was skipped and why."""
    if fmt == "csv":
        return read_csv(path, text_column=text_column, label_column=label_column), {}
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {FORMATS}")
    if not label_field:
        raise ValueError(f"--label-field is required with --format {fmt}")
    rows, skipped = read_export(fmt, path, label_field=label_field)
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    for row in rows:
        text = with_context(row.text, row.context)  # as the webhook path will show the model
        if text in seen:
            skipped["duplicate text"] += 1
            continue
        seen.add(text)
        texts.append(text)
        labels.append(row.label)
    if not texts:
        raise ValueError(f"{path}: no labelled {fmt} tickets (skipped: {dict(skipped)})")
    return Examples(texts, labels, hashlib.sha256(path.read_bytes()).hexdigest()), dict(skipped)


def drop_rare(examples: Examples, min_count: int) -> tuple[Examples, dict[str, int]]:
    """Leave out labels with fewer than `min_count` examples (too few to learn or to measure)."""
    counts: dict[str, int] = {}
    for label in examples.labels:
        counts[label] = counts.get(label, 0) + 1
    rare = {label: n for label, n in counts.items() if n < min_count}
    keep = [i for i, label in enumerate(examples.labels) if label not in rare]
    return Examples([examples.texts[i] for i in keep], [examples.labels[i] for i in keep], examples.sha256), rare


def stratified_split(labels: list[str], *, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a stratified, seeded split; labels too rare to stratify stay in the training part."""
    counts = Counter(labels)
    strat = [i for i, label in enumerate(labels) if counts[label] >= 2]
    rest = [i for i, label in enumerate(labels) if counts[label] < 2]
    n_labels = len({labels[i] for i in strat})
    n_hold = max(round(len(strat) * holdout), n_labels)  # at least one held-out example per label
    if n_labels == 0 or len(strat) - n_hold < n_labels:
        raise ValueError(
            f"{len(labels)} examples are too few to hold out {holdout:.0%} and keep every label in "
            "training; add data, lower --holdout or raise --min-count"
        )
    train_idx, hold_idx = train_test_split(
        strat, test_size=n_hold, random_state=seed, stratify=[labels[i] for i in strat]
    )
    return sorted(list(train_idx) + rest), sorted(hold_idx)


def split(examples: Examples, *, holdout: float, seed: int) -> tuple[Examples, Examples]:
    """Stratified, seeded split; classes too small to stratify stay in the training part."""
    train_idx, hold_idx = stratified_split(examples.labels, holdout=holdout, seed=seed)

    def pick(idx: list[int]) -> Examples:
        return Examples([examples.texts[i] for i in idx], [examples.labels[i] for i in idx], examples.sha256)

    return pick(train_idx), pick(hold_idx)
