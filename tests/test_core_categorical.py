"""Tests of the product-of-categoricals building blocks (optuna_isnas.core.categorical).

ASNG-NAS (Akimoto et al., ICML 2019) represents an architecture as D categorical
variables; theta is a (D, C_max) array of probabilities with zero padding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from optuna_isnas.core import categorical as cat

# ---------------------------------------------------------------- strategies


@st.composite
def n_choices_strategy(draw: st.DrawFn, max_d: int = 6, max_c: int = 5) -> np.ndarray:
    """Random choice counts, variables with a single choice included."""
    d = draw(st.integers(1, max_d))
    return np.array(draw(st.lists(st.integers(1, max_c), min_size=d, max_size=d)), dtype=np.int64)


def random_theta(n_choices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random point of the product of simplices (Dirichlet rows), zero padding."""
    theta = np.zeros((n_choices.size, int(n_choices.max())))
    for i, c in enumerate(n_choices):
        theta[i, :c] = rng.dirichlet(np.ones(c))
    return theta


def assert_on_simplex(theta: np.ndarray, n_choices: np.ndarray, lower: np.ndarray) -> None:
    mask = cat.padding_mask(n_choices)
    assert np.all(theta[~mask] == 0.0), "padding must stay exactly zero"
    np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    for i, c in enumerate(n_choices):
        assert np.all(theta[i, :c] >= lower[i] - 1e-12), (i, theta[i], lower[i])


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "bad",
    [[], [[2, 3]], [2, 0], [3, -1], [2.5, 3], ["a", "b"]],
)
def test_validate_n_choices_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="n_choices"):
        cat.validate_n_choices(bad)  # type: ignore[arg-type]


def test_validate_n_choices_accepts_numpy_and_lists() -> None:
    out = cat.validate_n_choices(np.array([3, 1, 2], dtype=np.int32))  # type: ignore[arg-type]
    assert out.dtype == np.int64
    assert out.tolist() == [3, 1, 2]


# ---------------------------------------------------------------- uniform, mask, theta_min


def test_uniform_theta_and_mask() -> None:
    n = np.array([3, 1, 2])
    mask = cat.padding_mask(n)
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    theta = cat.uniform_theta(n)
    np.testing.assert_array_equal(theta, [[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])


def test_theta_min_asng_value() -> None:
    # D' = 10 free variables with 3 choices: 1 / (10 * 2) = 0.05 < 0.5 / 3.
    n = np.array([3] * 10)
    np.testing.assert_allclose(cat.theta_min(n), 0.05, rtol=0, atol=0)


def test_theta_min_ignores_single_choice_variables_in_d_prime() -> None:
    # D' = 4 (the two single-choice variables do not count): 1 / (4 * 3) for C = 4,
    # 1 / (4 * 1) = 0.25 capped at 0.5 / 2 = 0.25 for C = 2; bound 1 for C = 1.
    n = np.array([4, 1, 4, 2, 1, 4])
    lower = cat.theta_min(n)
    np.testing.assert_allclose(lower, [1 / 12, 1.0, 1 / 12, 0.25, 1.0, 1 / 12], rtol=1e-15)


def test_theta_min_is_capped_at_half_uniform() -> None:
    # D' = 2, C = 2: ASNG's 1 / (D' (C - 1)) = 1/2 would freeze theta at uniform.
    lower = cat.theta_min(np.array([2, 2]))
    np.testing.assert_allclose(lower, [0.25, 0.25], rtol=0, atol=0)
    # D' = 1, C = 3: 1 / 2 capped at 1 / 6.
    np.testing.assert_allclose(cat.theta_min(np.array([3])), [1 / 6], rtol=1e-15)


def test_theta_min_all_single_choice() -> None:
    np.testing.assert_array_equal(cat.theta_min(np.array([1, 1])), [1.0, 1.0])


@given(n_choices_strategy(max_d=8, max_c=6))
@settings(max_examples=60, deadline=None)
def test_theta_min_leaves_room_on_the_simplex(n: np.ndarray) -> None:
    lower = cat.theta_min(n)
    free = n > 1
    # Every bound is strictly below the uniform probability, so the feasible set has
    # an interior and the mode can reach 1 - (C - 1) theta_min > 1 / C.
    assert np.all(lower[free] * n[free] <= 0.5 + 1e-15)
    assert np.all(lower[~free] == 1.0)


# ---------------------------------------------------------------- restrict_range


def test_restrict_range_keeps_feasible_theta_unchanged() -> None:
    n = np.array([3, 2, 1, 4])
    lower = cat.theta_min(n)  # D' = 3: [1/6, 0.25, 1, 1/9]
    theta = np.array([[0.5, 0.3, 0.2, 0.0], [0.6, 0.4, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.25] * 4])
    out = cat.restrict_range(theta, n, lower)
    np.testing.assert_array_equal(out, theta)
    assert out is not theta  # a copy, input not modified


def test_restrict_range_known_values() -> None:
    n = np.array([3])
    lower = np.array([0.1])
    # 0.02 is raised to 0.1; the other two share the remaining 0.9 in proportion.
    out = cat.restrict_range(np.array([[0.02, 0.49, 0.49]]), n, lower)
    np.testing.assert_allclose(out, [[0.1, 0.45, 0.45]], rtol=1e-14)
    # Negative entries (an over-long step) are clipped at the bound as well.
    out = cat.restrict_range(np.array([[-0.3, 0.2, 1.1]]), n, lower)
    assert out[0, 0] == 0.1
    np.testing.assert_allclose(out[0].sum(), 1.0, atol=1e-15)
    np.testing.assert_allclose(out[0, 1:] / out[0, 1:].sum(), [0.2 / 1.3, 1.1 / 1.3], rtol=1e-12)
    # A second round: rescaling pushes 0.105 below the bound, which is then clamped too.
    out = cat.restrict_range(np.array([[-0.5, 0.105, 1.395]]), n, lower)
    np.testing.assert_allclose(out, [[0.1, 0.1, 0.8]], rtol=1e-14)


def test_restrict_range_single_choice_rows_become_one() -> None:
    n = np.array([1, 2])
    out = cat.restrict_range(np.array([[0.7, 0.1], [0.5, 0.5]]), n, cat.theta_min(n))
    np.testing.assert_array_equal(out, [[1.0, 0.0], [0.5, 0.5]])


@given(n_choices_strategy(max_d=6, max_c=6), st.integers(0, 2**32 - 1), st.floats(0.0, 3.0))
@settings(max_examples=100, deadline=None)
def test_restrict_range_projects_onto_the_feasible_set(
    n: np.ndarray, seed: int, step: float
) -> None:
    """theta + a zero-sum perturbation of any size lands on the simplex above theta_min."""
    rng = np.random.default_rng(seed)
    lower = cat.theta_min(n)
    theta = random_theta(n, rng)
    mask = cat.padding_mask(n)
    noise = rng.normal(size=theta.shape) * mask
    noise -= mask * (noise.sum(axis=1, keepdims=True) / n[:, None])  # rows sum to zero
    out = cat.restrict_range(theta + step * noise, n, lower)
    assert_on_simplex(out, n, lower)
    # Idempotent: a feasible point is a fixed point.
    np.testing.assert_allclose(cat.restrict_range(out, n, lower), out, rtol=0, atol=1e-15)
    # Order preserving within a row (raise-and-rescale keeps the ranking of the choices).
    moved = theta + step * noise
    for i, c in enumerate(n):
        a, b = moved[i, :c], out[i, :c]
        for j in range(c):
            for k in range(c):
                if a[j] < a[k]:
                    assert b[j] <= b[k] + 1e-15


# ---------------------------------------------------------------- sampling


def test_sample_frequencies_match_theta() -> None:
    """Chi-square goodness of fit per variable, fixed seed (mixed C, one single-choice)."""
    n = np.array([4, 1, 3, 2])
    theta = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 0, 0, 0], [0.05, 0.9, 0.05, 0], [0.7, 0.3, 0, 0]])
    m = 20_000
    x = cat.sample(theta, n, np.random.default_rng(123), m)
    assert x.shape == (m, 4) and x.dtype == np.int64
    assert np.all(x >= 0) and np.all(x < n[None, :])
    assert np.all(x[:, 1] == 0)
    for i, c in enumerate(n):
        if c == 1:
            continue
        counts = np.bincount(x[:, i], minlength=c)
        p = stats.chisquare(counts, m * theta[i, :c]).pvalue
        assert p > 1e-3, (i, counts, p)
        # And a direct check: every frequency within 5 standard errors.
        se = np.sqrt(theta[i, :c] * (1 - theta[i, :c]) / m)
        assert np.all(np.abs(counts / m - theta[i, :c]) < 5 * se), (i, counts / m)


class _TopRng:
    """Stand-in generator whose uniforms are the largest double below 1."""

    def random(self, size: tuple[int, int]) -> np.ndarray:
        return np.full(size, np.nextafter(1.0, 0.0))


def test_sample_never_returns_a_padding_index_even_with_rounding() -> None:
    """Rows summing to just below 1 must not leak into the padding (inverse-CDF guard)."""
    n = np.array([3, 2])
    theta = np.array([[0.1, 0.2, 0.7 - 3e-16], [0.3, 0.7 - 3e-16, 0.0]])
    assert np.cumsum(theta, axis=1)[1, 1] <= np.nextafter(1.0, 0.0)  # the guard is exercised
    x = cat.sample(theta, n, _TopRng(), 5)  # type: ignore[arg-type]
    np.testing.assert_array_equal(x, [[2, 1]] * 5)


@given(n_choices_strategy(), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_sample_is_in_range_and_reproducible(n: np.ndarray, seed: int) -> None:
    theta = cat.restrict_range(random_theta(n, np.random.default_rng(seed)), n, cat.theta_min(n))
    a = cat.sample(theta, n, np.random.default_rng(seed), 64)
    b = cat.sample(theta, n, np.random.default_rng(seed), 64)
    np.testing.assert_array_equal(a, b)
    assert np.all((a >= 0) & (a < n[None, :]))


# ---------------------------------------------------------------- one_hot, log_prob, mode, entropy


def test_one_hot() -> None:
    n = np.array([3, 1, 2])
    x = np.array([[2, 0, 1], [0, 0, 0]])
    oh = cat.one_hot(x, n)
    assert oh.shape == (2, 3, 3)
    expected0 = [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    expected1 = [[1, 0, 0], [1, 0, 0], [1, 0, 0]]
    np.testing.assert_array_equal(oh[0], expected0)
    np.testing.assert_array_equal(oh[1], expected1)
    # A single architecture (1-D) is promoted to a batch of one.
    np.testing.assert_array_equal(cat.one_hot(np.array([2, 0, 1]), n)[0], expected0)


@given(n_choices_strategy(), st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_log_prob_matches_manual_product(n: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    theta = cat.restrict_range(random_theta(n, rng), n, cat.theta_min(n))
    x = cat.sample(theta, n, rng, 7)
    lp = cat.log_prob(theta, x)
    assert lp.shape == (7,)
    for r in range(7):
        manual = math.log(math.prod(float(theta[i, x[r, i]]) for i in range(n.size)))
        assert lp[r] == pytest.approx(manual, rel=1e-12, abs=1e-12)
    # Consistent with one_hot: log p = sum(onehot * log theta).
    with np.errstate(divide="ignore"):
        logt = np.where(theta > 0, np.log(np.where(theta > 0, theta, 1.0)), 0.0)
    np.testing.assert_allclose(lp, (cat.one_hot(x, n) * logt[None]).sum(axis=(1, 2)), rtol=1e-12)


def test_log_prob_single_row_and_zero_probability() -> None:
    theta = np.array([[0.25, 0.75], [1.0, 0.0]])
    assert cat.log_prob(theta, np.array([1, 0]))[0] == pytest.approx(math.log(0.75))
    # A padding index has probability zero: -inf, no warning.
    assert cat.log_prob(theta, np.array([0, 1]))[0] == -np.inf


def test_mode_first_on_ties() -> None:
    theta = np.array([[0.2, 0.4, 0.4], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.1, 0.3, 0.6]])
    np.testing.assert_array_equal(cat.mode(theta), [1, 0, 0, 2])
    assert cat.mode(theta).dtype == np.int64


@given(n_choices_strategy(max_d=8, max_c=7))
@settings(max_examples=30, deadline=None)
def test_entropy_of_uniform_is_sum_log_c(n: np.ndarray) -> None:
    assert cat.entropy(cat.uniform_theta(n)) == pytest.approx(
        float(np.sum(np.log(n))), rel=1e-12, abs=1e-12
    )


def test_entropy_known_value() -> None:
    theta = np.array([[0.5, 0.25, 0.25], [1.0, 0.0, 0.0], [0.9, 0.1, 0.0]])
    expected = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) - (
        0.9 * math.log(0.9) + 0.1 * math.log(0.1)
    )
    assert cat.entropy(theta) == pytest.approx(expected, rel=1e-13)
