"""Exact two-objective Pareto front and hypervolume (both objectives minimised).

Small and dependency-free apart from numpy, so the benchmark scores do not depend on
Optuna's private ``optuna._hypervolume`` module (the test suite cross-checks against it).
"""

from __future__ import annotations

import numpy as np


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an ``(n, 2)`` array (minimisation).

    A point is dominated when another point is no worse in both objectives and better in one.
    Duplicated non-dominated points are all kept (each is non-dominated).
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    n = len(pts)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    order = np.lexsort((pts[:, 1], pts[:, 0]))  # by x, then y
    best_y = np.inf
    prev = None
    for i in order:
        x, y = pts[i]
        if y < best_y:
            mask[i] = True
            best_y = y
            prev = (x, y)
        elif prev is not None and x == prev[0] and y == prev[1]:
            mask[i] = True  # exact duplicate of a front point
    return mask


def hypervolume_2d(points: np.ndarray, reference: tuple[float, float] | np.ndarray) -> float:
    """Exact area dominated by ``points`` and bounded by ``reference`` (minimisation).

    Points that do not strictly dominate the reference point in both objectives contribute
    nothing (they are ignored rather than rejected). An empty set has hypervolume 0.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    rx, ry = (float(v) for v in reference)
    pts = pts[(pts[:, 0] < rx) & (pts[:, 1] < ry)]
    if len(pts) == 0:
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]  # x ascending, ties by y
    area = 0.0
    best_y = ry
    # Sweep left to right keeping the running minimum of y: the front points are those that
    # lower it, and each adds the strip between its x and the next front point's x.
    front_x: list[float] = []
    front_y: list[float] = []
    for x, y in pts:
        if y < best_y:
            front_x.append(x)
            front_y.append(y)
            best_y = y
    front_x.append(rx)
    for i, y in enumerate(front_y):
        area += (front_x[i + 1] - front_x[i]) * (ry - y)
    return float(area)


def best_subset_2d(points: np.ndarray, k: int, reference: tuple[float, float] | np.ndarray) -> list[int]:
    """Indices of at most ``k`` rows of ``points`` whose hypervolume is the largest (exact, 2-D).

    Hypervolume subset selection by dynamic programming over the front sorted by the first
    objective: ``best[m][i]`` is the largest area of ``m`` front points whose leftmost is ``i``.
    O(k n^2) for n front points. Rows that are dominated or outside the reference never help.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    rx, ry = (float(v) for v in reference)
    inside = (pts[:, 0] < rx) & (pts[:, 1] < ry)
    cand = [i for i in np.flatnonzero(pareto_mask(pts) & inside)]
    # one representative per distinct point, sorted by x ascending (so y descending)
    seen: dict[tuple[float, float], int] = {}
    for i in cand:
        seen.setdefault((pts[i, 0], pts[i, 1]), int(i))
    front = sorted(seen.values(), key=lambda i: pts[i, 0])
    n = len(front)
    if n == 0 or k <= 0:
        return []
    k = min(k, n)
    x = np.array([pts[i, 0] for i in front] + [rx])
    h = np.array([ry - pts[i, 1] for i in front])
    best = np.full((k + 1, n), -np.inf)
    nxt = np.full((k + 1, n), -1, dtype=int)
    best[1] = (rx - x[:n]) * h
    for m in range(2, k + 1):
        for i in range(n):
            for j in range(i + 1, n):
                value = (x[j] - x[i]) * h[i] + best[m - 1][j]
                if value > best[m][i]:
                    best[m][i], nxt[m][i] = value, j
    m = k
    i = int(np.argmax(best[m]))
    chosen = []
    while m >= 1 and i >= 0:
        chosen.append(front[i])
        i, m = int(nxt[m][i]), m - 1
    return chosen
