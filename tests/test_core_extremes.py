"""The space's least and most complex configurations from a fitted cost model
(core/extremes.py; docs/algorithm.md section 9, "Coverage")."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas.core.extremes import (
    EVALUATIONS_PER_COEFFICIENT,
    cost_extremes,
    n_coefficients,
)

NO_DEFAULTS = (
    (np.zeros(0, dtype=np.int64), np.zeros(0)),
    (np.zeros(0, dtype=np.int64), np.zeros(0)),
)


def defaults(d: int, n: int = 0, value: int = 0, unit: float = 0.5):
    row = (np.full(d, value, dtype=np.int64), np.full(n, unit))
    return row, row


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    d=st.integers(1, 6),
    c=st.integers(2, 5),
    n=st.integers(0, 2),
)
def test_a_product_of_per_variable_factors_gives_its_exact_categorical_ends(
    seed: int, d: int, c: int, n: int
) -> None:
    # log10 complexity is additive in the choices and linear in the numeric values: the model
    # is exact, so the ends are the per-variable argmin and argmax.
    rng = np.random.default_rng(seed)
    effects = rng.uniform(-1.0, 1.0, size=(d, c))
    slopes = rng.choice([-1.0, 1.0], size=n) * rng.uniform(0.2, 1.0, size=n)
    m = EVALUATIONS_PER_COEFFICIENT * n_coefficients(np.full(d, c), n) + 5
    x = rng.integers(0, c, size=(m, d))
    z = rng.uniform(0.0, 1.0, size=(m, n))
    log_c = effects[np.arange(d), x].sum(axis=1) + z @ slopes
    ends = cost_extremes(x, z, 10.0**log_c, np.full(d, c), defaults(d, n))
    assert ends is not None
    (least_x, least_z), (most_x, most_z) = ends
    seen = set(map(int, np.unique(x)))
    for i in range(d):
        present = sorted(set(map(int, x[:, i])))
        if len(present) == c and seen:  # every choice of the variable was evaluated
            assert least_x[i] == int(np.argmin(effects[i]))
            assert most_x[i] == int(np.argmax(effects[i]))
    # Numeric parameters keep the default: their Gaussians cover their ranges themselves.
    assert np.array_equal(least_z, np.full(n, 0.5)) and np.array_equal(most_z, np.full(n, 0.5))


def test_a_sum_of_block_costs_gives_the_cheapest_and_dearest_blocks() -> None:
    rng = np.random.default_rng(0)
    costs = np.array([[1.0, 10.0, 100.0], [5.0, 1.0, 50.0], [30.0, 3.0, 300.0]])
    x = rng.integers(0, 3, size=(200, 3))
    total = costs[np.arange(3), x].sum(axis=1)
    ends = cost_extremes(x, np.zeros((200, 0)), total, np.full(3, 3), defaults(3))
    assert ends is not None
    assert list(ends[0][0]) == [0, 1, 1]
    assert list(ends[1][0]) == [2, 2, 2]


def test_a_variable_the_complexity_ignores_keeps_its_default() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(120, 2))
    z = rng.uniform(size=(120, 1))  # a learning rate: no effect on the size
    size = 10.0 ** (x[:, 0] + 0.01 * rng.standard_normal(120))  # a little misfit
    least_default = (np.array([0, 3]), np.array([0.25]))
    most_default = (np.array([0, 1]), np.array([0.75]))
    ends = cost_extremes(x, z, size, np.array([4, 4]), (least_default, most_default))
    assert ends is not None
    (least_x, least_z), (most_x, most_z) = ends
    assert least_x[0] == 0 and most_x[0] == 3  # the size variable goes to its ends
    assert least_x[1] == 3 and most_x[1] == 1  # the other keeps each end's default
    assert least_z[0] == 0.25 and most_z[0] == 0.75  # as every numeric parameter does


def test_too_few_evaluations_or_a_constant_complexity_give_nothing() -> None:
    x = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    assert (
        cost_extremes(
            x, np.zeros((4, 0)), np.array([1.0, 2.0, 3.0, 4.0]), np.array([2, 2]), defaults(2)
        )
        is None
    )
    x = np.tile(x, (5, 1))
    assert cost_extremes(x, np.zeros((20, 0)), np.ones(20), np.array([2, 2]), defaults(2)) is None


def test_non_positive_complexities_are_fitted_on_a_linear_axis() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=(60, 2))
    value = np.array([[-1.0, 0.0, 2.0], [0.5, -0.5, 0.0]])[np.arange(2), x].sum(axis=1)
    ends = cost_extremes(x, np.zeros((60, 0)), value, np.array([3, 3]), defaults(2))
    assert ends is not None
    assert list(ends[0][0]) == [0, 1] and list(ends[1][0]) == [2, 0]
