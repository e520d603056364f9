"""Exact 2-D hypervolume, Pareto front and best-subset selection of the comparison, against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas.compare.hypervolume import best_subset, hypervolume, pareto_front


def grid_hypervolume(points, reference, n=400):
    """Area dominated inside the reference box, by counting cell centres of an n x n grid (for tests)."""
    rx, ry = reference
    xs = (np.arange(n) + 0.5) * rx / n
    ys = (np.arange(n) + 0.5) * ry / n
    gx, gy = np.meshgrid(xs, ys)
    covered = np.zeros_like(gx, dtype=bool)
    for x, y in points:
        covered |= (gx >= x) & (gy >= y)
    return covered.mean() * rx * ry


def exact_union_area(points, reference):
    """Inclusion-exclusion over all subsets: the union of the boxes [x, rx] x [y, ry]."""
    rx, ry = reference
    boxes = [(x, y) for x, y in points if x < rx and y < ry]
    total = 0.0
    for r in range(1, len(boxes) + 1):
        for subset in itertools.combinations(boxes, r):
            x = max(b[0] for b in subset)
            y = max(b[1] for b in subset)
            total += (-1) ** (r + 1) * (rx - x) * (ry - y)
    return total


def test_known_values():
    assert hypervolume([], (1, 1)) == 0.0
    assert hypervolume([(0.5, 0.5)], (1, 1)) == pytest.approx(0.25)
    assert hypervolume([(0.2, 0.6), (0.6, 0.2)], (1, 1)) == pytest.approx(0.8 * 0.4 + 0.4 * 0.4)
    # dominated and outside points change nothing
    assert hypervolume(
        [(0.2, 0.6), (0.6, 0.2), (0.7, 0.7), (1.5, 0.1), (0.1, 1.0)], (1, 1)
    ) == pytest.approx(0.48)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1.2), st.floats(0, 1.2)), min_size=0, max_size=7))
def test_hypervolume_equals_inclusion_exclusion(points):
    assert hypervolume(points, (1.0, 1.1)) == pytest.approx(
        exact_union_area(points, (1.0, 1.1)), abs=1e-12
    )


def test_hypervolume_agrees_with_a_grid():
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 1, size=(30, 2))
    assert hypervolume(points, (1, 1)) == pytest.approx(grid_hypervolume(points, (1, 1)), abs=5e-3)


def test_pareto_front_is_sorted_non_dominated_and_keeps_duplicates_once():
    points = [(3, 1), (1, 3), (2, 2), (2, 2), (2, 3), (4, 4), (1, 4)]
    front = pareto_front(points)
    assert [points[i] for i in front] == [(1, 3), (2, 2), (3, 1)]


def test_bad_shapes_and_values_are_clear_errors():
    with pytest.raises(ValueError, match="shape"):
        hypervolume([1, 2, 3], (1, 1))
    with pytest.raises(ValueError, match="finite"):
        hypervolume([(float("nan"), 0.1)], (1, 1))
    with pytest.raises(ValueError, match="k must be"):
        best_subset([(0.1, 0.1)], 0, (1, 1))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=8), st.integers(1, 4)
)
def test_best_subset_is_optimal(points, k):
    reference = (1.0, 1.0)
    chosen = best_subset(points, k, reference)
    assert len(chosen) <= k and len(set(chosen)) == len(chosen)
    best = max(
        (
            hypervolume([points[i] for i in combo], reference)
            for r in range(1, min(k, len(points)) + 1)
            for combo in itertools.combinations(range(len(points)), r)
        ),
        default=0.0,
    )
    assert hypervolume([points[i] for i in chosen], reference) == pytest.approx(best, abs=1e-12)
