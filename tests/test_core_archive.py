"""The archive of evaluated architectures and the family selection (core/archive.py,
core/selection.py): what the search hands back (docs/algorithm.md, "What the search returns")."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas.core import ISNAS, Solution
from optuna_isnas.core import budget as budget_mode
from optuna_isnas.core.archive import KAPPA, LIMIT_PER_SIZE, Archive
from optuna_isnas.core.selection import choose_family, pareto_mask

# ---------------------------------------------------------------- helpers


def trade_off(eps: float):
    def keys(losses, costs, violations):
        return losses + eps * costs, violations <= 0, violations

    return keys


def within(budget: float):
    def keys(losses, costs, violations):
        feasible = (violations <= 0) & (costs <= budget)
        return losses, feasible, violations + np.maximum(costs - budget, 0.0)

    return keys


def observe(archive: Archive, rows, losses, costs, rank, generation=0, violations=None):
    x = np.asarray(rows, dtype=np.int64).reshape(len(losses), -1)
    v = np.zeros(len(losses)) if violations is None else np.asarray(violations, float)
    archive.observe(x, np.asarray(losses, float), np.asarray(costs, float), v, generation, rank)


def brute_pareto(losses: np.ndarray, costs: np.ndarray) -> set[tuple[float, float]]:
    pts = list(zip(losses.tolist(), costs.tolist()))
    return {p for p in pts if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pts)}


# ---------------------------------------------------------------- pooling and noise


def test_repeated_evaluations_are_pooled_exactly() -> None:
    archive = Archive(size=4)
    rank = [trade_off(0.0)]
    values = [0.5, 0.7, 0.4, 0.9, 0.6]
    for g, v in enumerate(values):
        observe(archive, [[1, 2]], [v], [3.0], rank, generation=g)
    assert len(archive) == 1
    entry = archive.entries[0]
    assert entry.n == 5 and entry.generation == 4
    assert entry.mean == pytest.approx(np.mean(values), abs=1e-15)
    assert entry.m2 == pytest.approx(np.var(values) * 5, rel=1e-12)
    assert archive.noise_sd() == pytest.approx(np.std(values, ddof=1), rel=1e-12)


def test_a_lucky_single_evaluation_does_not_beat_a_well_measured_one() -> None:
    """B's one evaluation (0.98) is below A's mean (1.0), but A was measured 10 times with
    noise sd ~0.1: B's pessimistic loss 0.98 + sd is above A's 1.0 + sd / sqrt(10)."""
    archive = Archive(size=4)
    rank = [trade_off(0.0)]
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.1, 10)
    noise -= noise.mean()
    for v in 1.0 + noise:
        observe(archive, [[0, 0]], [v], [1.0], rank)
    observe(archive, [[1, 1]], [0.98], [1.0], rank)
    sd = archive.noise_sd()
    assert 0.05 < sd < 0.2
    pessimistic = archive.pessimistic_losses()
    assert pessimistic[0] == pytest.approx(1.0 + KAPPA * sd / math.sqrt(10))
    assert pessimistic[1] == pytest.approx(0.98 + KAPPA * sd)
    assert archive.ranked(rank)[0][0] == 0  # A first
    # Without repeats there is no noise estimate: the raw means decide.
    plain = Archive(size=4)
    observe(plain, [[0, 0], [1, 1]], [1.0, 0.98], [1.0, 1.0], rank)
    assert plain.noise_sd() == 0.0 and plain.ranked(rank)[0][0] == 1


# ---------------------------------------------------------------- bounded, exact state


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 4),
    size=st.integers(1, 3),
    generations=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_archive_is_bounded_and_keeps_each_distributions_best(
    k: int, size: int, generations: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ranks = [trade_off(float(e)) for e in rng.uniform(0, 3, k)]
    archive = Archive(size=size)
    seen: dict[tuple[int, ...], list[float]] = {}
    costs_of: dict[tuple[int, ...], float] = {}
    for g in range(generations):
        rows = rng.integers(0, 3, size=(6, 3))
        losses = rng.integers(0, 5, size=6).astype(float)
        costs = rows.sum(axis=1).astype(float)
        observe(archive, rows, losses, costs, ranks, generation=g)
        for r, v, c in zip(map(tuple, rows.tolist()), losses, costs):
            seen.setdefault(r, []).append(float(v))
            costs_of[r] = float(c)
        assert len(archive) <= (k + LIMIT_PER_SIZE) * size
        assert len({e.x for e in archive.entries}) == len(archive)  # each architecture once
        # Every entry is kept for a reason: among some distribution's best, or dominated by
        # fewer than `size` entries.
        top = {i for order in archive.ranked(ranks) for i in order[:size]}
        depth = archive.dominators()
        assert all(i in top or depth[i] < size for i in range(len(archive)))
    # Every entry's statistics are those of the evaluations it pooled (a subset of all of
    # that architecture's evaluations, the latest ones: an evicted entry starts afresh).
    for e in archive.entries:
        tail = seen[e.x][-e.n :]
        assert e.mean == pytest.approx(np.mean(tail))
        assert e.complexity == costs_of[e.x]


@settings(max_examples=60, deadline=None)
@given(points=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=15))
def test_dominators_match_brute_force(points: list[tuple[int, int]]) -> None:
    archive = Archive(size=1)
    archive.pool(
        np.arange(len(points))[:, None],
        np.array([p[0] for p in points], dtype=float),
        np.array([p[1] for p in points], dtype=float),
        np.zeros(len(points)),
        0,
    )
    expected = [sum(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points) for p in points]
    assert archive.dominators().tolist() == expected


def test_an_entry_pruned_under_a_low_budget_is_kept_for_a_higher_one() -> None:
    """Size classes move their budgets as larger models are seen. Here the only budget is 1.0
    while eight models of size 2-3 are evaluated; the budget then rises to 3.0. The best model
    of size <= 3 (loss 0.1) must still be in the archive, although it was never among the best
    within the old budget (keeping each distribution's `size` best alone would drop it)."""
    archive = Archive(size=2)
    small = [[0, i] for i in range(3)]
    observe(archive, small, [0.9, 0.8, 0.7], [1.0, 1.0, 1.0], [within(1.0)])
    large = [[1, i] for i in range(8)]
    losses = [0.6, 0.5, 0.1, 0.4, 0.3, 0.35, 0.45, 0.55]
    costs = [2.0, 2.0, 3.0, 2.5, 2.5, 3.0, 3.0, 3.0]
    observe(archive, large, losses, costs, [within(1.0)], generation=1)
    kept = {e.x for e in archive.entries}
    assert (1, 2) in kept  # loss 0.1 at size 3: nothing dominates it
    assert (1, 7) not in kept  # loss 0.55 at size 3: dominated by 0.1, 0.35, 0.45 at <= 3
    losses_a, costs_a, _ = archive.arrays()
    assert losses_a[costs_a <= 3.0].min() == 0.1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), generations=st.integers(1, 30))
def test_state_round_trips_through_json_and_continues_identically(
    seed: int, generations: int
) -> None:
    rng = np.random.default_rng(seed)
    loss_table = rng.normal(size=(4, 3))
    cost_table = rng.uniform(0, 2, size=(4, 3))

    def run(opt: ISNAS, n: int) -> None:
        for _ in range(n):
            sols = []
            for _ in range(opt.generation_size):
                k, x = opt.ask()
                noise = float(rng_eval.normal(0, 0.3))
                loss = float(loss_table[np.arange(4), x].sum()) + noise
                sols.append(Solution(k, x, loss, float(cost_table[np.arange(4), x].sum())))
            opt.tell(sols)

    rng_eval = np.random.default_rng(seed + 1)
    opt = ISNAS([3, 3, 3, 3], size_classes=3, seed=seed)
    run(opt, generations)
    text = json.dumps(opt.to_dict())
    copy = ISNAS.from_dict(json.loads(text))
    assert json.dumps(copy.to_dict()) == text
    assert copy.select() == opt.select()
    state = np.random.default_rng(seed + 2).bit_generator.state
    rng_eval.bit_generator.state = state
    run(opt, 3)
    rng_eval.bit_generator.state = state
    run(copy, 3)
    assert json.dumps(copy.to_dict()) == json.dumps(opt.to_dict())


def test_a_state_of_an_older_version_is_refused_with_a_message() -> None:
    data = ISNAS([2, 3], [0.0, 1.0], seed=0).to_dict()
    data["version"] = 2  # before the numeric parameters: no release ever wrote it
    with pytest.raises(ValueError, match="unsupported ISNAS state version 2; this release reads"):
        ISNAS.from_dict(json.loads(json.dumps(data)))


# ---------------------------------------------------------------- selection


@settings(max_examples=100, deadline=None)
@given(points=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=12))
def test_pareto_mask_matches_brute_force(points: list[tuple[int, int]]) -> None:
    losses = np.array([p[0] for p in points], dtype=float)
    costs = np.array([p[1] for p in points], dtype=float)
    mask = pareto_mask(losses, costs)
    assert set(zip(losses[mask].tolist(), costs[mask].tolist())) == brute_pareto(losses, costs)
    assert mask.sum() == len(brute_pareto(losses, costs))  # duplicates kept once


def test_known_best_per_tradeoff_is_chosen() -> None:
    # A convex front: loss = 1 / cost. eps picks the point where the slope -1/c^2 is -eps.
    costs = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
    losses = 1.0 / costs
    eps = [0.0, 0.25, 1.0, 4.0]
    keys = [losses + e * costs for e in eps]
    best = [int(np.argmin(k)) for k in keys]
    assert best == [4, 3, 2, 1]  # distinct already: each gets its own optimum
    assert choose_family(keys, losses, costs, distinct=True) == best


def test_distinct_choice_gives_the_contested_model_to_who_loses_most_without_it() -> None:
    # Two trade-offs both prefer candidate 0. Distribution 0's alternative is much worse for
    # it (regret 1.0) than distribution 1's (regret 0.1): 0 keeps it, 1 takes its second.
    losses = np.array([1.0, 2.0, 1.05])
    costs = np.array([2.0, 1.0, 1.95])
    keys = [np.array([0.0, 1.0, 5.0]), np.array([0.0, 5.0, 0.1])]
    assert choose_family(keys, losses, costs, distinct=True) == [0, 2]
    assert choose_family(keys, losses, costs, distinct=False) == [0, 0]


def test_distinct_choices_are_never_dominated() -> None:
    # Candidate 2 is dominated by 0: even as distribution 1's second choice it is skipped.
    losses = np.array([1.0, 3.0, 1.5])
    costs = np.array([1.0, 0.5, 1.5])
    keys = [losses, losses + 0.01 * costs]
    assert choose_family(keys, losses, costs, distinct=True) == [0, 1]


def test_when_distinct_candidates_run_out_a_distribution_repeats_its_best() -> None:
    losses, costs = np.array([1.0]), np.array([1.0])
    assert choose_family([losses, losses], losses, costs, distinct=True) == [0, 0]
    assert choose_family([np.array([np.inf])], losses, costs, distinct=True) == [None]


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 15),
    budgets=st.lists(st.floats(0.5, 6.0), min_size=1, max_size=4),
    distinct=st.booleans(),
)
def test_a_budget_is_never_exceeded(
    seed: int, n: int, budgets: list[float], distinct: bool
) -> None:
    rng = np.random.default_rng(seed)
    losses = rng.uniform(0, 1, n)
    costs = rng.uniform(0, 5, n)
    keys = [np.where(costs <= b, losses, np.inf) for b in budgets]
    chosen = choose_family(keys, losses, costs, distinct=distinct)
    for b, c in zip(budgets, chosen):
        if c is None:
            assert not np.any(costs <= b)
        else:
            assert costs[c] <= b
            if not distinct:  # the lowest loss within the budget
                assert losses[c] == losses[costs <= b].min()


# ---------------------------------------------------------------- the optimizer's selection


def test_select_returns_the_best_evaluated_per_budget_and_never_over_it() -> None:
    # 3 variables x 3 choices; loss falls and cost grows with the choice index, so the best
    # architecture within budget b is the one with the largest cost <= b (ties: lower loss).
    gain = np.array([0.0, 0.6, 1.0])
    cost = np.array([0.0, 1.0, 3.0])
    budgets = [8.0, 4.0, 1.0]
    everything = np.array(list(itertools.product(range(3), repeat=3)))
    all_loss = (1.0 - gain[everything]).sum(axis=1)
    all_cost = cost[everything].sum(axis=1)
    opt = ISNAS([3, 3, 3], budgets=budgets, loss_scale=1.0, complexity_scale=1.0, seed=0)
    evaluated: dict[tuple[int, ...], float] = {}
    for _ in range(150):
        sols = []
        for _ in range(opt.generation_size):
            k, x = opt.ask()
            sols.append(Solution(k, x, float((1 - gain[x]).sum()), float(cost[x].sum())))
            evaluated[tuple(x.tolist())] = float(cost[x].sum())
        opt.tell(sols)
    chosen = opt.select()
    for b, index in zip(budgets, chosen):
        assert index is not None
        entry = opt.archive.entries[index]
        assert entry.complexity <= b
        best = all_loss[all_cost <= b].min()
        assert entry.mean == pytest.approx(best), (b, entry)


def test_select_trade_off_mode_finds_each_optimum_on_a_separable_problem() -> None:
    gain = np.array([0.0, 0.5, 0.8, 0.9])
    cost = np.array([0.0, 1.0, 2.0, 4.0])
    eps = [0.0, 0.1, 0.4, 2.0]  # per-variable optima 3, 2, 1, 0 (unit scales)
    expected = [int(np.argmin((1 - gain) + e * cost)) for e in eps]
    found = 0
    for seed in range(3):
        opt = ISNAS([4] * 4, eps, loss_scale=1.0, complexity_scale=1.0, seed=seed)
        for _ in range(250):
            sols = []
            for _ in range(opt.generation_size):
                k, x = opt.ask()
                sols.append(Solution(k, x, float((1 - gain[x]).sum()), float(cost[x].sum())))
            opt.tell(sols)
        chosen = opt.select()
        assert len({c for c in chosen}) == len(eps)  # distinct
        for k, index in enumerate(chosen):
            assert index is not None
            chosen_x = opt.archive.entries[index].x
            found += sum(v == expected[k] for v in chosen_x)
    assert found / (3 * 4 * 4) >= 0.9


def test_infeasible_samples_rank_last_and_are_never_selected() -> None:
    # Choice 1 of variable 0 is better in loss but violates a constraint.
    opt = ISNAS([2, 2], [0.0], loss_scale=1.0, complexity_scale=1.0, seed=0)
    for _ in range(40):
        sols = []
        for _ in range(opt.generation_size):
            k, x = opt.ask()
            violation = 0.5 if x[0] == 1 else 0.0
            loss = float(1.0 - x[0] - 0.1 * x[1])
            sols.append(Solution(k, x, loss, 0.0, violation))
        opt.tell(sols)
    assert opt.modes()[0].tolist() == [0, 1]  # the best feasible one
    (index,) = opt.select()
    assert index is not None
    assert opt.archive.entries[index].x == (0, 1)


def test_size_classes_follow_the_observed_sizes_largest_first() -> None:
    opt = ISNAS([4, 4], size_classes=3, seed=0)
    sols = [Solution(0, np.array([0, 0]), 1.0, 2.0), Solution(1, np.array([3, 3]), 0.5, 200.0)]
    sols += [Solution(2, np.array([1, 1]), 0.7, 20.0)]
    opt.tell(sols)
    assert opt.budgets is not None
    np.testing.assert_allclose(opt.budgets, budget_mode.size_class_budgets(3, 2.0, 200.0))
    np.testing.assert_allclose(opt.budgets, [2.0 * 100 ** (5 / 6), 20.0, 2.0 * 100 ** (1 / 6)])
    # Linear classes where sizes can be zero.
    np.testing.assert_allclose(budget_mode.size_class_budgets(2, 0.0, 8.0), [6.0, 2.0])


def test_pending_evaluations_join_the_selection_without_changing_the_archive() -> None:
    """Trials of a generation that has not closed are evaluated: ``archive_with`` pools them
    into a copy, so a family asked for mid-generation does not ignore the best of them."""
    opt = ISNAS([3, 3], budgets=[10.0], loss_scale=1.0, complexity_scale=1.0, seed=0)
    opt.tell([Solution(0, np.array([0, 0]), 0.5, 1.0, trial=0)])
    before = json.dumps(opt.to_dict())
    pending = [
        Solution(0, np.array([1, 1]), 0.2, 2.0, trial=1),
        Solution(0, np.array([2, 2]), 0.1, 20.0, trial=2),  # over the budget
        Solution(0, np.array([0, 0]), 0.7, 1.0, trial=3),  # pooled with its entry
    ]
    archive = opt.archive_with(pending)
    (index,) = opt.select(archive=archive)
    assert index is not None
    assert archive.entries[index].x == (1, 1) and archive.entries[index].trial == 1
    assert archive.entries[0].n == 2 and archive.entries[0].mean == pytest.approx(0.6)
    assert json.dumps(opt.to_dict()) == before  # the optimizer's own archive is untouched
    assert opt.select() == [0]


def test_fewer_front_points_than_distributions_gives_distinct_members_before_repeats() -> None:
    """Two non-dominated candidates for three distributions: the third takes its best
    remaining candidate (dominated, but distinct) rather than a repeat; a repeat only when
    nothing is left."""
    losses = np.array([1.0, 2.0, 2.5])
    sizes = np.array([10.0, 5.0, 12.0])  # candidate 2 is dominated by candidate 0
    keys = [losses, losses + 0.1 * sizes, losses + 1.0 * sizes]
    chosen = choose_family(keys, losses, sizes, distinct=True)
    assert sorted(c for c in chosen if c is not None) == [0, 1, 2]
    two = choose_family([k[:2] for k in keys], losses[:2], sizes[:2], distinct=True)
    assert None not in two and len(set(two)) == 2  # two candidates, three distributions
