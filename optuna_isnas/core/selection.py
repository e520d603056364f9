"""Choosing the returned family from scored candidates: one architecture per distribution.

Every distribution k ranks candidates by its own key (lower is better; ``inf`` where k must not
return a candidate, e.g. over its budget). Two rules make the family worth more than K
independent choices (docs/algorithm.md, "What the search returns"):

* **Distinct and non-dominated** (``distinct=True``, trade-off mode): the K choices are different
  architectures, taken from the candidates that no other candidate dominates in (loss,
  complexity). A distribution whose best candidate another distribution took gets its next
  best, so the family covers K points of the front instead of repeating one; adding a distinct
  non-dominated point never lowers the family's hypervolume.
* **Who yields.** When two distributions want the same candidate, the one that would lose more
  by taking its second choice gets it (the largest difference between its second and first key:
  Vogel's rule for assignment problems), ties to the lower index.

With ``distinct=False`` (budget mode) each distribution simply takes its best candidate: two
budgets may share an architecture when nothing between them is better.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def pareto_mask(losses: FloatArray, complexities: FloatArray) -> NDArray[np.bool_]:
    """True for every point no other point dominates (of identical points, the first is kept)."""
    n = losses.size
    keep = np.ones(n, dtype=bool)
    order = np.lexsort((np.arange(n), losses, complexities))  # by complexity, then loss
    best = np.inf
    for i in order:
        if losses[i] < best:
            best = losses[i]
        else:
            keep[i] = False
    return keep


def choose_family(
    keys: Sequence[FloatArray],
    losses: FloatArray,
    complexities: FloatArray,
    *,
    distinct: bool,
    allowed: NDArray[np.bool_] | None = None,
) -> list[int | None]:
    """Index of the candidate each distribution returns (None where it has none).

    Args:
        keys: per distribution, the key of every candidate (lower is better, ``inf`` = never).
        losses, complexities: of every candidate (for the dominance test).
        distinct: distinct, non-dominated choices (see the module docstring).
        allowed: candidates eligible for the distinct choice (default: all); dominance is
            judged among them. A distribution left without an eligible distinct candidate
            falls back to its best key among the candidates not chosen yet (a distinct model,
            even if dominated), and only then to a repeat.
    """
    n = losses.size
    chosen: list[int | None] = [None] * len(keys)
    if n == 0:
        return chosen
    if not distinct:
        for k, key in enumerate(keys):
            chosen[k] = _best(key, np.ones(n, dtype=bool))
        return chosen
    eligible = np.ones(n, dtype=bool) if allowed is None else allowed.copy()
    if eligible.any():
        idx = np.flatnonzero(eligible)
        eligible[idx[~pareto_mask(losses[idx], complexities[idx])]] = False
    open_k = list(range(len(keys)))
    while open_k:
        picks: list[tuple[float, int, int]] = []  # (-regret, k, candidate)
        for k in open_k:
            order = _order(keys[k], eligible)
            if not order:
                continue
            first = float(keys[k][order[0]])
            second = float(keys[k][order[1]]) if len(order) > 1 else np.inf
            picks.append((-(second - first), k, order[0]))
        if not picks:
            break
        _, k, c = min(picks)
        chosen[k] = c
        eligible[c] = False
        open_k.remove(k)
    # Fewer non-dominated candidates than distributions: a distinct candidate before a repeat.
    taken = np.zeros(n, dtype=bool)
    taken[[c for c in chosen if c is not None]] = True
    for k in open_k:
        fresh = _best(keys[k], ~taken)
        chosen[k] = fresh if fresh is not None else _best(keys[k], np.ones(n, dtype=bool))
        if fresh is not None:
            taken[fresh] = True
    return chosen


def _order(key: FloatArray, eligible: NDArray[np.bool_]) -> list[int]:
    """Eligible candidates with a finite key, best first (ties: lower index)."""
    idx = np.flatnonzero(eligible & np.isfinite(key))
    return [int(i) for i in idx[np.argsort(key[idx], kind="stable")]]


def _best(key: FloatArray, eligible: NDArray[np.bool_]) -> int | None:
    order = _order(key, eligible)
    return order[0] if order else None
