"""One-shot neural architecture search driven by any Optuna sampler.

>>> from optuna_isnas.search import SearchConfig, run_search
>>> result = run_search(SearchConfig(dataset="digits", space="chain", epochs=2, out="runs/x"))  # doctest: +SKIP
>>> [(a.params, a.accuracy) for a in result.architectures]  # doctest: +SKIP
"""

from optuna_isnas.search.config import SearchConfig, TrainingRecipe
from optuna_isnas.search.device import Precision, autocast_dtype, resolve_device
from optuna_isnas.search.errors import (
    CheckpointMismatchError,
    NonFiniteLossWarning,
    SearchError,
    SearchInterrupted,
)
from optuna_isnas.search.loop import SearchResult, StepInfo, run_search
from optuna_isnas.search.results import ArchitectureResult, format_table

__all__ = [
    "ArchitectureResult",
    "CheckpointMismatchError",
    "NonFiniteLossWarning",
    "Precision",
    "SearchConfig",
    "SearchError",
    "SearchInterrupted",
    "SearchResult",
    "StepInfo",
    "TrainingRecipe",
    "autocast_dtype",
    "format_table",
    "resolve_device",
    "run_search",
]
