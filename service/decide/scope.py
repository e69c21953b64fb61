""" "None of these": how far a ticket lies from every training ticket, in the encoder's embedding space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCOPE_FILE = "scope.npz"
ROWS = 1024  # similarity rows computed at once: 1,024 x 10,000 floats is 40 MB
# A label's typical distance is shrunk toward all labels' with a prior worth this many tickets, so that a label
# with a handful of tickets does not set its own yardstick from them alone.
PRIOR_TICKETS = 10
# The share of training tickets within the limit. Chosen on training data alone (`bench/oos.py --probe`: a
# quarter of the known intents held out of a fine-tuned encoder's training): the highest quantile that kept
# 90 % of the unseen intents' tickets from auto-routing at the 99 % promise. The routing file may set another.
QUANTILE = 0.875


@dataclass(frozen=True)
class Scope:
    """The training tickets' unit-length embeddings, and the distance beyond which a ticket fits none of them.

    A ticket's raw distance is 1 minus its mean cosine similarity to its k nearest training tickets. It is
    measured against what those tickets' own labels usually show: less their labels' median leave-one-out
    distance (`offsets`), over their labels' spread of it (`scales`, 90th less 10th percentile), one of each
    per training ticket. Some intents are tight and some loose: a ticket off a tight label stands out even
    where a loose label's own tickets lie as far apart, and a loose label's tickets do not fill the tail the
    limit is read from (Banking77 with a quarter of its intents held out: AUROC 0.927 -> 0.954 for the
    fine-tuned encoder, 0.924 -> 0.935 for the frozen family; BENCHMARKS.md). The limit is a quantile of the
    same distance measured on the training tickets themselves, each without itself (leave-one-out), so it is
    calibrated on training data only: about (1 - quantile) of in-scope tickets are flagged, and every ticket
    unlike all of them. The routing file may read the limit at another quantile (`limit_at`). A scope saved
    without offsets (models trained before them) measures the raw distance.
    """

    embeddings: np.ndarray
    k: int
    limit: float
    quantile: float
    offsets: np.ndarray | None = None
    scales: np.ndarray | None = None
    _limits: dict[float, float] = field(default_factory=dict, repr=False, compare=False)

    def distance(self, embeddings: np.ndarray) -> np.ndarray:
        queries = embeddings.astype(np.float32)
        return _measured(*_neighbours(queries, self.embeddings, self.k, leave_one_out=False), self.yardsticks)

    def own_distances(self) -> np.ndarray:
        """Each training ticket's distance to the others (leave-one-out): what the limit is a quantile of."""
        return _measured(*_neighbours(self.embeddings, self.embeddings, self.k, leave_one_out=True), self.yardsticks)

    def limit_at(self, quantile: float | None) -> float:
        """The limit at this quantile of the training tickets' own distances; the trained one for None."""
        if quantile is None or quantile == self.quantile:
            return self.limit
        if quantile not in self._limits:  # computed once: it measures every training ticket against the rest
            self._limits[quantile] = round(float(np.quantile(self.own_distances(), quantile)), 4)
        return self._limits[quantile]

    @property
    def yardsticks(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None if self.offsets is None or self.scales is None else (self.offsets, self.scales)

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "embeddings": self.embeddings.astype(np.float16),
            "k": np.array(self.k),
            "limit": np.array(self.limit),
            "quantile": np.array(self.quantile),
        }
        if self.yardsticks is not None:
            arrays["offsets"], arrays["scales"] = (a.astype(np.float32) for a in self.yardsticks)
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
                scales=data["scales"].astype(np.float32) if "scales" in data.files else None,
            )

    def without(self, rows: np.ndarray) -> Scope:
        """The same scope without some training tickets (to measure those tickets as if they were new)."""
        rest = np.delete(self.embeddings, rows, axis=0)
        offsets, scales = (None if a is None else np.delete(a, rows) for a in (self.offsets, self.scales))
        return Scope(rest, max(1, min(self.k, len(rest))), self.limit, self.quantile, offsets, scales)


def calibrate_scope(
    embeddings: np.ndarray, labels: Sequence[str] | None = None, *, k: int = 5, quantile: float = QUANTILE
) -> Scope:
    """The scope of a model trained on these (unit-length) embeddings and their labels, its limit from
    leave-one-out distances. Without labels, every label is taken to spread alike (the plain distance)."""
    train = np.ascontiguousarray(embeddings, dtype=np.float32)
    k = max(1, min(k, len(train) - 1))
    nearest, distances = _neighbours(train, train, k, leave_one_out=True)  # once: both passes share them
    yardsticks = None if labels is None else label_yardsticks(distances.mean(axis=1), labels)
    own = _measured(nearest, distances, yardsticks)
    offsets, scales = yardsticks or (None, None)
    limit = round(float(np.quantile(own, quantile)), 4)
    return Scope(train, k, limit, quantile, offsets, scales)


def label_yardsticks(own: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """For each training ticket, its label's median leave-one-out distance and the spread of those distances
    (90th less 10th percentile), each shrunk toward all tickets' own."""
    y = np.asarray(labels)
    overall_median, overall_spread = float(np.median(own)), _spread(own)
    offsets, scales = np.empty(len(own), dtype=np.float32), np.empty(len(own), dtype=np.float32)
    for label in np.unique(y):
        rows = y == label
        n = int(rows.sum())
        offsets[rows] = _shrunk(float(np.median(own[rows])), overall_median, n)
        scales[rows] = _shrunk(_spread(own[rows]), overall_spread, n)
    return offsets, np.maximum(scales, 1e-6)  # identical tickets have no spread: never divide by 0


def _shrunk(own: float, overall: float, n: int) -> float:
    return (n * own + PRIOR_TICKETS * overall) / (n + PRIOR_TICKETS)


def _spread(distances: np.ndarray) -> float:
    return float(np.quantile(distances, 0.9) - np.quantile(distances, 0.1))


def _neighbours(
    queries: np.ndarray, train: np.ndarray, k: int, *, leave_one_out: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k nearest training tickets, and 1 - cosine similarity to each."""
    nearest = np.empty((len(queries), k), dtype=np.int64)
    distances = np.empty((len(queries), k), dtype=np.float64)
    for start in range(0, len(queries), ROWS):
        sims = queries[start : start + ROWS] @ train.T
        if leave_one_out:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
        part = np.argpartition(sims, -k, axis=1)[:, -k:]
        nearest[start : start + ROWS] = part
        distances[start : start + ROWS] = 1.0 - np.take_along_axis(sims, part, axis=1)
    return nearest, distances


def _measured(
    nearest: np.ndarray, distances: np.ndarray, yardsticks: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray:
    """Mean distance to the nearest tickets, against their labels' median and spread when the scope has them."""
    distance: np.ndarray = distances.mean(axis=1)
    if yardsticks is None:
        return distance
    offsets, scales = yardsticks
    relative: np.ndarray = (distance - offsets[nearest].mean(axis=1)) / scales[nearest].mean(axis=1)
    return relative
