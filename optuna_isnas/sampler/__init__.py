"""The Optuna adapter: ``ISNASSampler``."""

from optuna_isnas.sampler._sampler import Candidate, ISNASSampler
from optuna_isnas.sampler._settings import DEFAULT_EPSILONS, DEFAULT_N_DISTRIBUTIONS

__all__ = ["DEFAULT_EPSILONS", "DEFAULT_N_DISTRIBUTIONS", "Candidate", "ISNASSampler"]
