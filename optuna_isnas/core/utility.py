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


def _quarter_integral(a: FloatArray, b: FloatArray) -> FloatArray:
    """Integral over ``[a, b]`` of W(q) = +1 (q < 1/4), 0 (1/4..3/4), -1 (q > 3/4)."""
    good = np.clip(b, 0.0, QUARTER) - np.clip(a, 0.0, QUARTER)
    bad = np.clip(b, 1.0 - QUARTER, 1.0) - np.clip(a, 1.0 - QUARTER, 1.0)
    return good - bad


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
    w = w / total
    order = np.argsort(f, kind="stable")
    f_sorted = f[order]
    # Group index of each sorted sample: consecutive equal values form one group.
    group = np.concatenate(([0], np.cumsum(f_sorted[1:] != f_sorted[:-1])))
    group_w = np.bincount(group, weights=w[order])
    upper = np.cumsum(group_w)
    upper = np.minimum(upper / upper[-1], 1.0)  # the sum can end 1 ulp above 1
    lower = upper - group_w
    integral = _quarter_integral(lower, upper)
    width = upper - lower
    centre = 0.5 * (lower + upper)
    point = np.where(centre < QUARTER, 1.0, np.where(centre > 1.0 - QUARTER, -1.0, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(width > 1e-15, integral / np.where(width > 0, width, 1.0), point)
    u = np.empty_like(f)
    u[order] = mean[group]
    return u
