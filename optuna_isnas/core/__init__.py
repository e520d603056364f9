"""Numpy core: categorical distributions, the ASNG step and the multi-distribution update.

This layer imports neither optuna nor torch.
"""

from optuna_isnas.core.asng import (
    StepSizeState,
    asng_step,
    asng_steps,
    fisher_coordinates,
    natural_gradient,
)
from optuna_isnas.core.importance import mixture_log_weights, normalise_log_weights
from optuna_isnas.core.isnas import ISNAS, Solution
from optuna_isnas.core.scales import RunningScales
from optuna_isnas.core.utility import ranking_utility, weighted_ranking_utility

__all__ = [
    "ISNAS",
    "RunningScales",
    "Solution",
    "StepSizeState",
    "asng_step",
    "asng_steps",
    "fisher_coordinates",
    "mixture_log_weights",
    "natural_gradient",
    "normalise_log_weights",
    "ranking_utility",
    "weighted_ranking_utility",
]
