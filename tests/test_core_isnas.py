"""Tests of the K-distribution optimizer (optuna_isnas.core.isnas.ISNAS) and its weights.

Noda, Saito, Shirakawa, ICANN 2022 (docs/algorithm.md, section 2): K ASNG distributions, each
updated from all pooled samples with balance-heuristic importance weights.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas.core import (
    ISNAS,
    RunningScales,
    Solution,
    mixture_log_weights,
    normalise_log_weights,
)
from optuna_isnas.core import categorical as cat
from optuna_isnas.core import isnas as isnas_module
from optuna_isnas.core.asng import fisher_coordinates

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
)

from _ablations import own_sample_log_weights, own_weighting

# ---------------------------------------------------------------- helpers


def tables(n_choices: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer per-choice loss and cost tables: sums tie often."""
    rng = np.random.default_rng(seed)
    shape = (len(n_choices), max(n_choices))
    return rng.integers(0, 4, size=shape).astype(float), rng.integers(0, 3, size=shape).astype(
        float
    )


def evaluate(x: np.ndarray, loss_table: np.ndarray, cost_table: np.ndarray) -> tuple[float, float]:
    rows = np.arange(x.size)
    return float(loss_table[rows, x].sum()), float(cost_table[rows, x].sum())


def one_generation(opt: ISNAS, loss_table: np.ndarray, cost_table: np.ndarray) -> list[Solution]:
    sols = []
    for _ in range(opt.generation_size):
        k, x = opt.ask()
        sols.append(Solution(k, x, *evaluate(x, loss_table, cost_table)))
    opt.tell(sols)
    return sols


def assert_thetas_feasible(opt: ISNAS) -> None:
    mask = cat.padding_mask(opt.n_choices)
    lower = cat.theta_min(opt.n_choices)
    for theta in opt.thetas:
        assert np.all(theta[~mask] == 0.0)
        np.testing.assert_allclose(theta.sum(axis=1), 1.0, rtol=0, atol=1e-9)
        assert np.all(theta >= np.where(mask, lower[:, None], 0.0) - 1e-12)
        assert np.all(np.isfinite(theta))


# ---------------------------------------------------------------- simplex property


@st.composite
def optimizer_setup(draw: st.DrawFn) -> dict:
    d = draw(st.integers(1, 5))
    n_choices = draw(st.lists(st.integers(1, 5), min_size=d, max_size=d))
    k = draw(st.integers(1, 4))
    eps = draw(st.lists(st.floats(0.0, 10.0), min_size=k, max_size=k))
    return {
        "n_choices": n_choices,
        "epsilons": eps,
        "samples_per_distribution": draw(st.integers(1, 4)),
        "alpha": draw(st.floats(0.3, 3.0)),
        "init_delta": draw(st.floats(0.1, 3.0)),
        "loss_scale": draw(st.one_of(st.none(), st.floats(0.01, 100.0))),
        "complexity_scale": draw(st.one_of(st.none(), st.floats(0.01, 100.0))),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


@given(
    optimizer_setup(),
    st.integers(1, 25),
    st.sampled_from(["tables", "float", "huge", "constant"]),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_thetas_stay_on_the_simplex_above_theta_min(
    setup: dict, generations: int, kind: str, partial: bool
) -> None:
    opt = ISNAS(**setup)
    rng = np.random.default_rng(setup["seed"])
    loss_table, cost_table = tables(setup["n_choices"], setup["seed"])
    for g in range(generations):
        sols = []
        for _ in range(opt.generation_size):
            k, x = opt.ask()
            loss, cost = evaluate(x, loss_table, cost_table)
            if kind == "float":
                loss, cost = float(rng.normal()), float(rng.random())
            elif kind == "huge":
                loss, cost = float(rng.normal() * 1e8), float(rng.integers(0, 2) * 1e9)
            elif kind == "constant":
                loss, cost = 1.0, 0.0
            sols.append(Solution(k, x, loss, cost))
        if partial and g % 3 == 1:
            sols = sols[: max(1, len(sols) // 2)]  # an incomplete generation
        opt.tell(sols)
        assert_thetas_feasible(opt)
        for state in opt.steps:
            assert np.isfinite(state.Delta) and state.Delta > 0
            assert 0.0 <= state.gamma <= 1.0 + 1e-12
    assert opt.generation == generations


# ---------------------------------------------------------------- importance weights


@given(
    st.integers(1, 5),
    st.lists(st.integers(1, 5), min_size=1, max_size=5),
    st.integers(1, 4),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=100, deadline=None)
def test_mixture_weights_bounds_and_balance_identity(
    k: int, n_list: list[int], lam: int, equal_shares: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = np.array(n_list)
    lower = cat.theta_min(n)
    thetas = []
    for _ in range(k):
        theta = np.zeros((n.size, int(n.max())))
        for i, c in enumerate(n):
            theta[i, :c] = rng.dirichlet(np.full(c, 0.3))
        thetas.append(cat.restrict_range(theta, n, lower))
    origins = np.repeat(np.arange(k), lam) if equal_shares else rng.integers(0, k, size=k * lam)
    x = np.concatenate([cat.sample(thetas[o], n, rng, 1) for o in origins])
    log_p = np.stack([cat.log_prob(t, x) for t in thetas])
    log_w = mixture_log_weights(log_p, origins)
    assert log_w.shape == (k, origins.size)
    w = np.exp(log_w)
    share = np.bincount(origins, minlength=k) / origins.size
    assert np.all(w >= 0.0)
    for j in range(k):
        if share[j] > 0:
            assert np.all(w[j] <= (1.0 / share[j]) * (1 + 1e-12)), (w[j], share[j])
    if equal_shares:
        assert np.all(w <= k * (1 + 1e-12))
    # Balance heuristic: sum_k share_k w_kn = sum_k share_k p_k / q = 1 for every sample.
    np.testing.assert_allclose(share @ w, 1.0, rtol=1e-12)
    # Self-normalised weights sum to one per distribution.
    norm = normalise_log_weights(log_w)
    np.testing.assert_allclose(norm.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(norm, w / w.sum(axis=1, keepdims=True), rtol=1e-10)


def test_mixture_weights_extreme_log_probabilities_stay_finite() -> None:
    """log p near -1e4 underflows exp(); the log-space computation must not."""
    log_p = np.array([[-10000.0, -20000.0, -5.0], [-10001.0, -19000.0, -5.0]])
    log_w = mixture_log_weights(log_p, np.array([0, 1, 1]))
    assert np.all(np.isfinite(log_w))
    w = np.exp(log_w)
    np.testing.assert_allclose(np.array([1 / 3, 2 / 3]) @ w, 1.0, rtol=1e-10)  # |log p| ~ 2e4
    assert np.all(np.isfinite(normalise_log_weights(log_w)))


def test_k1_mixture_weights_are_exactly_one() -> None:
    log_p = np.array([[-1.5, -0.2, -7.0]])
    np.testing.assert_array_equal(mixture_log_weights(log_p, np.zeros(3, dtype=np.int64)), 0.0)


def test_own_sample_weights() -> None:
    log_w = own_sample_log_weights(np.zeros((3, 4)), np.array([0, 0, 2, 2]))
    np.testing.assert_array_equal(np.exp(log_w), [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]])


# ------------------------------------- the own-samples ablation (benchmarks) = K ASNG runs


@pytest.mark.parametrize("lam", [2, 3])
def test_own_weighting_equals_k_independent_runs(lam: int) -> None:
    n_choices = [3, 2, 4, 1, 3]
    eps = [0.0, 0.4, 1.5, 6.0]
    s_loss, s_cost = 2.0, 4.0
    loss_table, cost_table = tables(n_choices, 7)
    joint = ISNAS(
        n_choices,
        eps,
        samples_per_distribution=lam,
        loss_scale=s_loss,
        complexity_scale=s_cost,
        seed=3,
    )
    singles = [
        ISNAS(n_choices, [0.0], samples_per_distribution=lam, loss_scale=1.0, complexity_scale=1.0)
        for _ in eps
    ]
    rng = np.random.default_rng(11)
    moved = 0
    for _ in range(70):
        sols = []
        for _ in range(joint.generation_size):
            k, x = joint.ask()
            loss, cost = evaluate(x, loss_table, cost_table)
            sols.append(Solution(k, x, loss + float(rng.normal()) * 0.1, cost))
        before = joint.thetas.copy()
        with own_weighting():
            joint.tell(sols)
        moved += int(np.any(joint.thetas != before))
        for k, single in enumerate(singles):
            # eps_k folded into the objective; the single run has eps = 0 and unit scales.
            own = [
                Solution(0, s.x, s.loss / s_loss + eps[k] * s.complexity / s_cost, s.complexity)
                for s in sols
                if s.distribution == k
            ]
            single.tell(own)
            np.testing.assert_allclose(joint.thetas[k], single.thetas[0], rtol=0, atol=1e-12)
            assert joint.steps[k].Delta == pytest.approx(single.steps[0].Delta, rel=1e-12)
            assert joint.steps[k].gamma == pytest.approx(single.steps[0].gamma, rel=1e-12)
            np.testing.assert_allclose(joint.steps[k].s, single.steps[0].s, atol=1e-12)
    assert moved > 60
    # The distributions really went different ways (different eps, different samples).
    assert not np.allclose(joint.thetas[0], joint.thetas[-1], atol=0.1)


def test_own_weighting_leaves_a_distribution_without_samples_untouched() -> None:
    opt = ISNAS([3, 3], [0.0, 1.0], samples_per_distribution=2, seed=0)
    loss_table, cost_table = tables([3, 3], 0)
    with own_weighting():
        one_generation(opt, loss_table, cost_table)
    theta1, state1 = opt.thetas[1].copy(), (opt.steps[1].Delta, opt.steps[1].gamma)
    sols = []
    for _ in range(2):  # only distribution 0's block
        k, x = opt.ask()
        assert k == 0
        sols.append(Solution(k, x, float(np.sum(x)), 1.0))
    with own_weighting():
        opt.tell(sols)
    np.testing.assert_array_equal(opt.thetas[1], theta1)
    assert (opt.steps[1].Delta, opt.steps[1].gamma) == state1
    assert opt.expected_complexity is not None
    assert opt.expected_complexity[0] == 1.0 and np.isnan(opt.expected_complexity[1])


def test_mixture_weighting_updates_a_distribution_from_others_samples() -> None:
    """Mixture mode: distribution 1 learns although it drew nothing this generation."""
    opt = ISNAS([3, 3], [0.0, 0.0], samples_per_distribution=2, seed=0)
    x = np.array([[0, 0], [2, 2]])
    opt.update(x, np.array([0, 0]), np.array([0.0, 5.0]), np.array([1.0, 1.0]))
    assert not np.array_equal(opt.thetas[1], cat.uniform_theta(opt.n_choices))
    np.testing.assert_allclose(opt.thetas[0], opt.thetas[1], atol=1e-12)  # same weights here


def test_expected_complexity_is_the_importance_weighted_mean() -> None:
    opt = ISNAS([3, 2, 2], [0.0, 2.0], samples_per_distribution=3, seed=5)
    loss_table, cost_table = tables([3, 2, 2], 5)
    one_generation(opt, loss_table, cost_table)  # make the two thetas differ
    thetas = opt.thetas.copy()
    sols = one_generation(opt, loss_table, cost_table)
    x = np.stack([s.x for s in sols])
    origins = np.array([s.distribution for s in sols])
    costs = np.array([s.complexity for s in sols])
    p = np.stack([np.exp(cat.log_prob(t, x)) for t in thetas])
    q = p.mean(axis=0)  # equal shares
    assert opt.expected_complexity is not None
    for k in range(2):
        w = p[k] / q
        assert opt.expected_complexity[k] == pytest.approx(float(w @ costs / w.sum()), rel=1e-12)
    assert origins.tolist() == [0, 0, 0, 1, 1, 1]


# ---------------------------------------------------------------- ask


def test_ask_round_robin_in_blocks_of_lambda() -> None:
    opt = ISNAS([2, 3], [0.0, 1.0, 2.0], samples_per_distribution=2, seed=0)
    assert opt.n_distributions == 3 and opt.generation_size == 6
    ks = [opt.ask()[0] for _ in range(8)]
    assert ks == [0, 0, 1, 1, 2, 2, 0, 0]
    assert [opt.distribution_of_slot(s) for s in range(6)] == [0, 0, 1, 1, 2, 2]
    assert opt.modes().shape == (3, 2)


# ---------------------------------------------------------------- reproducibility


def trajectory(seed: int | None, generations: int = 15, **kwargs: Any) -> tuple[list, np.ndarray]:
    n_choices = [4, 3, 1, 2, 4, 3]
    opt = ISNAS(n_choices, [0.0, 1.0, 3.0], samples_per_distribution=2, seed=seed, **kwargs)
    loss_table, cost_table = tables(n_choices, 1)
    xs = []
    for _ in range(generations):
        xs += [s.x.tolist() for s in one_generation(opt, loss_table, cost_table)]
    return xs, opt.thetas.copy()


def test_same_seed_same_trajectory_different_seed_different_samples() -> None:
    xs_a, th_a = trajectory(42)
    xs_b, th_b = trajectory(42)
    assert xs_a == xs_b
    np.testing.assert_array_equal(th_a, th_b)
    xs_c, th_c = trajectory(43)
    assert xs_c[:6] != xs_a[:6]
    assert not np.array_equal(th_c, th_a)


# ---------------------------------------------------------------- JSON state


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"own_weighting": True},  # the benchmarks' ablation: NaN expected complexities
        {"loss_scale": 3.0, "complexity_scale": 0.5, "alpha": 2.0, "init_delta": 0.7},
        {"budgets": [4.0, 6.0, 9.0]},  # adapted eps_k are part of the state
    ],
)
@pytest.mark.parametrize("generations", [0, 1, 12])
@pytest.mark.parametrize("mid_generation", [False, True])
def test_json_round_trip_is_exact_and_continues_bitwise(
    kwargs: dict, generations: int, mid_generation: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs = dict(kwargs)
    own = kwargs.pop("own_weighting", False)
    if own:
        monkeypatch.setattr(isnas_module, "mixture_log_weights", own_sample_log_weights)
    n_choices = [4, 3, 1, 2, 5]
    loss_table, cost_table = tables(n_choices, 2)
    epsilons = None if "budgets" in kwargs else [0.0, 0.5, 4.0]
    opt = ISNAS(n_choices, epsilons, samples_per_distribution=2, seed=9, **kwargs)
    rng = np.random.default_rng(0)
    for _ in range(generations):
        sols = []
        for _ in range(opt.generation_size):
            k, x = opt.ask()
            loss, cost = evaluate(x, loss_table, cost_table)
            sols.append(Solution(k, x, loss + float(rng.normal()), cost))
        if own:
            sols = sols[:2]  # distributions 1, 2 get no sample: NaN expected complexity
        opt.tell(sols)
    if "budgets" in kwargs and generations:
        assert not np.array_equal(
            opt.epsilons, ISNAS(n_choices, budgets=kwargs["budgets"]).epsilons
        )
    pending = []
    if mid_generation:
        pending = [opt.ask() for _ in range(3)]
    state = opt.to_dict()
    text = json.dumps(state, allow_nan=False)  # plain JSON: no NaN/Infinity tokens
    clone = ISNAS.from_dict(json.loads(text))
    assert clone.to_dict() == state
    assert json.dumps(clone.to_dict(), allow_nan=False) == text
    # Continue both: identical asks and bitwise identical thetas and step states.
    for g in range(8):
        sols_a, sols_b = [], []
        for slot in range(opt.generation_size - (len(pending) if g == 0 else 0)):
            ka, xa = opt.ask()
            kb, xb = clone.ask()
            assert ka == kb
            np.testing.assert_array_equal(xa, xb)
            loss, cost = evaluate(xa, loss_table, cost_table)
            loss += float(np.sin(slot + 7 * g))
            sols_a.append(Solution(ka, xa, loss, cost))
            sols_b.append(Solution(kb, xb, loss, cost))
        if g == 0:
            for k, x in pending:
                loss, cost = evaluate(x, loss_table, cost_table)
                sols_a.append(Solution(k, x, loss, cost))
                sols_b.append(Solution(k, x, loss, cost))
        opt.tell(sols_a)
        clone.tell(sols_b)
        np.testing.assert_array_equal(opt.thetas, clone.thetas)
        for sa, sb in zip(opt.steps, clone.steps):
            assert (sa.Delta, sa.gamma) == (sb.Delta, sb.gamma)
            np.testing.assert_array_equal(sa.s, sb.s)
    assert opt.to_dict() == clone.to_dict()


def test_from_dict_rejects_unknown_version() -> None:
    state = ISNAS([2, 2], [0.0]).to_dict()
    state["version"] = 999
    with pytest.raises(ValueError, match="version"):
        ISNAS.from_dict(state)


# ---------------------------------------------------------------- scales


def test_running_scales_fixed_values_win() -> None:
    s = RunningScales(fixed_loss=2.5, fixed_complexity=7.0)
    s.observe(np.array([0.0, 10.0, 20.0]), np.array([100.0, 1.0, 3.0]))
    assert (s.loss, s.complexity) == (2.5, 7.0)


def test_running_scales_estimates() -> None:
    s = RunningScales()
    assert (s.loss, s.complexity) == (1.0, 1.0)  # defaults before any data
    s.observe(np.array([1.0, 1.0]), np.array([0.0, 0.0]))  # no spread, no complexity
    assert (s.loss, s.complexity) == (1.0, 1.0)
    spreads = []
    rng = np.random.default_rng(0)
    for g in range(30):
        losses = rng.normal(size=8) * (1 + g)
        q25, q75 = np.percentile(losses, [25, 75])
        spreads.append(q75 - q25)
        s.observe(losses, np.array([2.0, 5.0 + g, -40.0]))
        if g < 10:  # warm-up: plain mean of the spreads
            assert s.loss == pytest.approx(np.mean(spreads), rel=1e-12)
    # Then an exponential moving average with rate 0.1.
    expected = np.mean(spreads[:10])
    for sp in spreads[10:]:
        expected = 0.9 * expected + 0.1 * sp
    assert s.loss == pytest.approx(expected, rel=1e-12)
    assert s.complexity == 40.0  # largest |complexity| seen
    again = RunningScales.from_dict(json.loads(json.dumps(s.to_dict())))
    assert again == s


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epsilons": []}, "epsilons"),
        ({"epsilons": [0.1, -0.5]}, "epsilons"),
        ({"epsilons": [float("nan")]}, "epsilons"),
        ({"epsilons": [float("inf")]}, "epsilons"),
        ({"epsilons": [[0.1, 0.2]]}, "epsilons"),
        ({"samples_per_distribution": 0}, "samples_per_distribution"),
        ({"samples_per_distribution": 1.5}, "samples_per_distribution"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": -1.0}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"init_delta": 0.0}, "init_delta"),
        ({"loss_scale": 0.0}, "loss_scale"),
        ({"complexity_scale": -2.0}, "complexity_scale"),
        ({"n_choices": []}, "n_choices"),
        ({"n_choices": [3, 0]}, "n_choices"),
    ],
)
def test_constructor_errors(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"n_choices": [3, 2], "epsilons": [0.0, 1.0]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        ISNAS(args.pop("n_choices"), args.pop("epsilons"), **args)
    # The message says what was given.
    assert "got" in str(info.value) or "must" in str(info.value)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"x": np.array([3, 0])}, "outside"),
        ({"x": np.array([0, -2])}, "outside"),
        ({"x": np.array([0, 0, 0])}, "shape"),
        ({"distribution": 2}, "origins"),
        ({"distribution": -1}, "origins"),
    ],
)
def test_tell_errors(bad: dict[str, Any], match: str) -> None:
    opt = ISNAS([3, 2], [0.0, 1.0], seed=0)
    good: dict[str, Any] = {
        "distribution": 0,
        "x": np.array([1, 1]),
        "loss": 1.0,
        "complexity": 2.0,
    }
    sols = [Solution(**good), Solution(**{**good, **bad})]
    before = opt.to_dict()
    with pytest.raises(ValueError, match=match):
        opt.tell(sols)
    assert opt.to_dict() == before  # a rejected tell changes nothing


def test_numpy_scalars_accepted_and_bools_rejected() -> None:
    opt = ISNAS(
        [2, 3],
        [0.0],
        alpha=np.float32(1.5),  # type: ignore[arg-type]
        init_delta=np.int64(1),  # type: ignore[arg-type]
        loss_scale=np.float32(2.0),  # type: ignore[arg-type]
        samples_per_distribution=np.int64(3),  # type: ignore[arg-type]
    )
    assert (opt.alpha, opt.init_delta, opt.scales.loss, opt.lam) == (1.5, 1.0, 2.0, 3)
    assert isinstance(opt.alpha, float)
    for bad in ({"alpha": True}, {"samples_per_distribution": True}):
        with pytest.raises(ValueError):
            ISNAS([2, 3], [0.0], **bad)  # type: ignore[arg-type]


def test_exactly_one_of_epsilons_and_budgets() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ISNAS([2, 2])
    with pytest.raises(ValueError, match="exactly one"):
        ISNAS([2, 2], [0.0], budgets=[1.0])


def test_tell_empty_raises() -> None:
    with pytest.raises(ValueError, match="at least one"):
        ISNAS([2], [0.0]).tell([])


# ---------------------------------------------------------------- negligible-weight steps


def test_negligible_weight_signal_does_not_move_theta_by_a_full_step() -> None:
    """A distribution whose own samples tie must not take a full normalised step (length
    delta in Fisher norm) driven by samples of ~1e-10 importance weight: plain ASNG (own
    mode) skips such an update. Found by these tests; fixed by ISNAS.SIGNAL_MIN.
    """
    n_choices = [2] * 10
    n = np.array(n_choices)
    opt = ISNAS(n_choices, [0.0, 0.0], samples_per_distribution=2, seed=0)
    lower = cat.theta_min(n)
    # Distribution 0 sits at the corner of all zeros, distribution 1 at all ones.
    opt.thetas[0] = cat.restrict_range(np.tile([1.0, 0.0], (10, 1)), n, lower)
    opt.thetas[1] = cat.restrict_range(np.tile([0.0, 1.0], (10, 1)), n, lower)
    theta0 = opt.thetas[0].copy()
    # Distribution 0 drew its mode twice: identical samples, equal loss (a tie).
    # Distribution 1 drew its own mode twice (loss 0): for distribution 0 these weigh
    # about p_0 / q = 0.1^10 / (0.9^10 / 2), normalised ~ 1e-10.
    x = np.array([[0] * 10, [0] * 10, [1] * 10, [1] * 10])
    losses = np.array([1.0, 1.0, 0.0, 0.0])
    log_p = np.stack([cat.log_prob(t, x) for t in opt.thetas])
    w0 = normalise_log_weights(mixture_log_weights(log_p, np.array([0, 0, 1, 1])))[0]
    assert w0[2] < 1e-9  # the foreign samples are negligible for distribution 0
    opt.update(x, np.array([0, 0, 1, 1]), losses, np.zeros(4))
    moved = float(np.linalg.norm(fisher_coordinates(opt.thetas[0] - theta0, theta0, n)))
    # Own-only (= plain ASNG) would not move at all; we accept a step of 1 % of delta.
    assert moved < 0.01 * opt.steps[0].init_delta, moved
    assert math.isfinite(moved)
