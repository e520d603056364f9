"""Exact 2-D Pareto and hypervolume helpers for the benchmark scripts.

Thin names over the package's own implementation (``optuna_isnas.core.hypervolume``),
so the sampler benchmarks and ``optuna-isnas compare`` score with the same code.
"""

from __future__ import annotations

import numpy as np

from optuna_isnas.core.hypervolume import best_subset, hypervolume, pareto_front


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (both objectives minimised).

    Duplicates of a non-dominated point are all marked (``pareto_front`` lists one of them).
    """
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    front = points[pareto_front(points)]
    return (points[:, None, :] == front[None, :, :]).all(axis=2).any(axis=1)


def hypervolume_2d(points: np.ndarray, reference: tuple[float, float] | np.ndarray) -> float:
    """Exact area dominated by ``points`` below ``reference``."""
    return hypervolume(points, reference)


def best_subset_2d(
    points: np.ndarray, k: int, reference: tuple[float, float] | np.ndarray
) -> list[int]:
    """Indices of at most ``k`` points with the largest hypervolume (exact)."""
    return best_subset(points, k, reference)
