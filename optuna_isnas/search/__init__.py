"""One-shot neural architecture search driven by any Optuna sampler.

>>> from optuna_isnas.search import SearchConfig, run_search
>>> result = run_search(SearchConfig(dataset="digits", space="chain", epochs=2, out="runs/x"))  # doctest: +SKIP
>>> [(a.params, a.accuracy) for a in result.architectures]  # doctest: +SKIP

The names below are imported lazily (PEP 562): ``SearchConfig`` and the errors need neither
PyTorch nor the data, so the command line can build its flags before anything heavy loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna_isnas.search.config import SearchConfig
    from optuna_isnas.search.errors import (
        CheckpointMismatchError,
        NonFiniteLossWarning,
        SearchError,
        SearchInterrupted,
    )
    from optuna_isnas.search.loop import SearchResult, StepCallback, StepInfo, run_search
    from optuna_isnas.search.results import ArchitectureResult, format_architectures
    from optuna_isnas.search.samplers import FamilySampler
    from optuna_isnas.search.session import SearchSession
    from optuna_isnas.training.recipe import TrainingRecipe

_WHERE = {
    "ArchitectureResult": "optuna_isnas.search.results",
    "CheckpointMismatchError": "optuna_isnas.search.errors",
    "FamilySampler": "optuna_isnas.search.samplers",
    "NonFiniteLossWarning": "optuna_isnas.search.errors",
    "SearchConfig": "optuna_isnas.search.config",
    "SearchError": "optuna_isnas.search.errors",
    "SearchInterrupted": "optuna_isnas.search.errors",
    "SearchResult": "optuna_isnas.search.loop",
    "SearchSession": "optuna_isnas.search.session",
    "StepCallback": "optuna_isnas.search.loop",
    "StepInfo": "optuna_isnas.search.loop",
    "TrainingRecipe": "optuna_isnas.training.recipe",
    "format_architectures": "optuna_isnas.search.results",
    "run_search": "optuna_isnas.search.loop",
}
__all__ = [
    "ArchitectureResult",
    "CheckpointMismatchError",
    "FamilySampler",
    "NonFiniteLossWarning",
    "SearchConfig",
    "SearchError",
    "SearchInterrupted",
    "SearchResult",
    "SearchSession",
    "StepCallback",
    "StepInfo",
    "TrainingRecipe",
    "format_architectures",
    "run_search",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'optuna_isnas.search' has no attribute {name!r}")
