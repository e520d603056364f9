"""Complexity budgets: each distribution finds the best architecture within its budget."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from optuna_isnas import ISNASSampler
from optuna_isnas.core import budget as budget_mode

optuna.logging.set_verbosity(optuna.logging.WARNING)

LOSS = np.array([1.0, 0.6, 0.3, 0.0])
COST = np.array([0.0, 1.0, 3.0, 9.0])
D = 10
BUDGETS = [10.0, 30.0, 90.0]  # best within each: all 1s, all 2s, all 3s


def objective(trial: optuna.Trial) -> tuple[float, float]:
    x = np.array([trial.suggest_categorical(f"v{i}", [0, 1, 2, 3]) for i in range(D)])
    return float(LOSS[x].sum()), float(COST[x].sum())


def best_loss_within(budget: float) -> float:
    """Exact constrained optimum by dynamic programming over integer costs (a knapsack)."""
    frontier = {0: 0.0}  # total cost -> lowest total loss
    for _ in range(D):
        nxt: dict[int, float] = {}
        for cost, loss in frontier.items():
            for j in range(len(LOSS)):
                c = cost + int(COST[j])
                if c <= budget and loss + LOSS[j] < nxt.get(c, np.inf):
                    nxt[c] = loss + LOSS[j]
        frontier = nxt
    return min(frontier.values())


def test_known_optima_are_the_uniform_architectures() -> None:
    for budget, level in zip(BUDGETS, (1, 2, 3)):
        assert best_loss_within(budget) == pytest.approx(D * LOSS[level])


def test_returned_architectures_respect_budgets_and_are_near_the_best() -> None:
    """Hard: every returned architecture fits its budget, every seed.

    Soft: ASNG's most likely architecture keeps fluctuating by a choice or two at the
    range bound, and a large trade-off nudges tight modes one step inside the budget
    (optuna_isnas.core.budget), so we demand the exact optimum in at least a third of
    the cases and a loss within 1.5 (a few choices one step down) of it in all
    (random architectures within the budget: about 4-6).
    """
    exact = cases = 0
    for seed in range(3):
        sampler = ISNASSampler(complexity_budgets=BUDGETS, seed=seed)
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
        study.optimize(objective, n_trials=3000)
        for arch, budget in zip(sampler.architectures(study), BUDGETS):
            x = np.array([arch[f"v{i}"] for i in range(D)], dtype=int)
            assert COST[x].sum() <= budget, (seed, arch, budget)
            gap = LOSS[x].sum() - best_loss_within(budget)
            assert gap <= 1.5 + 1e-9, (seed, arch, budget, gap)
            exact += gap < 1e-9
            cases += 1
    assert exact >= cases / 3, exact


def exact_cost(arch: dict[str, int]) -> float:
    return float(COST[list(arch.values())].sum())


@pytest.mark.parametrize("seed", [0, 1])
def test_with_complexity_fn_modes_are_repaired_into_the_budget(seed: int) -> None:
    sampler = ISNASSampler(complexity_budgets=BUDGETS, complexity_fn=exact_cost, seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=2400)
    for arch, budget in zip(sampler.architectures(study), BUDGETS):
        x = np.array([arch[f"v{i}"] for i in range(D)], dtype=int)
        assert COST[x].sum() <= budget
        # Tight budgets (every upgrade of the optimum crosses it): the mode may sit a few
        # choices inside; see optuna_isnas.core.budget.
        assert LOSS[x].sum() - best_loss_within(budget) <= 2.0 + 1e-9


def test_repair_moves_an_over_budget_mode_inside_at_least_probability_cost() -> None:
    theta = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    cost = np.array([0.0, 1.0, 5.0])

    def complexity(x: np.ndarray) -> float:
        return float(cost[x].sum())

    mode = np.array([2, 0, 2])  # cost 10
    repaired = budget_mode.repair_to_budget(theta, mode, 6.0, complexity)
    assert complexity(repaired) <= 6.0
    # One 5 -> 1 change suffices; the cheaper one in probability is variable 0 (0.7 -> 0.2
    # loses less log-probability than 0.8 -> 0.1).
    assert repaired.tolist() == [1, 0, 2]
    assert budget_mode.repair_to_budget(theta, mode, 10.0, complexity).tolist() == [2, 0, 2]


def test_complexity_fn_needs_budgets() -> None:
    with pytest.raises(ValueError, match="complexity_fn is used with budgets"):
        ISNASSampler(epsilons=[0.0, 1.0], complexity_fn=lambda arch: 1.0)
    # Budgets given, or the default size classes (budgets placed automatically): accepted.
    ISNASSampler(complexity_budgets=[1.0, 2.0], complexity_fn=lambda arch: 1.0)
    ISNASSampler(complexity_fn=lambda arch: 1.0)


def test_tradeoffs_adapt_and_are_exposed() -> None:
    sampler = ISNASSampler(complexity_budgets=BUDGETS, seed=0)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    study.optimize(objective, n_trials=1)
    study.optimize(objective, n_trials=sampler.generation_size)
    assert sampler.tradeoffs(study) != [budget_mode.INITIAL_EPSILON] * 3
    study.optimize(objective, n_trials=900)
    eps = sampler.tradeoffs(study)
    assert all(budget_mode.EPS_MIN <= e <= budget_mode.EPS_MAX for e in eps)
    # The unconstraining budget (everything fits) relaxes to the floor; tight ones don't.
    assert eps[2] < eps[0] and eps[2] < eps[1]


def test_dual_update_moves_towards_the_target_violation() -> None:
    e = 1.0
    assert budget_mode.dual_update(e, 1.0) > e  # mostly over budget: penalise harder
    assert budget_mode.dual_update(e, 0.0) < e  # within budget: relax
    assert budget_mode.dual_update(e, budget_mode.TARGET) == pytest.approx(e)
    assert budget_mode.dual_update(1e9, 1.0) == budget_mode.EPS_MAX
    assert budget_mode.dual_update(1e-9, 0.0) == budget_mode.EPS_MIN


def test_budget_objective_ranks_feasible_by_loss_alone() -> None:
    losses = np.array([0.3, 0.1, 0.2])
    costs = np.array([1.0, 5.0, 2.0])
    f = budget_mode.budget_objective(losses, costs, 10.0, 2.0, 1.0, 1.0)
    assert f[2] < f[0]  # within budget: lower loss wins despite the higher cost
    assert f[1] > f[0]  # over budget by 3 with eps 10: heavily penalised


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"complexity_budgets": [], "seed": 0}, "budgets"),
        ({"complexity_budgets": [1.0, -2.0]}, "budgets"),
        ({"complexity_budgets": [1.0, float("inf")]}, "budgets"),
        ({"complexity_budgets": [1.0], "epsilons": [0.0]}, "not both"),
    ],
)
def test_bad_budgets_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ISNASSampler(**kwargs)


def test_budgets_need_a_complexity_objective() -> None:
    study = optuna.create_study(sampler=ISNASSampler(complexity_budgets=[1.0], seed=0))
    with pytest.raises(ValueError, match="two-objective"):
        study.optimize(lambda t: objective(t)[0], n_trials=3)
