"""Tests of the ASNG step (optuna_isnas.core.asng) and of "K = 1 is exactly ASNG".

The reference below is written from docs/algorithm.md, section 1 (ASNG-NAS, Akimoto et al.,
ICML 2019) on purpose without the core's helpers, except the range restriction
(``restrict_range`` / ``theta_min``, tested on their own in test_core_categorical.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas.core import ISNAS, Solution
from optuna_isnas.core import categorical as cat
from optuna_isnas.core.asng import (
    StepSizeState,
    asng_step,
    fisher_coordinates,
    natural_gradient,
)

# ---------------------------------------------------------------- reference ASNG


def plain_ranking(f: np.ndarray) -> np.ndarray:
    """Best ceil(lam/4) get +1, worst ceil(lam/4) get -1, tied values share the mean."""
    lam = f.size
    k = math.ceil(lam / 4)
    by_rank = np.zeros(lam)
    by_rank[:k] += 1.0
    by_rank[lam - k :] -= 1.0
    u = np.empty(lam)
    for n in range(lam):
        first = int(np.sum(f < f[n]))  # ranks spanned by the tie group of sample n
        last = int(np.sum(f <= f[n]))
        u[n] = by_rank[first:last].mean()
    return u


class ReferenceASNG:
    """Straightforward single-distribution ASNG, loops and all."""

    def __init__(self, n_choices: list[int], init_delta: float = 1.0, alpha: float = 1.5):
        self.n = np.array(n_choices, dtype=np.int64)
        self.lower = cat.theta_min(self.n)
        self.c_max = int(self.n.max())
        self.theta = np.zeros((len(n_choices), self.c_max))
        for i, c in enumerate(n_choices):
            self.theta[i, :c] = 1.0 / c
        self.n_free = int(sum(c - 1 for c in n_choices))
        self.init_delta = init_delta
        self.alpha = alpha
        self.Delta = 1.0
        self.gamma = 0.0
        self.s = np.zeros(self.n_free)

    def tell(self, x: np.ndarray, f: np.ndarray) -> None:
        lam, d = x.shape
        u = plain_ranking(f)
        if np.all(u == u[0]):
            return  # step 7: all utilities equal
        grad = np.zeros_like(self.theta)
        for n in range(lam):
            onehot = np.zeros_like(self.theta)
            for i in range(d):
                onehot[i, x[n, i]] = 1.0
            grad += u[n] * (onehot - self.theta)
        grad /= lam
        coords = []
        for i, c in enumerate(self.n):
            head_sum = sum(grad[i, j] for j in range(c - 1))
            last = self.theta[i, c - 1]
            for j in range(c - 1):
                t = self.theta[i, j]
                coords.append(
                    grad[i, j] / math.sqrt(t) + math.sqrt(t) * head_sum / (last + math.sqrt(last))
                )
        svec = np.array(coords)
        norm = math.sqrt(sum(v * v for v in coords))
        if norm < 1e-12:
            return  # step 7: gradient numerically zero
        delta = self.init_delta / self.Delta
        beta = min(delta / math.sqrt(self.n_free), 1.0)
        theta = self.theta + delta * grad / norm
        self.s = (1.0 - beta) * self.s + math.sqrt(beta * (2.0 - beta)) * svec / norm
        self.gamma = (1.0 - beta) ** 2 * self.gamma + beta * (2.0 - beta)
        self.Delta *= math.exp(beta * (self.gamma - float(np.dot(self.s, self.s)) / self.alpha))
        self.Delta = max(self.Delta, self.init_delta / math.sqrt(self.n_free))
        self.theta = cat.restrict_range(theta, self.n, self.lower)


def draw(theta: np.ndarray, n: np.ndarray, rng: np.random.Generator, lam: int) -> np.ndarray:
    """Independent sampler (rng.choice per variable) used to feed both implementations."""
    return np.array(
        [
            [rng.choice(int(c), p=theta[i, :c] / theta[i, :c].sum()) for i, c in enumerate(n)]
            for _ in range(lam)
        ],
        dtype=np.int64,
    )


def run_k1_against_reference(
    n_choices: list[int],
    lam: int,
    generations: int,
    seed: int,
    init_delta: float = 1.0,
    alpha: float = 1.5,
    eps: float = 0.7,
    loss_scale: float = 2.0,
    complexity_scale: float = 5.0,
    noise: bool = False,
) -> tuple[ISNAS, ReferenceASNG, int]:
    rng = np.random.default_rng(seed)
    n = np.array(n_choices)
    c_max = int(n.max())
    # Integer loss/cost tables: many exact ties between samples.
    loss_table = rng.integers(0, 4, size=(n.size, c_max)).astype(float)
    cost_table = rng.integers(0, 3, size=(n.size, c_max)).astype(float)
    opt = ISNAS(
        n_choices,
        [eps],
        samples_per_distribution=lam,
        init_delta=init_delta,
        alpha=alpha,
        loss_scale=loss_scale,
        complexity_scale=complexity_scale,
        seed=seed,
    )
    ref = ReferenceASNG(n_choices, init_delta=init_delta, alpha=alpha)
    steps_taken = 0
    for _ in range(generations):
        x = draw(ref.theta, n, rng, lam)
        rows = np.arange(n.size)
        losses = np.array([loss_table[rows, xi].sum() for xi in x])
        if noise:
            losses = losses + rng.normal(size=lam)
        costs = np.array([cost_table[rows, xi].sum() for xi in x])
        # The same float expression as the core's objective, so the ranking is identical.
        f = losses / loss_scale + eps * costs / complexity_scale
        before = ref.Delta, ref.gamma
        ref.tell(x, f)
        opt.tell([Solution(0, xi, float(li), float(ci)) for xi, li, ci in zip(x, losses, costs)])
        steps_taken += (ref.Delta, ref.gamma) != before
        np.testing.assert_allclose(opt.thetas[0], ref.theta, rtol=0, atol=1e-10)
        state = opt.steps[0]
        assert state.Delta == pytest.approx(ref.Delta, rel=1e-9)
        assert state.gamma == pytest.approx(ref.gamma, rel=1e-9, abs=1e-12)
        if steps_taken:
            np.testing.assert_allclose(state.s, ref.s, rtol=0, atol=1e-9)
    return opt, ref, steps_taken


# ---------------------------------------------------------------- K = 1 is ASNG


@pytest.mark.parametrize("lam", [2, 4, 8])
def test_k1_trajectory_equals_reference_asng(lam: int) -> None:
    n_choices = [3, 1, 4, 2, 5, 3, 2, 4]
    opt, ref, steps = run_k1_against_reference(n_choices, lam, generations=150, seed=lam)
    # The comparison is not vacuous: the distribution moved and the step size adapted.
    assert steps > 60
    assert np.abs(opt.thetas[0] - cat.uniform_theta(np.array(n_choices))).max() > 0.2
    assert abs(ref.Delta - 1.0) > 1e-3


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=6),
    st.sampled_from([1, 2, 3, 4, 8]),
    st.integers(0, 2**32 - 1),
    st.floats(0.2, 3.0),
    st.floats(0.5, 3.0),
    st.floats(0.0, 5.0),
    st.booleans(),
)
@settings(max_examples=30, deadline=None)
def test_k1_equals_reference_asng_property(
    n_choices: list[int],
    lam: int,
    seed: int,
    init_delta: float,
    alpha: float,
    eps: float,
    noise: bool,
) -> None:
    """lam in {1, 2, 3, 4, 8}: the weighted utility is ASNG's ranking up to a positive scale."""
    run_k1_against_reference(
        n_choices, lam, 40, seed, init_delta=init_delta, alpha=alpha, eps=eps, noise=noise
    )


# ---------------------------------------------------------------- Fisher norm


def random_feasible_theta(n: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    theta = np.zeros((n.size, int(n.max())))
    for i, c in enumerate(n):
        theta[i, :c] = rng.dirichlet(np.ones(c))
    return cat.restrict_range(theta, n, cat.theta_min(n))


@given(st.lists(st.integers(1, 6), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
@settings(max_examples=80, deadline=None)
def test_fisher_coordinates_give_the_fisher_norm(n_list: list[int], seed: int) -> None:
    """||s||^2 = G_head^T F G_head, F = diag(1/theta_head) + 1 1^T / theta_C (expectation params);
    for rows that sum to zero this is sum_j G_j^2 / theta_j over all C choices."""
    n = np.array(n_list)
    rng = np.random.default_rng(seed)
    theta = random_feasible_theta(n, rng)
    mask = cat.padding_mask(n)
    grad = rng.normal(size=theta.shape) * mask
    coords = fisher_coordinates(grad, theta, n)
    assert coords.shape == (int(np.sum(n - 1)),)
    quad = 0.0
    for i, c in enumerate(n):
        if c < 2:
            continue
        g, t = grad[i, : c - 1], theta[i, : c - 1]
        fisher = np.diag(1.0 / t) + np.ones((c - 1, c - 1)) / theta[i, c - 1]
        quad += float(g @ fisher @ g)
    assert float(coords @ coords) == pytest.approx(quad, rel=1e-10)
    # Zero-sum rows: the symmetric form over all C choices.
    zero_sum = grad - mask * (grad.sum(axis=1, keepdims=True) / n[:, None])
    coords = fisher_coordinates(zero_sum, theta, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        sym = np.where(mask, zero_sum**2 / np.where(mask, theta, 1.0), 0.0).sum()
    assert float(coords @ coords) == pytest.approx(float(sym), rel=1e-10, abs=1e-300)


def test_fisher_coordinates_single_choice_only() -> None:
    assert fisher_coordinates(np.zeros((2, 1)), np.ones((2, 1)), np.array([1, 1])).size == 0


# ---------------------------------------------------------------- natural gradient


def test_natural_gradient_matches_explicit_sum_and_rows_sum_to_zero() -> None:
    n = np.array([3, 2, 1])
    rng = np.random.default_rng(0)
    theta = random_feasible_theta(n, rng)
    x = cat.sample(theta, n, rng, 5)
    w = rng.random(5)
    u = rng.normal(size=5)
    g = natural_gradient(cat.one_hot(x, n), theta, w, u)
    explicit = sum(w[m] * u[m] * (cat.one_hot(x[m], n)[0] - theta) for m in range(5))
    np.testing.assert_allclose(g, explicit, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-14)
    assert np.all(g[~cat.padding_mask(n)] == 0.0)


# ---------------------------------------------------------------- asng_step


def test_asng_step_skips_zero_gradient_and_leaves_state_alone() -> None:
    n = np.array([3, 2])
    theta = cat.uniform_theta(n)
    state = StepSizeState(1.0, 1.5, Delta=0.8, gamma=0.3, s=np.array([0.1, -0.2, 0.3]))
    new, moved = asng_step(theta, np.zeros_like(theta), n, cat.theta_min(n), state)
    assert moved is False
    np.testing.assert_array_equal(new, theta)
    assert (state.Delta, state.gamma) == (0.8, 0.3)
    np.testing.assert_array_equal(state.s, [0.1, -0.2, 0.3])


def test_asng_step_has_fisher_length_delta_inside_the_range() -> None:
    """Away from the bounds theta moves by exactly delta = delta_0 / Delta in Fisher norm."""
    n = np.array([4, 3, 2])
    rng = np.random.default_rng(1)
    theta = cat.uniform_theta(n)
    grad = rng.normal(size=theta.shape) * cat.padding_mask(n)
    grad -= cat.padding_mask(n) * grad.sum(axis=1, keepdims=True) / n[:, None]
    state = StepSizeState(0.05, 1.5, Delta=2.0)
    new, moved = asng_step(theta, grad, n, cat.theta_min(n), state)
    assert moved
    assert np.all(
        new[cat.padding_mask(n)] > cat.theta_min(n)[:, None].repeat(4, 1)[cat.padding_mask(n)]
    )
    length = np.linalg.norm(fisher_coordinates(new - theta, theta, n))
    assert length == pytest.approx(0.05 / 2.0, rel=1e-12)
    # The direction is the gradient's.
    np.testing.assert_allclose(
        (new - theta) / np.linalg.norm(new - theta), grad / np.linalg.norm(grad), atol=1e-12
    )
    # First step from gamma = 0, s = 0: gamma = beta (2 - beta), s = sqrt(gamma) * unit vector.
    beta = (0.05 / 2.0) / math.sqrt(6)
    assert state.gamma == pytest.approx(beta * (2 - beta), rel=1e-12)
    assert float(state.s @ state.s) == pytest.approx(beta * (2 - beta), rel=1e-12)
    assert state.Delta == pytest.approx(
        2.0 * math.exp(beta * (state.gamma - state.gamma / 1.5)), rel=1e-12
    )


def consistent_run(alpha: float, init_delta: float, steps: int = 80) -> list[float]:
    """Feed the same gradient direction every time (theta pinned at the range bound)."""
    n = np.array([3, 3])  # N = 4
    lower = cat.theta_min(n)
    theta = cat.uniform_theta(n)
    state = StepSizeState(init_delta, alpha)
    x_good = cat.one_hot(np.array([0, 0]), n)[0]
    deltas = []
    for _ in range(steps):
        theta, moved = asng_step(theta, x_good - theta, n, lower, state)
        assert moved
        assert np.all(np.isfinite(theta)) and np.all(np.isfinite(state.s))
        assert state.Delta >= init_delta / math.sqrt(4)  # beta = delta / sqrt(N) <= 1
        deltas.append(state.Delta)
    np.testing.assert_allclose(theta[:, 0], 1 - 2 * lower, rtol=1e-12)  # at the range bound
    return deltas


@pytest.mark.parametrize("alpha", [1.5, 2.5])
def test_step_size_equilibrium_under_agreeing_gradients(alpha: float) -> None:
    """Constant direction: ||s||^2 -> (2 - beta)/beta and gamma -> 1, so Delta settles where
    (2 - beta)/beta = alpha, i.e. beta* = 2 / (1 + alpha), Delta* = delta_0 / (beta* sqrt(N))."""
    deltas = consistent_run(alpha, 1.0)
    beta_star = 2.0 / (1.0 + alpha)
    assert deltas[-1] == pytest.approx(1.0 / (beta_star * 2.0), rel=1e-9)
    # The step grew: Delta fell below its start (the first step always raises it).
    assert deltas[0] > 1.0 and deltas[-1] < 1.0


def test_step_size_floor_keeps_beta_at_most_one() -> None:
    """alpha < 1 would need beta* > 1; and init_delta > sqrt(N) starts with beta > 1: the
    documented guards pin Delta at delta_0 / sqrt(N) and keep everything finite."""
    deltas = consistent_run(0.5, 1.0)
    assert deltas[-1] == pytest.approx(1.0 / 2.0, rel=1e-12)
    deltas = consistent_run(1.5, 3.0)
    assert deltas[0] == pytest.approx(3.0 / 2.0, rel=1e-12)  # floored at the first step


def test_step_size_shrinks_when_gradients_alternate() -> None:
    """Opposite gradients in turn: ||s|| stays small, Delta grows (smaller steps)."""
    n = np.array([2, 2, 2, 2])
    lower = cat.theta_min(n)
    theta = cat.uniform_theta(n)
    state = StepSizeState(1.0, 1.5)
    corners = [cat.one_hot(np.array([0, 0, 0, 0]), n)[0], cat.one_hot(np.array([1, 1, 1, 1]), n)[0]]
    for t in range(40):
        theta, _ = asng_step(theta, corners[t % 2] - theta, n, lower, state)
    assert state.Delta > 1.5
    assert float(state.s @ state.s) < state.gamma


def test_asng_step_resizes_a_stale_accumulator() -> None:
    n = np.array([3])
    theta = cat.uniform_theta(n)
    state = StepSizeState(1.0, 1.5, s=np.zeros(0))
    grad = cat.one_hot(np.array([0]), n)[0] - theta
    asng_step(theta, grad, n, cat.theta_min(n), state)
    assert state.s.shape == (2,)


@pytest.mark.parametrize("lam", [8, 48])
def test_k1_single_distinct_sample_among_ties_steps_like_asng(lam: int) -> None:
    """One sample better than lam - 1 tied others: ASNG takes a step (u = +1 for it,
    -1/(lam - 1) for the tied rest), so K = 1 must take the same step for any lam.

    The weighted utility signal sum_n w_n u_n^2 is only about 1/lam here, so a skip rule
    "signal below a fixed fraction of the untied signal" broke K = 1 == ASNG for large lam
    (found by this test; the core's threshold now stays below 1/lam).
    """
    n_choices = [3, 2, 4]
    n = np.array(n_choices)
    rng = np.random.default_rng(lam)
    x = cat.sample(cat.uniform_theta(n), n, rng, lam)
    f = np.ones(lam)
    f[lam // 2] = 0.0
    ref = ReferenceASNG(n_choices)
    ref.tell(x, f)
    assert ref.gamma > 0  # ASNG stepped
    opt = ISNAS(n_choices, [0.0], samples_per_distribution=lam, loss_scale=1.0, seed=0)
    opt.tell([Solution(0, xi, float(fi), 0.0) for xi, fi in zip(x, f)])
    np.testing.assert_allclose(opt.thetas[0], ref.theta, rtol=0, atol=1e-12)
    assert opt.steps[0].Delta == pytest.approx(ref.Delta, rel=1e-12)
