""" "None of these": how far a ticket lies from every training ticket, in the encoder's embedding space."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCOPE_FILE = "scope.npz"
ROWS = 1024  # similarity rows computed at once: 1,024 x 10,000 floats is 40 MB


@dataclass(frozen=True)
class Scope:
    """The training tickets' unit-length embeddings, and the distance beyond which a ticket fits none of them.

    A ticket's distance is 1 minus its mean cosine similarity to its k nearest training tickets. The limit
    is a quantile of the same distance measured on the training tickets themselves, each without itself
    (leave-one-out), so it is calibrated on training data only: about (1 - quantile) of in-scope tickets
    are flagged, and every ticket unlike all of them.
    """

    embeddings: np.ndarray
    k: int
    limit: float
    quantile: float

    def distance(self, embeddings: np.ndarray) -> np.ndarray:
        return _knn_distance(embeddings.astype(np.float32), self.embeddings, self.k, leave_one_out=False)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            embeddings=self.embeddings.astype(np.float16),
            k=np.array(self.k),
            limit=np.array(self.limit),
            quantile=np.array(self.quantile),
        )

    @classmethod
    def load(cls, path: Path) -> Scope:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                embeddings=data["embeddings"].astype(np.float32),
                k=int(data["k"]),
                limit=float(data["limit"]),
                quantile=float(data["quantile"]),
            )


def calibrate_scope(embeddings: np.ndarray, *, k: int = 5, quantile: float = 0.95) -> Scope:
    """The scope of a model trained on these (unit-length) embeddings, its limit from leave-one-out distances."""
    train = np.ascontiguousarray(embeddings, dtype=np.float32)
    k = max(1, min(k, len(train) - 1))
    own = _knn_distance(train, train, k, leave_one_out=True)
    return Scope(embeddings=train, k=k, limit=round(float(np.quantile(own, quantile)), 4), quantile=quantile)


def _knn_distance(queries: np.ndarray, train: np.ndarray, k: int, *, leave_one_out: bool) -> np.ndarray:
    out = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), ROWS):
        sims = queries[start : start + ROWS] @ train.T
        if leave_one_out:
            rows = np.arange(sims.shape[0])
            sims[rows, rows + start] = -np.inf
        nearest = np.partition(sims, -k, axis=1)[:, -k:]
        out[start : start + ROWS] = 1.0 - nearest.mean(axis=1)
    return out
