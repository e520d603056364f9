"""Complexity budgets: each distribution keeps its models under a budget ``b_k``.

Beyond the paper (docs/algorithm.md, section 4 "Budgets instead of trade-offs"). Distribution
k ranks its samples by the hinge-penalised objective

    f_k(x) = L(x) / s_L + eps_k * max(0, c(x) - b_k) / s_c,

so architectures within the budget are ranked by loss alone and the search moves to the
lowest-loss architecture that fits. The hinge is an *exact* penalty: in a finite search
space there is a finite ``eps_bar`` such that for every ``eps_k > eps_bar`` the minimiser
of ``f_k`` is the constrained minimiser (any over-budget ``x`` is then worse than the best
feasible one), and raising ``eps_k`` further changes nothing among feasible samples.

``eps_k`` is adapted by a multiplicative dual update after every generation from the
importance-weighted probability ``v_k`` that distribution k draws an over-budget model:

    eps_k <- clip(eps_k * exp(RATE * (v_k - TARGET)), EPS_MIN, EPS_MAX).

While the distribution sits over its budget, ``v_k`` is near 1 and ``eps_k`` grows
geometrically until it passes ``eps_bar``; once less than ``TARGET`` of its mass is over
the budget, ``eps_k`` relaxes, which lets the search probe the boundary again.

``TARGET = 0.5``: the median sample fits. What the sampler returns is the best *evaluated*
architecture within the budget (``optuna_isnas.core.archive``), never an over-budget one,
so the distribution itself need not stay inside: it should sit where constrained optima
are, on the budget (a larger model is usually a better one). ASNG keeps exploring (about
one choice per sample differs from the mode), so a distribution centred on an optimum at
the budget draws over-budget neighbours about a third of the time on NAS-Bench-201; a
target of 0.05 made ``eps_k`` grow until the mode moved one step inside, away from the
optimum. Measured (docs/algorithm.md, "Budgets"): 0.5 finds better models within each
budget on NAS-Bench-201, markedly so when the optimiser sees noise-free values, and gives
the size-class family a higher hypervolume; on HPOBench's MLP tables, whose size depends on
two of five variables, the two targets are within noise of each other. The paper's answer
(``source="mode"``) is then over its budget more often: use ``complexity_fn``, which
repairs the mode into its budget, when the mode itself is wanted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Initial trade-off of every budgeted distribution.
INITIAL_EPSILON = 1.0
#: Dual step size (per generation, in log space).
RATE = 0.5
#: Tolerated probability of drawing an over-budget model: the median sample fits (see above).
TARGET = 0.5
EPS_MIN = 1e-3
EPS_MAX = 1e6


def size_class_budgets(k: int, smallest: float, largest: float) -> FloatArray:
    """Budgets of K size classes spanning ``[smallest, largest]``, largest first.

    The range is cut into K classes of equal width on a log scale (each class a constant
    factor larger than the one below, as model families usually are: phone, edge, server),
    and each budget is the geometric middle of its class:
    ``b_k = smallest * (largest / smallest) ** ((K - k - 1/2) / K)``, k = 0 the largest (the
    order of the trade-off mode's family: large to small models). The smallest budget thus
    sits near the smallest models and the largest one near the most accurate, while each
    class keeps room for the best model of its size. Where ``smallest <= 0`` the classes are
    equally wide on a linear scale instead.
    """
    position = (k - np.arange(k, dtype=np.float64) - 0.5) / k
    if smallest > 0 and largest > smallest:
        return np.asarray(smallest * (largest / smallest) ** position, dtype=np.float64)
    span = max(largest - smallest, 0.0)
    return np.asarray(smallest + span * position, dtype=np.float64)


def budget_objective(
    losses: FloatArray,
    complexities: FloatArray,
    epsilon: float,
    budget: float,
    loss_scale: float,
    complexity_scale: float,
) -> FloatArray:
    """Hinge-penalised objective of one budgeted distribution (lower is better)."""
    excess = np.maximum(0.0, complexities - budget)
    return losses / loss_scale + epsilon * excess / complexity_scale


def violation_probability(weights: FloatArray, complexities: FloatArray, budget: float) -> float:
    """Importance-weighted estimate of ``P_k(c(x) > b_k)`` (weights are normalised)."""
    return float(np.sum(weights * (complexities > budget)))


def dual_update(epsilon: float, violation: float) -> float:
    """One multiplicative step of ``eps_k`` towards a violation probability of ``TARGET``."""
    return float(np.clip(epsilon * np.exp(RATE * (violation - TARGET)), EPS_MIN, EPS_MAX))


#: Steps of the exact-mode rule (log space, per generation): up while the most likely
#: architecture is over its budget, down while it fits. The ratio keeps the mode within
#: the budget about DOWN_STEP / (UP_STEP + DOWN_STEP) ~ 95 % of the time at equilibrium.
UP_STEP = 0.3
DOWN_STEP = 0.015


def mode_dual_update(epsilon: float, mode_over_budget: bool) -> float:
    """Trade-off step when the mode's exact complexity is known (``complexity_fn``)."""
    step = UP_STEP if mode_over_budget else -DOWN_STEP
    return float(np.clip(epsilon * np.exp(step), EPS_MIN, EPS_MAX))


def repair_to_budget(
    theta: FloatArray,
    mode: NDArray[np.int64],
    budget: float,
    complexity_of: Callable[[NDArray[np.int64]], float],
) -> NDArray[np.int64]:
    """Most likely architecture within the budget, greedily from the mode.

    While over budget, take the single-variable change that lowers the complexity at the
    smallest cost in log-probability per unit of complexity saved. Returns the mode
    itself when it fits, and the cheapest reachable architecture when nothing fits.
    """
    x = mode.copy()
    cost = complexity_of(x)
    log_theta = np.log(np.where(theta > 0, theta, 1e-300))
    while cost > budget:
        best: tuple[float, int, int, float] | None = None
        for i in range(x.size):
            for j in range(theta.shape[1]):
                if j == x[i] or theta[i, j] <= 0:
                    continue
                trial = x.copy()
                trial[i] = j
                c = complexity_of(trial)
                if c >= cost:
                    continue
                price = (log_theta[i, x[i]] - log_theta[i, j]) / (cost - c)
                if best is None or price < best[0]:
                    best = (price, i, j, c)
        if best is None:
            break
        _, i, j, cost = best
        x[i] = j
    return x
