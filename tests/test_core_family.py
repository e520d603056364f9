"""The hypervolume family: the best K points, and the K distributions that aim at them."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optuna_isnas.core import ISNAS, Solution
from optuna_isnas.core.family import HypervolumeFamily, assign_members
from optuna_isnas.core.hypervolume import best_subset, hypervolume, pareto_front

candidates = st.lists(
    st.tuples(st.floats(0.01, 1.0), st.floats(1e3, 1e6)), min_size=1, max_size=9, unique=True
)


def brute_best(family, losses, costs):
    """The largest hypervolume of any K candidates in the family's plane."""
    plane = family.plane(losses, costs)
    pts = plane.points(losses, costs)
    best = 0.0
    for subset in itertools.combinations(range(len(pts)), min(family.k, len(pts))):
        best = max(best, hypervolume(pts[list(subset)], plane.reference))
    return best, plane


@settings(max_examples=60, deadline=None)
@given(candidates, st.integers(1, 4), st.booleans())
def test_choose_is_the_best_k_by_hypervolume(points, k, log_axis):
    losses = np.array([p[0] for p in points])
    costs = np.array([p[1] for p in points])
    family = HypervolumeFamily(k, log_complexity=log_axis)
    chosen = family.choose(losses, costs)
    best, plane = brute_best(family, losses, costs)
    got = hypervolume(plane.points(losses[chosen], costs[chosen]), plane.reference)
    assert got == pytest.approx(best, rel=1e-12, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(candidates, st.integers(1, 5), st.sampled_from([None, (0.5, 2e5)]))
def test_the_family_is_distinct_ordered_and_never_dominated_when_k_fronts_points_exist(
    points, k, reference
):
    losses = np.array([p[0] for p in points])
    costs = np.array([p[1] for p in points])
    chosen = HypervolumeFamily(k, reference=reference).choose(losses, costs)
    assert len(chosen) == min(k, len(points))
    assert len(set(chosen)) == len(chosen)
    assert list(costs[chosen]) == sorted(costs[chosen], reverse=True)
    points_ = np.column_stack([losses, costs])
    front = pareto_front(points_)
    if reference is not None:  # front points beyond the reference add no area
        inside = (losses[front] < reference[0]) & (costs[front] < reference[1])
        front = front[inside]
    if len(front) >= k:
        assert set(chosen) <= set(front.tolist())
    else:  # every front point inside the box is in, the rest fill up
        assert set(front.tolist()) <= set(chosen)


def test_only_eligible_candidates_are_chosen():
    losses = np.array([0.1, 0.2, 0.3, 0.4])
    costs = np.array([4e4, 3e4, 2e4, 1e4])
    chosen = HypervolumeFamily(4).choose(losses, costs, np.array([True, False, True, True]))
    assert chosen == [0, 2, 3]


def test_the_default_reference_keeps_both_ends_of_the_front():
    # A linear front: with the reference 1 / (K - 1) of the span beyond the nadir, the best K
    # include both ends (Auger et al. 2009); with only 10 % they would not.
    costs = np.logspace(3, 5, 21)
    losses = np.linspace(0.1, 0.9, 21)[::-1].copy()
    chosen = HypervolumeFamily(4).choose(losses, costs)
    assert chosen[0] == 20 and chosen[-1] == 0


def test_a_fixed_reference_leaves_out_what_lies_beyond_it():
    losses = np.array([0.1, 0.3, 0.9])
    costs = np.array([1e5, 1e4, 1e3])
    # Beyond the reference's loss the smallest model adds no area: it comes last (a filler).
    family = HypervolumeFamily(2, reference=(0.5, 2e5))
    assert family.choose(losses, costs) == [0, 1]


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="K >= 1"):
        HypervolumeFamily(0)
    with pytest.raises(ValueError, match="two finite numbers"):
        HypervolumeFamily(2, reference=(1.0,))
    with pytest.raises(ValueError, match="> 0 on the log axis"):
        HypervolumeFamily(2, reference=(1.0, 0.0))


def test_members_go_to_the_distributions_most_likely_to_draw_them():
    log_prob = np.log(np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1]]))
    # (0, 1) is the likeliest pair, then (1, 0); distribution 2 takes what is left.
    assert assign_members(log_prob) == [1, 0, 2]
    assert assign_members(log_prob[:, :1]) == [None, 0, None]


# ---------------------------------------------------------------- the optimizer in this mode
D, C = 6, 3
_rng = np.random.default_rng(7)
COST = 500 * 10 ** _rng.uniform(0, 2, (D, C))
QUALITY = np.log10(COST) + _rng.normal(0, 0.2, (D, C))


def evaluate(x):
    q = QUALITY[np.arange(D), x].sum()
    return float(np.exp(-(q - QUALITY.min(1).sum()))), float(2000 + COST[np.arange(D), x].sum())


def run(opt, generations, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(generations):
        sols = []
        for _ in range(opt.generation_size):
            k, x = opt.ask()
            loss, cost = evaluate(x)
            sols.append(Solution(k, x, loss * (1 + 0.01 * rng.normal()), cost))
        opt.tell(sols)
    return opt


def test_state_round_trips_exactly_and_continues_identically():
    a = run(ISNAS([C] * D, hypervolume=3, samples_per_distribution=2, seed=1), 6)
    state = json.loads(json.dumps(a.to_dict()))
    b = ISNAS.from_dict(state)
    assert json.dumps(b.to_dict()) == json.dumps(a.to_dict())
    run(a, 3, seed=5)
    run(b, 3, seed=5)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    assert a.to_dict()["family"] == {
        "k": 3,
        "log_complexity": True,
        "reference": None,
        "recentre": True,
    }


def test_distributions_spread_over_the_front_and_the_family_is_its_best_k_of_the_archive():
    opt = run(ISNAS([C] * D, hypervolume=4, samples_per_distribution=4, seed=0), 25)
    chosen = opt.select()
    assert None not in chosen and len(set(chosen)) == 4
    costs = [opt.archive.entries[i].complexity for i in chosen]
    assert costs == sorted(costs, reverse=True)
    # Against the best 4 of all 729 architectures, on noise-free values, with the reference
    # point of the whole space's front (nadir + 10 % of its span).
    every = np.array([evaluate(np.array(x)) for x in itertools.product(range(C), repeat=D)])
    pts = np.column_stack([every[:, 0], np.log10(every[:, 1])])
    front = pts[pareto_front(pts)]
    reference = front.max(0) + 0.1 * (front.max(0) - front.min(0))
    best = hypervolume(pts[best_subset(pts, 4, reference)], reference)
    family = np.array([evaluate(np.array(opt.archive.entries[i].x)) for i in chosen])
    got = hypervolume(np.column_stack([family[:, 0], np.log10(family[:, 1])]), reference)
    assert got / best > 0.98
    # The distributions moved apart: their most likely architectures differ in size.
    mode_costs = [evaluate(m)[1] for m in opt.modes()]
    assert max(mode_costs) / min(mode_costs) > 1.5


def test_infeasible_samples_are_never_in_the_family():
    opt = ISNAS([C] * D, hypervolume=2, samples_per_distribution=2, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(8):
        sols = []
        for _ in range(opt.generation_size):
            k, x = opt.ask()
            loss, cost = evaluate(x)
            sols.append(Solution(k, x, loss, cost, violation=float(cost > 20_000)))
        opt.tell(sols)
    assert all(opt.archive.entries[i].complexity <= 20_000 for i in opt.select() if i is not None)
    del rng


def test_a_zero_complexity_makes_the_plane_linear_with_a_warning():
    family = HypervolumeFamily(2)
    with pytest.warns(UserWarning, match="log_complexity=False"):
        plane = family.plane(np.array([0.1, 0.5]), np.array([3.0, 0.0]))
    assert not plane.log_complexity
    assert family.plane(np.array([0.1, 0.5]), np.array([3.0, 1.0])).log_complexity
    # The optimizer keeps going, and both models are in its family.
    opt = ISNAS([2, 2], hypervolume=2, samples_per_distribution=1, seed=0)
    with pytest.warns(UserWarning):
        opt.tell([Solution(0, np.array([0, 1]), 0.5, 0.0), Solution(1, np.array([1, 1]), 0.1, 3.0)])
    with pytest.warns(UserWarning):
        assert sorted(opt.select()) == [0, 1]
