"""Combine labelled rows from several sources: deduplicate, handle rare labels, split without leakage."""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.core.csvcells import cells
from training.data import stratified_split
from training.sources import Row

SPLITS = ("auto", "time", "ticket")
RARE_POLICIES = ("merge", "drop")


@dataclass
class Prepared:
    """Rows ready to train on, and an account of every row that was left out or changed."""

    rows: list[Row]
    removed: Counter[str] = field(default_factory=Counter)
    rare: dict[str, int] = field(default_factory=dict)
    rare_policy: str = "merge"
    conflicts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "examples": len(self.rows),
            "removed": dict(self.removed),
            "rare_labels": self.rare,
            "rare_policy": self.rare_policy,
            "conflicting_duplicates": self.conflicts,
            "labels": dict(sorted(Counter(r.label for r in self.rows).items())),
        }


def text_key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def deduplicate(rows: list[Row]) -> Prepared:
    """One row per ticket and per text. Later sources win (list feedback last: an agent's verdict is newest)."""
    prepared = Prepared(rows=[])
    by_ticket: dict[str, Row] = {}
    for row in rows:
        if row.key in by_ticket:
            prepared.removed["same ticket in another source or twice (later one kept)"] += 1
        by_ticket[row.key] = row
    by_text: dict[str, Row] = {}
    for row in by_ticket.values():
        text = text_key(row.text)
        earlier = by_text.get(text)
        if earlier is not None:
            prepared.removed["same text as another ticket"] += 1
            if earlier.label != row.label:
                prepared.conflicts += 1
        by_text[text] = row  # identical texts on both sides of a split would leak; keep the later one
    prepared.rows = list(by_text.values())
    return prepared


def handle_rare(prepared: Prepared, *, min_count: int, policy: str, other_label: str) -> Prepared:
    """Labels with fewer than `min_count` tickets are merged into `other_label` or dropped."""
    if policy not in RARE_POLICIES:
        raise ValueError(f"rare-label policy {policy!r}: use one of {RARE_POLICIES}")
    counts = Counter(r.label for r in prepared.rows)
    rare = {label: n for label, n in sorted(counts.items()) if n < min_count and label != other_label}
    prepared.rare, prepared.rare_policy = rare, policy
    if policy == "merge":
        prepared.rows = [
            Row(r.text, other_label, r.key, r.source, r.created_at) if r.label in rare else r for r in prepared.rows
        ]
        merged = Counter(r.label for r in prepared.rows)[other_label]
        if 0 < merged < min_count:  # even together they are too few to learn or to measure
            prepared.removed[f"{other_label!r} still below {min_count} after merging"] += merged
            prepared.rows = [r for r in prepared.rows if r.label != other_label]
    else:
        dropped = [r for r in prepared.rows if r.label in rare]
        if dropped:
            prepared.removed[f"label with fewer than {min_count} tickets"] += len(dropped)
        prepared.rows = [r for r in prepared.rows if r.label not in rare]
    return prepared


@dataclass
class Split:
    train: list[Row]
    holdout: list[Row]
    method: str
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "train": len(self.train),
            "holdout": len(self.holdout),
            "notes": self.notes,
        }
        if self.method == "time" and self.holdout:
            out["holdout_from"] = min(r.created_at for r in self.holdout if r.created_at).isoformat()
        return out


def split_rows(rows: list[Row], *, method: str = "auto", holdout: float = 0.2, seed: int = 0) -> Split:
    """Hold out the newest tickets (time) or whole tickets at random, stratified (ticket); never one ticket twice."""
    if method not in SPLITS:
        raise ValueError(f"split {method!r}: use one of {SPLITS}")
    notes: list[str] = []
    dated = [r for r in rows if r.created_at is not None]
    if method == "auto":
        method = "time" if len(dated) >= 0.9 * len(rows) else "ticket"
        notes.append(f"auto: {len(dated)} of {len(rows)} tickets have a time, so the split is by {method}")
    if method == "time":
        if not dated:
            raise ValueError("--split time: no ticket has a time; give a time column or use --split ticket")
        dated.sort(key=lambda r: (r.created_at, r.key))
        cut = len(dated) - max(1, round(len(dated) * holdout))
        train, held = dated[:cut], dated[cut:]
        undated = [r for r in rows if r.created_at is None]
        if undated:
            notes.append(f"{len(undated)} tickets without a time train but are never held out")
        train += undated
    else:
        train, held = _by_ticket(rows, holdout=holdout, seed=seed)
    unseen = Counter(r.label for r in held if r.label not in {t.label for t in train})
    if unseen:
        notes.append(f"held-out labels never seen in training (they count as errors): {dict(unseen)}")
    return Split(train, held, method, notes)


def _by_ticket(rows: list[Row], *, holdout: float, seed: int) -> tuple[list[Row], list[Row]]:
    """Stratified over tickets: every ticket key goes wholly to one side; singletons stay in training."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[row.key].append(row)
    keys = sorted(groups)
    train_idx, hold_idx = stratified_split([groups[k][0].label for k in keys], holdout=holdout, seed=seed)
    return [r for i in train_idx for r in groups[keys[i]]], [r for i in hold_idx for r in groups[keys[i]]]


def write_csv(rows: list[Row], path: Path) -> str:
    """Write rows as the training CSV (`text`, `category` and provenance); return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "category", "key", "source", "created_at"])
        for r in rows:
            writer.writerow(cells([r.text, r.label, r.key, r.source, r.created_at.isoformat() if r.created_at else ""]))
    return hashlib.sha256(path.read_bytes()).hexdigest()
