"""Exact two-objective Pareto fronts and hypervolume, both objectives minimised.

The hypervolume of a set is the area it dominates in the plane of (loss, complexity), bounded
by a reference point (Zitzler & Thiele, 1998). It defines the family the search aims at
(``optuna_isnas.core.family``: the best K points, the optimal mu-distribution of Auger, Bader,
Brockhoff and Zitzler, FOGA 2009) and scores what every method returns in the comparison.
Everything here is plain numpy and exact; ``best_subset`` picks the ``k`` points of largest
hypervolume (exact in 2-D, by dynamic programming over the front) and ``uncrowded_improvement``
the signed improvement that ranks samples in the Sofomore framework (Touré, Hansen, Auger, Brockhoff, GECCO 2019). ``log_hypervolume`` scores the
same points with the second objective on a log axis (``log_axis``: log10 mapped linearly from a
smallest value at 0 to the reference at 1), so that small models count as much as large ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_points(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        return pts.reshape(0, 2)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ValueError("points must be finite (a failed architecture has no place on a front)")
    return pts


def pareto_front(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points, sorted by the first objective (duplicates kept once).

    A point is dominated when another is no worse in both objectives and better in one.
    """
    pts = _as_points(points)
    order = np.lexsort((pts[:, 1], pts[:, 0]))  # first objective, ties by the second
    front: list[int] = []
    best_second = np.inf
    for i, second in zip(order.tolist(), pts[order, 1].tolist()):
        if second < best_second:
            front.append(i)
            best_second = second
    return np.asarray(front, dtype=int)


def hypervolume(
    points: Sequence[Sequence[float]] | np.ndarray, reference: Sequence[float] | np.ndarray
) -> float:
    """Area dominated by ``points`` inside the box below ``reference`` (exact).

    Points that do not strictly dominate the reference in both objectives add nothing.
    The empty set has hypervolume 0.
    """
    pts = _as_points(points)
    rx, ry = (float(v) for v in reference)
    pts = pts[(pts[:, 0] < rx) & (pts[:, 1] < ry)]
    if len(pts) == 0:
        return 0.0
    front = pts[pareto_front(pts)]
    # Strips between consecutive front points along the first objective: front x ascending, y descending.
    right = np.append(front[1:, 0], rx)
    return float(np.sum((right - front[:, 0]) * (ry - front[:, 1])))


def best_subset(
    points: Sequence[Sequence[float]] | np.ndarray, k: int, reference: Sequence[float] | np.ndarray
) -> list[int]:
    """Indices of at most ``k`` points whose hypervolume is the largest possible (exact, 2-D).

    Dynamic programming over the front sorted by the first objective: ``value[m][i]`` is the
    largest area of ``m`` front points whose leftmost is point ``i``. O(k n^2) for n front points.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    pts = _as_points(points)
    rx, ry = (float(v) for v in reference)
    inside = [int(i) for i in pareto_front(pts) if pts[i, 0] < rx and pts[i, 1] < ry]
    n = len(inside)
    if n <= k:
        return inside
    x = np.array([pts[i, 0] for i in inside] + [rx])
    h = np.array([ry - pts[i, 1] for i in inside])
    value = np.full((k + 1, n), -np.inf)
    nxt = np.full((k + 1, n), -1, dtype=int)
    value[1] = (rx - x[:n]) * h
    # strip[i, j]: the area point i owns when j is the next chosen point (j > i only).
    later = np.triu(np.ones((n, n), dtype=bool), 1)
    strip = np.where(later, (x[None, :n] - x[:n, None]) * h[:, None], -np.inf)
    for m in range(2, k + 1):
        # i is the leftmost point; the strip up to the next chosen point j belongs to i.
        gains = strip + value[m - 1][None, :]
        j = np.argmax(gains, axis=1)
        best = gains[np.arange(n), j]
        ok = np.isfinite(best)
        value[m] = np.where(ok, best, -np.inf)
        nxt[m] = np.where(ok, j, -1)
    m = k
    i = int(np.argmax(value[m]))
    chosen: list[int] = []
    while m >= 1 and i >= 0:
        chosen.append(inside[i])
        i, m = int(nxt[m][i]), m - 1
    return chosen


def _corners(front: np.ndarray, reference: Sequence[float]) -> np.ndarray:
    """Upper corners of the boxes that make up the region no point of ``front`` dominates.

    ``front``: non-dominated points inside the reference box, sorted by the first objective.
    The region below the reference that ``front`` leaves open is the union of the boxes
    ``{z : z < corner}``.
    """
    rx, ry = (float(v) for v in reference)
    xs = np.append(front[:, 0], rx)
    ys = np.insert(front[:, 1], 0, ry)
    return np.column_stack([xs, ys])


def uncrowded_improvement(
    candidates: Sequence[Sequence[float]] | np.ndarray,
    others: Sequence[Sequence[float]] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Uncrowded hypervolume improvement of each candidate with respect to ``others`` (exact).

    Touré, Hansen, Auger, Brockhoff (GECCO 2019): a candidate that ``others`` leave open adds
    area, ``HV(others + {c}) - HV(others)`` > 0; any other candidate (dominated, or outside
    the reference box) gets minus its Euclidean distance to the region where it would add
    area, so that it still ranks by how close it is. Vectorised, O(M m) for M candidates and
    m others.
    """
    cand = _as_points(candidates)
    rx, ry = (float(v) for v in reference)
    return _improvement(cand, _front_inside(_as_points(others), rx, ry), rx, ry)


def _front_inside(points: np.ndarray, rx: float, ry: float) -> np.ndarray:
    """The non-dominated points strictly inside the reference box, sorted by the first
    objective (duplicates once), as ``pareto_front`` orders them. Plain Python: ``points``
    are a family's few members."""
    inside = sorted(
        (float(x), float(y), i) for i, (x, y) in enumerate(points.tolist()) if x < rx and y < ry
    )
    front: list[tuple[float, float]] = []
    for x, y, _ in inside:
        if not front or y < front[-1][1]:
            front.append((x, y))
    return np.array(front, dtype=float).reshape(-1, 2)


def uncrowded_improvements(
    candidates: Sequence[Sequence[float]] | np.ndarray,
    members: Sequence[Sequence[float]] | np.ndarray,
    leave_out: Sequence[int | None],
    reference: Sequence[float] | np.ndarray,
) -> list[np.ndarray]:
    """``uncrowded_improvement(candidates, members without member j, reference)`` for every
    ``j`` of ``leave_out`` (None: all the members), with the candidates checked once."""
    cand = _as_points(candidates)
    pts = _as_points(members)
    rx, ry = (float(v) for v in reference)
    fronts = [
        _front_inside(pts if j is None else np.delete(pts, j, axis=0), rx, ry) for j in leave_out
    ]
    if max((len(f) for f in fronts), default=0) > _BATCHED_WIDTH:
        return [_improvement(cand, front, rx, ry) for front in fronts]
    return list(_improvements(cand, fronts, rx, ry))


#: Fronts up to this many points are scored together (``_improvements``): numpy then sums each
#: candidate's strips in the same order as ``_improvement`` does, so the results are identical.
_BATCHED_WIDTH = 8


def _improvements(cand: np.ndarray, fronts: list[np.ndarray], rx: float, ry: float) -> np.ndarray:
    """``_improvement`` for several fronts at once, ``(len(fronts), M)``: the fronts are padded
    with points at the reference, which cover no area, open no corner and dominate nothing."""
    f, m = len(fronts), len(cand)
    width = max((len(front) for front in fronts), default=0)
    fx, fy = np.full((f, width), rx), np.full((f, width), ry)
    real = np.zeros((f, width), dtype=bool)
    corner_x, corner_y = np.full((f, width + 1), -np.inf), np.full((f, width + 1), -np.inf)
    for i, front in enumerate(fronts):
        n = len(front)
        fx[i, :n], fy[i, :n], real[i, :n] = front[:, 0], front[:, 1], True
        corners = _corners(front, (rx, ry))
        corner_x[i, : n + 1], corner_y[i, : n + 1] = corners[:, 0], corners[:, 1]
    cx, cy = cand[None, :, None, 0], cand[None, :, None, 1]
    gx = np.maximum(cx - corner_x[:, None, :], 0.0)
    gy = np.maximum(cy - corner_y[:, None, :], 0.0)
    distance = np.sqrt(gx * gx + gy * gy).min(axis=2)
    px = np.minimum(cand[:, 0], rx)
    py = np.minimum(cand[:, 1], ry)
    x = np.maximum(fx[:, None, :], px[None, :, None])
    y = np.maximum(fy[:, None, :], py[None, :, None])
    right = np.concatenate([x[:, :, 1:], np.full((f, m, 1), rx)], axis=2)
    covered = ((right - x) * (ry - y)).sum(axis=2)
    gain = (rx - px)[None, :] * (ry - py)[None, :] - covered
    weak = np.any(real[:, None, :] & (fx[:, None, :] <= cx) & (fy[:, None, :] <= cy), axis=2)
    gain = np.where(weak, 0.0, gain)
    out: np.ndarray = np.where(distance > 0, -distance, np.maximum(gain, 0.0))
    return out


def _improvement(cand: np.ndarray, front: np.ndarray, rx: float, ry: float) -> np.ndarray:
    """``uncrowded_improvement`` given the others' front inside the box (``_front_inside``)."""
    corners = _corners(front, (rx, ry))
    gap = np.maximum(cand[:, None, :] - corners[None, :, :], 0.0)
    distance = np.sqrt((gap * gap).sum(axis=2)).min(axis=1)
    # The area the candidate adds: its box below the reference, minus the part the front
    # already covers there, which is the front's area with every point moved up to the
    # candidate (a staircase still sorted by the first objective).
    px = np.minimum(cand[:, 0], rx)[:, None]
    py = np.minimum(cand[:, 1], ry)[:, None]
    x = np.maximum(front[None, :, 0], px)
    y = np.maximum(front[None, :, 1], py)
    right = np.concatenate([x[:, 1:], np.full((len(cand), 1), rx)], axis=1)
    covered = ((right - x) * (ry - y)).sum(axis=1)
    gain = (rx - px[:, 0]) * (ry - py[:, 0]) - covered
    # A candidate that a point of the front weakly dominates adds exactly nothing; the
    # subtraction above leaves rounding residue (1e-16) there, which would break the exact ties
    # the rankings rely on.
    weak = np.any(np.all(front[None, :, :] <= cand[:, None, :], axis=2), axis=1)
    gain = np.where(weak, 0.0, gain)
    out: np.ndarray = np.where(distance > 0, -distance, np.maximum(gain, 0.0))
    return out


def log_axis(values: Sequence[float] | np.ndarray, smallest: float, reference: float) -> np.ndarray:
    """``log10(values)`` mapped linearly so that ``smallest`` -> 0 and ``reference`` -> 1.

    Values below ``smallest`` are placed at 0 (nothing in the space is smaller, so only an
    estimate of the smallest child can be undercut); values above ``reference`` land beyond 1,
    outside the reference box.
    """
    if not (0 < smallest < reference and np.isfinite(reference)):
        raise ValueError(
            f"the log axis needs 0 < smallest < reference, got smallest {smallest}, "
            f"reference {reference}"
        )
    v = np.asarray(values, dtype=float)
    if np.any(~np.isfinite(v)) or np.any(v <= 0):
        raise ValueError("values on a log axis must be positive and finite")
    low, high = np.log10(smallest), np.log10(reference)
    mapped: np.ndarray = np.maximum((np.log10(v) - low) / (high - low), 0.0)
    return mapped


def log_points(
    points: Sequence[Sequence[float]] | np.ndarray, smallest: float, reference: float
) -> np.ndarray:
    """``(first, second)`` points with the second objective put on :func:`log_axis`."""
    pts = _as_points(points).copy()
    if len(pts):
        pts[:, 1] = log_axis(pts[:, 1], smallest, reference)
    return pts


def log_hypervolume(
    points: Sequence[Sequence[float]] | np.ndarray,
    reference: Sequence[float] | np.ndarray,
    smallest: float,
) -> float:
    """Hypervolume with the second objective on a log axis (exact).

    ``reference = (r1, r2)`` is the reference point in the original units; the second objective
    ``y`` becomes ``(log10 y - log10 smallest) / (log10 r2 - log10 smallest)``, so the box is
    ``[0, r1] x [0, 1]`` and the value lies in ``[0, r1]``.
    """
    r1, r2 = (float(v) for v in reference)
    return hypervolume(log_points(points, smallest, r2), (r1, 1.0))
