"""Ranking utilities: ASNG's plain ranking and its importance-weighted generalisation.

Lower objective values are better. Only the ranking of the values matters, so the
objective may be noisy or of any scale (ASNG-NAS, Akimoto et al., ICML 2019, eq. 9).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Quantile below which a sample counts as good (utility +1) and above which, mirrored,
#: as bad (utility -1): the best and worst quarters.
QUARTER = 0.25


def ranking_utility(f: FloatArray) -> FloatArray:
    """ASNG's utility: best ``ceil(n/4)`` get +1, worst ``ceil(n/4)`` get -1, others 0.

    Tied values share the mean of the utilities their ranks would get.
    """
    f = np.asarray(f, dtype=np.float64)
    n = f.size
    k = int(np.ceil(n * QUARTER))
    by_rank = np.zeros(n)
    by_rank[:k] += 1.0
    by_rank[n - k :] -= 1.0
    order = np.argsort(f, kind="stable")
    u = np.empty(n)
    u[order] = by_rank
    for value in np.unique(f):
        tied = f == value
        if tied.sum() > 1:
            u[tied] = u[tied].mean()
    return u


def weighted_ranking_utility(f: FloatArray, w: FloatArray) -> FloatArray:
    """Utility of samples that carry normalised importance weights (ISNAS, section 3).

    Samples sorted by ``f`` cover consecutive quantile intervals whose lengths are their
    weights; a sample's utility is the average of W(q) over its interval. Tied values are
    merged into one interval and share its average. With equal weights and ``n`` a
    multiple of 4 (or ``n = 2``) this is ASNG's ranking up to a positive scale.

    Args:
        f: objective values, shape ``(n,)``; lower is better.
        w: non-negative weights, shape ``(n,)``, summing to a positive number (they are
            normalised here).

    Returns:
        Utilities in ``[-1, 1]``, shape ``(n,)``. A zero-weight sample gets the utility
        of the point it occupies, which does not matter since its gradient weight is 0.
    """
    f = np.asarray(f, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    total = w.sum()
    if f.shape != w.shape or f.ndim != 1:
        raise ValueError(f"f and w must be 1-D of equal length, got {f.shape} and {w.shape}.")
    if not total > 0:
        raise ValueError("weights must have a positive sum.")
    # Plain Python: pools hold a few to a few hundred samples, where numpy's per-call
    # overhead dominates; the arithmetic (sequential sums, clipping) is numpy's.
    values = f.tolist()
    weights = (w / total).tolist()
    order = sorted(range(len(values)), key=values.__getitem__)  # stable, like argsort
    groups: list[list[int]] = []
    group_w: list[float] = []
    for i in order:
        if groups and values[i] == values[groups[-1][0]]:
            groups[-1].append(i)
            group_w[-1] += weights[i]
        else:
            groups.append([i])
            group_w.append(weights[i])
    running = 0.0
    cumulative = []
    for gw in group_w:
        running += gw
        cumulative.append(running)
    end = cumulative[-1]
    u = np.empty(len(values))
    for members, gw, up in zip(groups, group_w, cumulative):
        upper = min(up / end, 1.0)  # the sum can end 1 ulp above 1
        lower = upper - gw
        width = upper - lower
        if width > 1e-15:
            good = min(max(upper, 0.0), QUARTER) - min(max(lower, 0.0), QUARTER)
            bad = min(max(upper, 1.0 - QUARTER), 1.0) - min(max(lower, 1.0 - QUARTER), 1.0)
            mean = (good - bad) / width
        else:
            centre = 0.5 * (lower + upper)
            mean = 1.0 if centre < QUARTER else (-1.0 if centre > 1.0 - QUARTER else 0.0)
        u[members] = mean
    return u
