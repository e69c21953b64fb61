""" "None of these": how far a ticket lies from every training ticket, in the encoder's embedding space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCOPE_FILE = "scope.npz"
ROWS = 1024  # similarity rows computed at once: 1,024 x 10,000 floats is 40 MB
# A label's typical distance is shrunk toward all labels' with a prior worth this many tickets, so that a label
# with a handful of tickets does not set its own yardstick from them alone.
PRIOR_TICKETS = 10


@dataclass(frozen=True)
class Scope:
    """The training tickets' unit-length embeddings, and the distance beyond which a ticket fits none of them.

    A ticket's distance is 1 minus its mean cosine similarity to its k nearest training tickets, less how far
    apart those tickets' own labels usually lie (`offsets`, one per training ticket: the median leave-one-out
    distance of its label's tickets). Some intents are tight and some loose: measured against what its
    neighbours' label usually shows, a ticket off a tight label stands out even where a loose label's own
    tickets lie as far apart (Banking77 with a quarter of its intents held out: AUROC 0.927 -> 0.946 for the
    fine-tuned encoder, 0.924 -> 0.934 for the frozen family; BENCHMARKS.md). The limit is a quantile of the
    same distance measured on the training tickets themselves, each without itself (leave-one-out), so it is
    calibrated on training data only: about (1 - quantile) of in-scope tickets are flagged, and every ticket
    unlike all of them. A scope saved without offsets (models trained before them) measures the plain distance.
    """

    embeddings: np.ndarray
    k: int
    limit: float
    quantile: float
    offsets: np.ndarray | None = None

    def distance(self, embeddings: np.ndarray) -> np.ndarray:
        return _knn_distance(embeddings.astype(np.float32), self.embeddings, self.k, self.offsets, leave_one_out=False)

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "embeddings": self.embeddings.astype(np.float16),
            "k": np.array(self.k),
            "limit": np.array(self.limit),
            "quantile": np.array(self.quantile),
        }
        if self.offsets is not None:
            arrays["offsets"] = self.offsets.astype(np.float32)
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> Scope:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                embeddings=data["embeddings"].astype(np.float32),
                k=int(data["k"]),
                limit=float(data["limit"]),
                quantile=float(data["quantile"]),
                offsets=data["offsets"].astype(np.float32) if "offsets" in data.files else None,
            )

    def without(self, rows: np.ndarray) -> Scope:
        """The same scope without some training tickets (to measure those tickets as if they were new)."""
        rest = np.delete(self.embeddings, rows, axis=0)
        offsets = None if self.offsets is None else np.delete(self.offsets, rows)
        return Scope(rest, max(1, min(self.k, len(rest))), self.limit, self.quantile, offsets)


def calibrate_scope(
    embeddings: np.ndarray, labels: Sequence[str] | None = None, *, k: int = 5, quantile: float = 0.95
) -> Scope:
    """The scope of a model trained on these (unit-length) embeddings and their labels, its limit from
    leave-one-out distances. Without labels, every label is taken to spread alike (the plain distance)."""
    train = np.ascontiguousarray(embeddings, dtype=np.float32)
    k = max(1, min(k, len(train) - 1))
    offsets = None
    if labels is not None:
        offsets = label_offsets(_knn_distance(train, train, k, None, leave_one_out=True), labels)
    own = _knn_distance(train, train, k, offsets, leave_one_out=True)
    return Scope(
        embeddings=train, k=k, limit=round(float(np.quantile(own, quantile)), 4), quantile=quantile, offsets=offsets
    )


def label_offsets(own: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Each training ticket's label's median leave-one-out distance, shrunk toward all tickets' median."""
    y = np.asarray(labels)
    overall = float(np.median(own))
    offsets = np.empty(len(own), dtype=np.float32)
    for label in np.unique(y):
        rows = y == label
        n = int(rows.sum())
        offsets[rows] = (n * float(np.median(own[rows])) + PRIOR_TICKETS * overall) / (n + PRIOR_TICKETS)
    return offsets


def _knn_distance(
    queries: np.ndarray, train: np.ndarray, k: int, offsets: np.ndarray | None, *, leave_one_out: bool
) -> np.ndarray:
    out = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), ROWS):
        sims = queries[start : start + ROWS] @ train.T
        if leave_one_out:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
        nearest = np.argpartition(sims, -k, axis=1)[:, -k:]
        distance = 1.0 - np.take_along_axis(sims, nearest, axis=1)
        if offsets is not None:
            distance = distance - offsets[nearest]
        out[start : start + ROWS] = distance.mean(axis=1)
    return out
