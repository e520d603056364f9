"""optuna-isnas: several architectures of different complexity from one one-shot search.

``ISNASSampler`` is an Optuna sampler that keeps K categorical distributions over
architectures, one per complexity trade-off, and updates all of them from the samples of
all of them by importance sampling with ASNG's adaptive natural-gradient step
(Noda, Saito, Shirakawa, ICANN 2022; Akimoto et al., ICML 2019).
"""

from optuna_isnas.sampler import DEFAULT_EPSILONS, ISNASSampler

__version__ = "0.1.0"
__all__ = ["DEFAULT_EPSILONS", "ISNASSampler", "__version__"]
