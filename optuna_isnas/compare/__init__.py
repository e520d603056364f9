"""Fair comparison of IS-NAS with K separate single-eps searches and with Optuna's samplers.

Every method drives the same one-shot supernet loop; compute is counted in supernet forward and
backward passes; each method's returned set is scored by the hypervolume of (validation error,
parameters) against one fixed reference point. See docs/compare.md.

The names below are imported lazily (PEP 562), so that the settings (``CompareConfig``) load
without PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna_isnas.compare.api import CompareResult, compare, reference_point
    from optuna_isnas.compare.config import METHODS, CompareConfig, CompareError
    from optuna_isnas.compare.hypervolume import best_subset, hypervolume, pareto_front
    from optuna_isnas.compare.records import Job, SearchRecord, Variant
    from optuna_isnas.compare.scoring import Reference

_WHERE = {
    "METHODS": "optuna_isnas.compare.config",
    "CompareConfig": "optuna_isnas.compare.config",
    "CompareError": "optuna_isnas.compare.config",
    "CompareResult": "optuna_isnas.compare.api",
    "Job": "optuna_isnas.compare.records",
    "Reference": "optuna_isnas.compare.scoring",
    "SearchRecord": "optuna_isnas.compare.records",
    "Variant": "optuna_isnas.compare.records",
    "best_subset": "optuna_isnas.compare.hypervolume",
    "compare": "optuna_isnas.compare.api",
    "hypervolume": "optuna_isnas.compare.hypervolume",
    "pareto_front": "optuna_isnas.compare.hypervolume",
    "reference_point": "optuna_isnas.compare.api",
}
__all__ = [
    "METHODS",
    "CompareConfig",
    "CompareError",
    "CompareResult",
    "Job",
    "Reference",
    "SearchRecord",
    "Variant",
    "best_subset",
    "compare",
    "hypervolume",
    "pareto_front",
    "reference_point",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'optuna_isnas.compare' has no attribute {name!r}")
