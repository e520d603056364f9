"""Budget mode's violation target (core/budget.py): the search sits on the budget, where
constrained optima are, and what it returns still never exceeds it."""

from __future__ import annotations

import numpy as np
import pytest

from optuna_isnas.core import ISNAS, Solution
from optuna_isnas.core import budget as budget_mode

# Eight variables, choices 0/1/2 costing 0/1/2 with concave gains: within a budget of 8 the
# unique optimum is "all 1s" (gain 4.8, cost exactly 8); every upgrade of it (a 1 -> 2) crosses
# the budget and every downgrade loses. ASNG's exploration around that optimum draws an
# over-budget neighbour about 40 % of the time.
GAIN = np.array([0.0, 0.6, 1.0])
COST = np.array([0.0, 1.0, 2.0])
D = 8
BUDGET = float(D)


def returns_the_optimum(seed: int, evaluations: int = 600) -> bool:
    opt = ISNAS([3] * D, budgets=[BUDGET], loss_scale=1.0, complexity_scale=1.0, seed=seed)
    n = 0
    while n < evaluations:
        sols = []
        for _ in range(opt.generation_size):
            k, x = opt.ask()
            sols.append(Solution(k, x, float(-GAIN[x].sum()), float(COST[x].sum())))
            n += 1
        opt.tell(sols)
    (index,) = opt.select()
    assert index is not None
    entry = opt.archive.entries[index]
    assert entry.complexity <= BUDGET  # never over the budget, whatever the target
    return entry.x == (1,) * D


def test_a_search_centred_on_the_budget_finds_an_optimum_that_sits_on_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the default target (half of the samples may cross the budget) the optimum is
    found and returned in nearly every seed; with a target of 0.05 the trade-off grows until
    the distribution moves inside the budget, away from the optimum (measured 9/20)."""
    assert budget_mode.TARGET == 0.5
    found = sum(returns_the_optimum(seed) for seed in range(20))
    assert found >= 16, found
    monkeypatch.setattr(budget_mode, "TARGET", 0.05)
    found_tight = sum(returns_the_optimum(seed) for seed in range(20))
    assert found_tight <= 13, found_tight
