"""optuna-isnas: several architectures of different complexity from one one-shot search.

``ISNASSampler`` is an Optuna sampler that keeps K categorical distributions over
architectures, one per complexity trade-off, and updates all of them from the samples of
all of them by importance sampling with ASNG's adaptive natural-gradient step
(Noda, Saito, Shirakawa, ICANN 2022; Akimoto et al., ICML 2019).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna_isnas.sampler import ISNASSampler

__version__ = "0.1.0"
__all__ = ["ISNASSampler", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): `import optuna_isnas.core` must not import optuna or torch.
    if name == "ISNASSampler":
        from optuna_isnas.sampler import ISNASSampler

        return ISNASSampler
    raise AttributeError(f"module 'optuna_isnas' has no attribute {name!r}")
