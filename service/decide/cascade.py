"""Which int8 answers could be routed otherwise in fp32, and so are computed again in fp32.

int8 moves every served probability by at most `confidence` and the scope distance by at most `scope` (bounds
measured on training tickets when the model was published, training/quantize.py). An answer further than
that from each border its routing depends on is routed exactly as the fp32 graph would route it; only the
others need the fp32 graph. On Banking77 that is a minority of tickets, so the service runs at int8's speed
and routes as fp32 does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.decide.thresholds import NEVER


@dataclass(frozen=True)
class Margins:
    """How far int8 may move a ticket's served probabilities (any label) and its scope distance."""

    confidence: float
    scope: float


def needs_exact(
    proba: np.ndarray,
    cuts: np.ndarray,
    margins: Margins,
    distances: np.ndarray | None = None,
    limit: float | None = None,
) -> np.ndarray:
    """For each row of int8 probabilities, whether fp32 could route it differently.

    `cuts` holds each label's threshold (NEVER or above: the label is never auto-routed). A ticket is clearly
    auto-routed when its top label clears its cut by the margin and keeps more than half the probability
    after it (so fp32's top label is the same); clearly not when every label is short of its cut by the margin,
    or when it lies beyond the scope limit by the scope margin.
    """
    m = margins.confidence
    cuts = np.where(cuts >= NEVER, np.inf, cuts)
    rows = np.arange(len(proba))
    top = proba.argmax(axis=1)
    best = proba[rows, top]
    clearly_routed = (best - cuts[top] >= m) & (best - m > 0.5)
    clearly_not = (proba - cuts[None, :]).max(axis=1, initial=-np.inf) < -m
    if distances is None or limit is None:
        sure: np.ndarray = clearly_routed | clearly_not
        return ~sure
    scope_near = np.abs(distances - limit) <= margins.scope
    clearly_out = distances - limit > margins.scope
    near: np.ndarray = scope_near | ~(clearly_routed | clearly_not | clearly_out)
    return near
