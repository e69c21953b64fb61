"""Which int8 answers could be routed otherwise in fp32, and so are computed again in fp32.

int8 moves the log-odds of every label with at least FLOOR probability by at most `log_odds`, and the scope
distance by at most `scope` (bounds measured on training tickets when the model was published,
training/quantize.py). Log-odds, not probability: int8's probability moves shrink toward 0 and 1, so one
bound in probability is far too wide for a confident ticket and still too narrow for an unsure one. An
answer further than the bounds from each border its routing depends on is routed exactly as the fp32 graph
would route it; only the others need the fp32 graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.decide.thresholds import NEVER

# Labels under this probability in both graphs are left out of the log-odds bound: far from any threshold,
# their log-odds move most and matter least.
FLOOR = 0.05


@dataclass(frozen=True)
class Margins:
    """How far int8 may move a ticket's log-odds (any label of FLOOR probability or more) and scope distance."""

    log_odds: float
    scope: float


def log_odds(p: np.ndarray) -> np.ndarray:
    # In float64: 1 - 1e-12 is 1.0 in float32, and two certain answers would differ by inf - inf.
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    out: np.ndarray = np.log(p) - np.log1p(-p)
    return out


def needs_exact(
    proba: np.ndarray,
    cuts: np.ndarray,
    margins: Margins,
    distances: np.ndarray | None = None,
    limit: float | None = None,
) -> np.ndarray:
    """For each row of int8 probabilities, whether fp32 could route it differently.

    `cuts` holds each label's threshold (NEVER or above: the label is never auto-routed). A ticket is clearly
    auto-routed when its top label clears its cut by the margin and keeps more than half the probability after
    it (so fp32's top label is the same); clearly not when every label is short of its cut by the margin, or
    when it lies beyond the scope limit by the scope margin. A label under FLOOR whose cut is not above FLOOR
    is never clearly short: the bound says nothing of labels that stay under FLOOR.
    """
    m = margins.log_odds
    rows = np.arange(len(proba))
    never = cuts >= NEVER
    cut_odds = np.where(never, np.inf, log_odds(np.where(never, 0.5, cuts)))
    odds = log_odds(proba)
    top = proba.argmax(axis=1)
    best = odds[rows, top]
    clearly_routed = (best - cut_odds[top] >= m) & (best - m > 0)
    short = (odds - cut_odds[None, :] < -m) & ((proba >= FLOOR) | (cuts[None, :] > FLOOR))
    clearly_not = short.all(axis=1)
    if distances is None or limit is None:
        sure: np.ndarray = clearly_routed | clearly_not
        return ~sure
    scope_near = np.abs(distances - limit) <= margins.scope
    clearly_out = distances - limit > margins.scope
    near: np.ndarray = scope_near | ~(clearly_routed | clearly_not | clearly_out)
    return near
