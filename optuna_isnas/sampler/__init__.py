"""The Optuna adapter: ``ISNASSampler``."""

from optuna_isnas.sampler._sampler import Candidate, ISNASSampler
from optuna_isnas.sampler._settings import (
    DEFAULT_EPSILONS,
    DEFAULT_FAMILY,
    DEFAULT_N_DISTRIBUTIONS,
    FAMILIES,
)

__all__ = [
    "DEFAULT_EPSILONS",
    "DEFAULT_FAMILY",
    "DEFAULT_N_DISTRIBUTIONS",
    "FAMILIES",
    "Candidate",
    "ISNASSampler",
]
