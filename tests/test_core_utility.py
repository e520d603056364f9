"""Tests of ASNG's ranking utility and its importance-weighted generalisation.

ASNG-NAS (Akimoto et al., ICML 2019): the best ceil(n/4) samples get +1, the worst
ceil(n/4) get -1, ties share. The weighted version (ISNAS, docs/algorithm.md section 2)
gives each sample the average of W(q) over the quantile interval its weight covers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from optuna_isnas.core.utility import ranking_utility, weighted_ranking_utility

# ---------------------------------------------------------------- strategies


@st.composite
def values_and_weights(
    draw: st.DrawFn, min_n: int = 1, max_n: int = 16, zeros: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Objective values with frequent ties (small integers) and non-negative weights."""
    n = draw(st.integers(min_n, max_n))
    f = np.array(draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n)), dtype=float)
    f = f * draw(st.sampled_from([1.0, 0.1, 1e6]))
    # Weights are 0 or >= 1e-3: relative widths of 1e-15..1e-9 hit a rounding issue of the
    # core tested on its own below (test_tiny_last_group_gets_exactly_minus_one).
    positive = st.floats(1e-3, 10.0)
    weight = st.one_of(st.just(0.0), positive) if zeros else positive
    w = np.array(draw(st.lists(weight, min_size=n, max_size=n)))
    assume(w.sum() > 0)
    return f, w


def reference_ranking(f: np.ndarray) -> np.ndarray:
    """Independent ASNG ranking: tied values share the mean over the ranks they span."""
    n = f.size
    k = math.ceil(n / 4)
    by_rank = np.array([1.0 if r < k else 0.0 for r in range(n)]) - np.array(
        [1.0 if r >= n - k else 0.0 for r in range(n)]
    )
    lo = np.array([(f < v).sum() for v in f])
    hi = np.array([(f <= v).sum() for v in f])
    return np.array([by_rank[a:b].mean() for a, b in zip(lo, hi)])


# ---------------------------------------------------------------- ranking_utility


def test_ranking_utility_known_values() -> None:
    np.testing.assert_array_equal(ranking_utility(np.array([3.0, 1.0])), [-1.0, 1.0])
    np.testing.assert_array_equal(ranking_utility(np.array([0.5])), [0.0])
    np.testing.assert_array_equal(
        ranking_utility(np.array([4.0, 1.0, 3.0, 2.0])), [-1.0, 1.0, 0.0, 0.0]
    )
    # n = 5: ceil(5/4) = 2 best and 2 worst.
    np.testing.assert_array_equal(
        ranking_utility(np.array([5.0, 4.0, 3.0, 2.0, 1.0])), [-1, -1, 0, 1, 1]
    )
    # Ties share: two best tied with one in the middle band -> (1 + 0)/2 each for n=4.
    np.testing.assert_array_equal(
        ranking_utility(np.array([1.0, 1.0, 2.0, 3.0])), [0.5, 0.5, 0.0, -1.0]
    )
    # All equal: everybody gets the mean (0).
    np.testing.assert_array_equal(ranking_utility(np.array([2.0, 2.0])), [0.0, 0.0])


@given(values_and_weights(max_n=20))
@settings(max_examples=100, deadline=None)
def test_ranking_utility_matches_reference(fw: tuple[np.ndarray, np.ndarray]) -> None:
    f, _ = fw
    np.testing.assert_allclose(ranking_utility(f), reference_ranking(f), rtol=0, atol=1e-15)


# ---------------------------------------------------------------- weighted: equal weights


@pytest.mark.parametrize("n", [1, 2, 3, 4, 8, 12, 16])
def test_equal_weights_equal_asng_ranking_up_to_scale(n: int) -> None:
    """Without ties: u_weighted = scale * u_ASNG with scale 1/2 (n=2), 3/4 (n=3), 1 (4 | n)."""
    f = np.random.default_rng(n).permutation(n).astype(float)
    u = weighted_ranking_utility(f, np.ones(n))
    r = ranking_utility(f)
    scale = {1: 1.0, 2: 0.5, 3: 0.75}.get(n, 1.0)
    np.testing.assert_allclose(u, scale * r, rtol=0, atol=1e-15)


@given(
    st.sampled_from([2, 4, 8, 12]),
    st.lists(st.integers(0, 3), min_size=12, max_size=12),
    st.floats(0.1, 100.0),
)
@settings(max_examples=100, deadline=None)
def test_equal_weights_with_ties_equal_asng_ranking_up_to_a_positive_scale(
    n: int, values: list[int], w0: float
) -> None:
    f = np.array(values[:n], dtype=float)
    u = weighted_ranking_utility(f, np.full(n, w0))
    r = ranking_utility(f)
    scale = 0.5 if n == 2 else 1.0
    np.testing.assert_allclose(u, scale * r, rtol=0, atol=1e-12)


def test_equal_weights_n6_is_a_smoothed_ranking() -> None:
    """Pins the documented behaviour for n not in {1, 2, 3} or 4N: NOT ASNG's ranking.

    Widths 1/6: the second sample covers [1/6, 2/6], half of it in the good quarter.
    """
    f = np.arange(6.0)
    np.testing.assert_allclose(
        weighted_ranking_utility(f, np.ones(6)), [1.0, 0.5, 0.0, 0.0, -0.5, -1.0], atol=1e-15
    )
    assert not np.allclose(ranking_utility(f), [1.0, 0.5, 0.0, 0.0, -0.5, -1.0])


# ---------------------------------------------------------------- weighted: properties


@given(values_and_weights())
@settings(max_examples=150, deadline=None)
def test_weighted_utility_bounds_and_zero_weighted_mean(fw: tuple[np.ndarray, np.ndarray]) -> None:
    """u in [-1, 1] and sum_n w_n u_n = integral of W over [0, 1] = 1/4 - 1/4 = 0."""
    f, w = fw
    u = weighted_ranking_utility(f, w)
    assert u.shape == f.shape
    assert np.all(u >= -1.0) and np.all(u <= 1.0)
    assert abs(float((w / w.sum()) @ u)) < 1e-12


@given(values_and_weights())
@settings(max_examples=150, deadline=None)
def test_weighted_utility_is_monotone_and_ties_share(fw: tuple[np.ndarray, np.ndarray]) -> None:
    """Better (lower) f never gets a lower utility; equal f gets equal utility."""
    f, w = fw
    u = weighted_ranking_utility(f, w)
    for a in range(f.size):
        for b in range(f.size):
            if f[a] < f[b]:
                assert u[a] >= u[b] - 1e-9
            elif f[a] == f[b]:
                assert u[a] == u[b]


@given(values_and_weights(zeros=False), st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_weighted_utility_depends_only_on_the_ranking(
    fw: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    """Invariant to any strictly increasing transform of f (ties preserved), and to w's scale."""
    f, w = fw
    values = np.unique(f)
    rng = np.random.default_rng(seed)
    new_values = np.sort(rng.normal(size=values.size) * 10.0 ** rng.integers(-3, 4))
    assume(np.unique(new_values).size == values.size)
    g = new_values[np.searchsorted(values, f)]  # strictly increasing map of the values
    u = weighted_ranking_utility(f, w)
    np.testing.assert_array_equal(weighted_ranking_utility(g, w), u)
    # Rescaling w or reversing the order changes the rounding of the cumulative sums:
    # a group of width ~1e-4 near q = 1 then moves by ~1e-12.
    np.testing.assert_allclose(weighted_ranking_utility(f, 7.5 * w), u, rtol=0, atol=1e-9)
    # A decreasing transform reverses the roles of good and bad: u -> -u.
    np.testing.assert_allclose(weighted_ranking_utility(-f, w), -u, rtol=0, atol=1e-9)


@given(values_and_weights(zeros=False), st.lists(st.integers(-4, 4), min_size=1, max_size=6))
@settings(max_examples=100, deadline=None)
def test_zero_weight_samples_do_not_change_the_others(
    fw: tuple[np.ndarray, np.ndarray], extra: list[int]
) -> None:
    f, w = fw
    extra_f = np.array(extra, dtype=float) * (f.max() if f.max() > 0 else 1.0)
    base = weighted_ranking_utility(f, w)
    for position in (0, f.size):  # zero-weight samples before or after the others
        full_f = np.insert(f, position, extra_f)
        full_w = np.insert(w, position, np.zeros(extra_f.size))
        u = weighted_ranking_utility(full_f, full_w)
        keep = np.ones(full_f.size, dtype=bool)
        keep[position : position + extra_f.size] = False
        np.testing.assert_allclose(u[keep], base, rtol=0, atol=1e-9)  # cumsum rounding
        # A zero-weight sample tied with a weighted one gets the same utility.
        for j in np.flatnonzero(~keep):
            tied = np.flatnonzero(keep & (full_f == full_f[j]))
            if tied.size:
                assert u[j] == u[tied[0]]
            else:
                assert u[j] in (-1.0, 0.0, 1.0)


def test_weighted_utility_known_values() -> None:
    # Sorted by f: weights 0.1, 0.3, 0.6 -> intervals [0, .1], [.1, .4], [.4, 1].
    f = np.array([2.0, 0.0, 1.0])
    w = np.array([0.6, 0.1, 0.3])
    u = weighted_ranking_utility(f, w)
    expected = [-(1.0 - 0.75) / 0.6, 1.0, (0.25 - 0.1) / 0.3]
    np.testing.assert_allclose(u, expected, rtol=1e-13)
    # A zero-weight sample between the good ones sits at quantile 0.1: utility +1.
    u = weighted_ranking_utility(np.array([2.0, 0.0, 1.0, 0.5]), np.array([0.6, 0.1, 0.3, 0.0]))
    np.testing.assert_allclose(u, [*expected, 1.0], rtol=1e-13)
    # One sample carrying all the weight spans [0, 1]: utility 0.
    assert weighted_ranking_utility(np.array([1.0, 2.0]), np.array([1.0, 0.0]))[0] == 0.0


def test_tiny_last_group_gets_exactly_minus_one() -> None:
    u = weighted_ranking_utility(np.array([0.0, 1.0, 2.0]), np.array([0.9, 2.8, 5e-15]))
    assert u[2] == pytest.approx(-1.0, abs=1e-9)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        w = rng.random(6) * 10
        w[-1] = w[:-1].sum() * 10 ** rng.uniform(-14.5, -8.0)
        u = weighted_ranking_utility(np.arange(6.0), w)
        assert u[-1] == pytest.approx(-1.0, abs=1e-9)
        assert np.all(np.diff(u) <= 1e-9)  # monotone in f


def test_weighted_utility_errors() -> None:
    with pytest.raises(ValueError, match="equal length"):
        weighted_ranking_utility(np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match="1-D"):
        weighted_ranking_utility(np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="positive sum"):
        weighted_ranking_utility(np.zeros(3), np.zeros(3))
