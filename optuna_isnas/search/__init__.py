"""One-shot neural architecture search driven by any Optuna sampler.

>>> from optuna_isnas.search import SearchConfig, run_search
>>> result = run_search(SearchConfig(dataset="digits", space="chain", epochs=2, out="runs/x"))  # doctest: +SKIP
>>> [(a.params, a.accuracy) for a in result.architectures]  # doctest: +SKIP
"""

try:
    from optuna_isnas.search.config import Objective, SearchConfig, TrainArchs, WeightGradient
    from optuna_isnas.search.errors import (
        CheckpointMismatchError,
        NonFiniteLossWarning,
        SearchError,
        SearchInterrupted,
    )
    from optuna_isnas.search.loop import StepCallback, StepInfo, run_search
    from optuna_isnas.search.results import ArchitectureResult, SearchResult, format_architectures
    from optuna_isnas.search.samplers import FamilySampler
    from optuna_isnas.search.session import SearchSession
    from optuna_isnas.training.recipe import TrainingRecipe
except ModuleNotFoundError as exc:  # the base install (the sampler alone) has no PyTorch
    if (exc.name or "").split(".")[0] not in {"torch", "torchvision", "plotly", "sklearn", "tqdm"}:
        raise
    raise ImportError(
        f"optuna_isnas.search needs the 'nas' extra ({exc.name} is not installed): "
        "pip install 'optuna-isnas[nas]'",
        name=exc.name,
    ) from exc

__all__ = [
    "ArchitectureResult",
    "CheckpointMismatchError",
    "FamilySampler",
    "NonFiniteLossWarning",
    "Objective",
    "SearchConfig",
    "SearchError",
    "SearchInterrupted",
    "SearchResult",
    "SearchSession",
    "StepCallback",
    "StepInfo",
    "TrainArchs",
    "TrainingRecipe",
    "WeightGradient",
    "format_architectures",
    "run_search",
]
