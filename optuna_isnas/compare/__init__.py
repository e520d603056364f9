"""Fair comparison of IS-NAS with K separate single-eps searches and with Optuna's samplers.

Every method drives the same one-shot supernet loop; compute is counted in supernet forward and
backward passes; each method's returned set is scored by the hypervolume of (validation error,
parameters) against one fixed reference point. See docs/compare.md.
"""

try:
    from optuna_isnas.compare.api import compare, reference_point
    from optuna_isnas.compare.config import METHODS, CompareConfig, CompareError
    from optuna_isnas.compare.outputs import CompareResult
    from optuna_isnas.compare.records import Job, SearchRecord, Variant
    from optuna_isnas.compare.scoring import Reference
    from optuna_isnas.core.hypervolume import best_subset, hypervolume, pareto_front
except ImportError as exc:  # the base install (the sampler alone) has no PyTorch
    if (exc.name or "").split(".")[0] not in {"torch", "torchvision", "plotly", "sklearn", "tqdm"}:
        raise
    raise ImportError(
        f"optuna_isnas.compare needs the 'nas' extra ({exc.name} is not installed): "
        "pip install 'optuna-isnas[nas]'",
        name=exc.name,
    ) from exc

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
