"""The Optuna adapter: ``ISNASSampler``."""

from optuna_isnas.sampler._sampler import DEFAULT_EPSILONS, ISNASSampler

__all__ = ["DEFAULT_EPSILONS", "ISNASSampler"]
