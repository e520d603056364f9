"""Complexity budgets: each distribution keeps its models under a budget ``b_k``.

Beyond the paper (ALGORITHM.md section 4). Distribution k ranks its samples by the
hinge-penalised objective

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
the budget, ``eps_k`` relaxes slowly, which lets the search probe the boundary again.

Known trade-off (measured, docs/benchmarks.md): ASNG keeps exploring (about one choice
per sample differs from the mode), so at an optimum that sits right at the budget about
half of the samples cross it and ``eps_k`` keeps growing; a large ``eps_k`` then ranks the
crossing neighbours last and nudges the mode one step inside the budget. We prefer that
to returning over-budget models: alternatives we measured (a "feasible first" ranking,
a higher TARGET, a violation measured under a sharpened distribution, an estimate of the
mode's own complexity) either broke budgets more often or found worse cells on
NAS-Bench-201.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Initial trade-off of every budgeted distribution.
INITIAL_EPSILON = 1.0
#: Dual step size (per generation, in log space).
RATE = 0.5
#: Tolerated probability of drawing an over-budget model (exploration crosses budgets).
TARGET = 0.05
EPS_MIN = 1e-3
EPS_MAX = 1e6


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
